"""The comparison report's statistics and measures: bootstrap intervals, Holm's correction, pair
choice, catalogue coverage and exposure, and per-language translation coverage.
(tests/test_compare.py runs real comparisons and renders their reports.)"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pivotrec.pipeline.errors import PivotrecError
from pivotrec.pipeline.evaluation.compare import AGAINST_FIRST, TRANSLATION_VS_DIRECT, ArmResult, default_pairs, language_coverage
from pivotrec.pipeline.evaluation.metrics import catalogue_coverage, exposure_by_language, language_mix, top_lists
from pivotrec.pipeline.evaluation.significance import bootstrap, holm, parse_pairs
from pivotrec.pipeline.records import Document, Translation


def test_bootstrap_interval_agrees_with_scipy():
    from scipy.stats import bootstrap as scipy_bootstrap

    values = np.random.default_rng(7).beta(2, 5, size=200)
    ours = bootstrap(values)
    reference = scipy_bootstrap((values,), np.mean, n_resamples=20_000, method="percentile", confidence_level=0.95, rng=1).confidence_interval
    assert ours.mean == pytest.approx(values.mean()) and ours.n == 200
    assert ours.low == pytest.approx(reference.low, abs=0.005) and ours.high == pytest.approx(reference.high, abs=0.005)
    assert bootstrap(values) == ours, "a fixed seed: the same data gives the same interval"


def test_bootstrap_of_tiny_samples():
    assert bootstrap([0.5]).low == bootstrap([0.5]).high == 0.5
    assert bootstrap([0.2, 0.2, 0.2]).low == bootstrap([0.2, 0.2, 0.2]).high == pytest.approx(0.2)
    empty = bootstrap([])
    assert empty.n == 0 and math.isnan(empty.mean)
    assert empty.as_dict() == {"mean": None, "low": None, "high": None, "n": 0}, "JSON has no NaN"


def test_holm_by_hand():
    # Sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> kept monotone at 0.06.
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    adjusted = holm([0.2, math.nan, 0.01])
    assert math.isnan(adjusted[1]) and adjusted[0] == pytest.approx(0.2) and adjusted[2] == pytest.approx(0.02), "NaN is no test"


@given(st.lists(st.floats(0, 1), min_size=1, max_size=12))
def test_holm_properties(p_values):
    adjusted = holm(p_values)
    assert all(p <= a <= 1 for p, a in zip(p_values, adjusted))
    assert min(adjusted) == pytest.approx(min(1.0, len(p_values) * min(p_values)))
    ordered = sorted(zip(p_values, adjusted))
    assert all(a1 <= a2 for (_, a1), (_, a2) in zip(ordered, ordered[1:])), "order of the raw p-values is kept"


def test_pairs_by_number_or_name():
    names = ["01-bm25", "02-translate", "03-direct"]
    assert parse_pairs("1:3, 2:3", names) == [(0, 2), (1, 2)]
    assert parse_pairs("02-translate:01-bm25", names) == [(1, 0)]
    with pytest.raises(PivotrecError, match=r"--pairs: arm 4 does not exist; arms: 1=01-bm25, 2=02-translate, 3=03-direct"):
        parse_pairs("1:4", names)
    with pytest.raises(PivotrecError, match=r"--pairs: 'bm25' is not an arm"):
        parse_pairs("bm25:1", names)
    with pytest.raises(PivotrecError, match=r"--pairs: '2:2' compares an arm with itself"):
        parse_pairs("2:2", names)
    with pytest.raises(PivotrecError, match=r"--pairs: '1-3' is not A:B"):
        parse_pairs("1-3", names)
    with pytest.raises(PivotrecError, match=r"'same' names several arms \(use their numbers\)"):
        parse_pairs("same:1", ["same", "same"])


def arm(name: str, score: float, translated: int) -> ArmResult:
    return ArmResult(name, f"{name}.yaml", {}, {"ndcg@10": {"q1": score, "q2": score}}, {"texts_translated": translated}, [])


def test_default_pairs_add_best_translating_against_best_direct():
    arms = [arm("bm25", 0.2, 0), arm("translate", 0.5, 10), arm("translate-small", 0.4, 10), arm("direct", 0.3, 0), arm("direct-big", 0.6, 0)]
    pairs = default_pairs(arms, "ndcg@10")
    assert pairs[:4] == [(n, 0, AGAINST_FIRST) for n in range(1, 5)]
    assert pairs[4] == (1, 4, TRANSLATION_VS_DIRECT)
    # Where that pair is already tested against the first arm, it is tested once, with both reasons.
    merged = default_pairs([arm("direct", 0.3, 0), arm("translate", 0.5, 10)], "ndcg@10")
    assert merged == [(1, 0, f"{AGAINST_FIRST}; {TRANSLATION_VS_DIRECT}")]
    assert default_pairs([arm("a", 0.1, 0), arm("b", 0.2, 0)], "ndcg@10") == [(1, 0, AGAINST_FIRST)], "no translating arm"


def test_top_lists_coverage_and_exposure():
    item_langs = {"en1": "en", "en2": "en", "es1": "es", "es2": "es", "de1": "de"}
    run = {"q1": ["es1", "en1", "en2"], "q2": ["es2", "es1", "en1"], "q3": []}
    qrels = {"q1": {"es1": -1, "en1": 1}}
    lists = top_lists(run, qrels, 2)
    assert lists == {"q1": ["en1", "en2"], "q2": ["es2", "es1"]}, "excluded items dropped before the cut; empty lists left out"
    assert catalogue_coverage(lists, len(item_langs)) == (4, 0.8)
    exposure = exposure_by_language(lists, item_langs)
    assert exposure == {"en": [1.0, 0.0], "es": [0.0, 1.0]}
    assert language_mix(item_langs) == {"de": 0.2, "en": 0.4, "es": 0.4}


def doc(id: str, lang: str, translator: str, method: str | None = None, cached: bool = False, kept: bool = False, failed: bool = False) -> Document:
    translation = Translation("x" * 10, "y", lang, "en", translator, method=method, cached=cached, kept_original=kept, failed=failed)
    return Document(id, "x" * 10, lang, "y", None, translation)


def test_language_coverage_names_translators_and_splits_cold_from_cached_characters():
    docs = [
        doc("1", "en", "none"), doc("2", "es", "apertium", "mt"), doc("3", "es", "apertium", "mt", cached=True),
        doc("4", "de", "lexicon", "gloss"), doc("5", "de", "router", kept=True), doc("6", "fr", "marian", "mt", kept=True, failed=True),
        doc("7", "ja", "none"), doc("8", "pt", "identity", "copy"),
    ]
    coverage = language_coverage(docs)
    assert coverage["en"]["in_pivot"] == 1 and coverage["ja"]["no_translator"] == 1 and coverage["ja"]["in_pivot"] == 0
    assert coverage["es"]["translated_by"] == {"apertium": 2}
    assert (coverage["es"]["translated_now"], coverage["es"]["from_cache"], coverage["es"]["chars_translated_now"], coverage["es"]["chars_from_cache"]) == (1, 1, 10, 10)
    assert coverage["de"]["translated_by"] == {"lexicon": 1} and coverage["de"]["glossed"] == 1 and coverage["de"]["kept_original"] == 1
    assert coverage["fr"]["failed"] == 1 and coverage["fr"]["translated_by"] == {}
    assert coverage["pt"]["copied"] == 1 and coverage["pt"]["chars_translated_now"] == 0
    assert all(c["texts"] == 1 + (lang in ("es", "de")) for lang, c in coverage.items())


def test_fresh_caches_move_both_caches_and_leave_a_disabled_one_off(write, tmp_path):
    from pivotrec.pipeline.config import load_config
    from pivotrec.pipeline.evaluation.compare import with_caches_in

    moved = with_caches_in(load_config(write("on.yaml", "translator: {plugin: identity}\nrankers: [{plugin: bm25}]\n")), tmp_path / "arm")
    assert moved.translator is not None and moved.translator.cache == tmp_path / "arm" / "translations.sqlite"
    assert moved.embedding_cache == tmp_path / "arm" / "embeddings.sqlite"
    off = load_config(write("off.yaml", "translator: {plugin: identity, cache: null}\nembedding_cache: null\nrankers: [{plugin: bm25}]\n"))
    kept = with_caches_in(off, tmp_path / "arm")
    assert kept.translator is not None and kept.translator.cache is None and kept.embedding_cache is None
