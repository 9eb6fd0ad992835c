from __future__ import annotations

import sqlite3

import pytest

from pivotrec.pipeline.records import Translation
from pivotrec.pipeline.stages import TranslateStage
from pivotrec.pipeline.stages.translate import NamedTranslator
from pivotrec.pipeline.translation_cache import TranslationCache, namespace


class UpperCaseFailingOnCall:
    """Upper-cases its batches, and raises ``error`` on call number ``failing_call``."""

    def __init__(self, failing_call: int, error: str) -> None:
        self.failing_call = failing_call
        self.error = error
        self.calls = 0

    def supports(self, src, tgt):
        return True

    def translate(self, texts, src, tgt):
        self.calls += 1
        if self.calls == self.failing_call:
            raise RuntimeError(self.error)
        return [t.upper() for t in texts]


def test_cache_round_trip_normalises_keys_and_counts(tmp_path):
    space = namespace(translator="t", model="m", pair="es->en")
    with TranslationCache(tmp_path / "c.sqlite") as cache:
        assert cache.get_many(space, ["hola"]) == {}
        hostile = "'); DROP TABLE translations; --"
        cache.put_many(space, [("hola  mundo", "hello world"), (hostile, "harmless")])
        found = cache.get_many(space, ["hola mundo", hostile, "adiós"])
        assert found == {"hola mundo": "hello world", hostile: "harmless"}
        assert (cache.hits, cache.misses) == (2, 2)
        assert cache.get_many(namespace(translator="t", model="other", pair="es->en"), ["hola mundo"]) == {}
    db = sqlite3.connect(tmp_path / "c.sqlite")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("SELECT count(*) FROM translations").fetchone()[0] == 2


def test_a_batch_that_fails_leaves_earlier_batches_in_the_cache(tmp_path):
    texts = ["a1", "b22", "c333", "d4444"]
    with TranslationCache(tmp_path / "c.sqlite") as cache:
        stage = TranslateStage(NamedTranslator("up", UpperCaseFailingOnCall(2, "engine crashed")), "en", batch_size=2, cache=cache, on_error="stop")
        with pytest.raises(Exception, match="engine crashed"):
            stage.run(["1", "2", "3", "4"], texts, ["es"] * 4)
    with TranslationCache(tmp_path / "c.sqlite") as cache:
        resumed = UpperCaseFailingOnCall(2, "engine crashed")
        resumed.calls = 2  # it will not fail again
        stage = TranslateStage(NamedTranslator("up", resumed), "en", batch_size=2, cache=cache)
        result = stage.run(["1", "2", "3", "4"], texts, ["es"] * 4)
        assert [t.pivot for t in result.translations] == ["A1", "B22", "C333", "D4444"]
        assert (result.stats.cache_hits, resumed.calls) == (2, 3), "only the unfinished batch is translated again"


def test_suspicious_length_ratios_are_flagged_and_counted():
    class Babbler:
        def supports(self, src, tgt):
            return True

        def translate(self, texts, src, tgt):
            return [t if "ok" in t else t * 5 for t in texts]

    stage = TranslateStage(NamedTranslator("babbler", Babbler()), "en")
    result = stage.run(["1", "2", "3"], ["this is ok, fine text", "this will loop forever", "short"], ["es"] * 3)
    out = result.translations
    assert [t.suspicious for t in out] == [False, True, False]
    assert "length ratio 5.00" in (out[1].note or "")
    assert result.stats.suspicious == 1
    assert isinstance(out[0], Translation)


class UpperCaseFailingOn:
    """Upper-cases its batches, and raises ``error`` on any batch holding ``text``."""

    def __init__(self, text: str, error: str) -> None:
        self.text = text
        self.error = error

    def supports(self, src, tgt):
        return True

    def translate(self, texts, src, tgt):
        if self.text in texts:
            raise RuntimeError(self.error)
        return [t.upper() for t in texts]


def test_a_failing_text_is_recorded_and_the_rest_of_the_run_goes_on():
    stage = TranslateStage(NamedTranslator("up", UpperCaseFailingOn("c333", "CUDA out of memory")), "en", batch_size=2)
    result = stage.run(["1", "2", "3", "4", "5"], ["a1", "b22", "c333", "d4444", "e55555"], ["es"] * 5)
    out = result.translations
    assert [t.pivot for t in out] == ["A1", "B22", "c333", "D4444", "E55555"], "the failing batch is bisected down to the culprit"
    assert [t.failed for t in out] == [False, False, True, False, False]
    assert out[2].note == "translation failed: RuntimeError: CUDA out of memory" and out[2].kept_original
    assert result.stats.failed_batches == (("es", 1, "RuntimeError: CUDA out of memory"),)


def test_a_batch_that_fails_once_is_retried_in_halves():
    translator = UpperCaseFailingOnCall(2, "CUDA out of memory")
    stage = TranslateStage(NamedTranslator("up", translator), "en", batch_size=2)
    result = stage.run(["1", "2", "3", "4", "5"], ["a1", "b22", "c333", "d4444", "e55555"], ["es"] * 5)
    assert [t.pivot for t in result.translations] == ["A1", "B22", "C333", "D4444", "E55555"]
    assert result.stats.failed_batches == () and translator.calls == 5
