from __future__ import annotations

import random

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from pivotrec.pipeline.records import Document, Query, Translation
from pivotrec.pipeline.text import tokenize
from pivotrec.plugins.rankers.bm25 import RankBM25Ranker, document_text, query_text
from pivotrec.plugins.rankers.bm25_fast import SparseBM25Ranker
from pivotrec.plugins.rankers.cooccurrence import CooccurrenceRanker
from pivotrec.plugins.rankers.dense import DenseRanker

def docs_of(texts: list[str]) -> list[Document]:
    return [Document(f"d{i}", t, "en", t, None, Translation(t, t, "en", "en", "none")) for i, t in enumerate(texts)]


#: Function words first: a Zipf draw makes them frequent, as in real text, so IDF,
#: repeated terms and length normalisation are all exercised.
WORDS = (
    "the of and to in a is that for it as was with on by he at from his an were are which this be or had not but "
    "river war year city king army music film team water energy school church law market island museum bridge "
    "protein engine league garden painter railway senate temple harbour desert planet novel opera tax vaccine"
).split()


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    """600 sentences of 1-30 words with a Zipf-like word distribution, the same on every run."""
    rng = random.Random(0)
    weights = [1 / (rank + 1) for rank in range(len(WORDS))]
    return [" ".join(rng.choices(WORDS, weights=weights, k=rng.randint(1, 30))).capitalize() + "." for _ in range(600)]


@pytest.mark.parametrize("k1,b", [(1.5, 0.75), (0.9, 0.4), (2.0, 1.0)])
def test_sparse_bm25_scores_equal_rank_bm25(corpus, k1, b):
    fast = SparseBM25Ranker(SparseBM25Ranker.Params(k1=k1, b=b, stopwords=False))
    fast.index(docs_of(corpus))
    reference = BM25Okapi([tokenize(t) for t in corpus], k1=k1, b=b)
    queries = corpus[:40:3] + ["the the of", "zzz unknown words", "what year did the war end end"]
    ours = fast.scores(queries)
    for row, query in enumerate(queries):
        np.testing.assert_allclose(ours[row], reference.get_scores(tokenize(query)), rtol=1e-9, atol=1e-9)


def test_sparse_bm25_top_k_matches_reference_ranker(corpus):
    docs = docs_of(corpus)
    queries = [Query(f"q{i}", corpus[i]) for i in range(0, 200, 17)]
    fast, slow = SparseBM25Ranker(SparseBM25Ranker.Params(stopwords=False)), RankBM25Ranker(RankBM25Ranker.Params(stopwords=False))
    fast.index(docs)
    slow.index(docs, None)
    for a, b in zip(fast.search(queries, None, 10), slow.search(queries, None, 10)):
        assert [h.item_id for h in a] == [h.item_id for h in b]
        ids = [h.item_id for h in a]
        assert fast.explain(queries[0], ids) == slow.explain(queries[0], ids)
        np.testing.assert_allclose([h.score for h in a], [h.score for h in b], rtol=1e-9)


#: Spanish originals beside their (poor) English pivot: "Cervantes" survives only in the original.
BILINGUAL = [("El Quijote de Cervantes", "The Quixote of Cervants"), ("La casa roja", "The red house"), ("Red house prices", "Red house prices")]


@pytest.mark.parametrize("text,expected", [("pivot", []), ("original", ["d0"]), ("both", ["d0"])])
def test_bm25_reads_the_text_it_is_told(text, expected):
    docs = [Document(f"d{i}", original, "es", pivot, None, Translation(original, pivot, "es", "en", "mt")) for i, (original, pivot) in enumerate(BILINGUAL)]
    query = Query("q", "Cervants novel", original="novela de Cervantes")
    found = {}
    for ranker in (SparseBM25Ranker(SparseBM25Ranker.Params(text=text)), RankBM25Ranker(RankBM25Ranker.Params(text=text))):
        ranker.index(docs, None)
        found[type(ranker).__name__] = [h for h in ranker.search([Query("q", "Cervantes", original="Cervantes")], None, 3)[0]]
        assert [h.item_id for h in found[type(ranker).__name__]] == expected
        # The pivot query term is always matched when the pivot is read.
        assert bool(ranker.search([query], None, 3)[0]) is True
    fast, slow = found.values()
    np.testing.assert_allclose([h.score for h in fast], [h.score for h in slow], rtol=1e-9)


def test_bm25_both_counts_a_text_already_in_the_pivot_once():
    english = Document("en", "red house", "en", "red house", None, Translation("red house", "red house", "en", "en", "none"))
    spanish = Document("es", "casa roja", "es", "red house", None, Translation("casa roja", "red house", "es", "en", "mt"))
    # Doubled terms would lengthen English texts and raise their term counts.
    assert [tokenize(document_text(d, "both")) for d in (english, spanish)] == [["red", "house"], ["red", "house", "casa", "roja"]]
    assert query_text(Query("q", "red house", original="casa roja"), "both") == "red house casa roja"


def test_sparse_bm25_save_and_load_round_trip(tmp_path, corpus):
    docs = docs_of(corpus[:100])
    built = SparseBM25Ranker(SparseBM25Ranker.Params())
    built.index(docs)
    built.save(tmp_path / "bm25")
    loaded = SparseBM25Ranker(SparseBM25Ranker.Params())
    loaded.load(tmp_path / "bm25")
    queries = [Query("q", corpus[5])]
    assert built.search(queries, None, 5) == loaded.search(queries, None, 5)
    with pytest.raises(ValueError, match="holds a 'bm25-fast' index, not 'dense'"):
        DenseRanker(DenseRanker.Params()).load(tmp_path / "bm25")


def test_saved_index_refuses_pickled_arrays(tmp_path, corpus):
    built = SparseBM25Ranker(SparseBM25Ranker.Params())
    built.index(docs_of(corpus[:20]))
    built.save(tmp_path / "bm25")
    np.savez(tmp_path / "bm25" / "arrays.npz", idf=np.array([object()], dtype=object))
    with pytest.raises(ValueError, match="allow_pickle=False"):
        SparseBM25Ranker(SparseBM25Ranker.Params()).load(tmp_path / "bm25")


def test_dense_exact_top_k_and_history_explanation(tmp_path):
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(50, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    docs = docs_of([f"t{i}" for i in range(50)])
    ranker = DenseRanker(DenseRanker.Params(query_batch=3))
    ranker.index(docs, vectors)
    queries = [Query(f"q{i}", "", history=("d1", "d2")) for i in range(7)]
    qv = vectors[10:17]
    hits = ranker.search(queries, qv, 5)
    for row, found in enumerate(hits):
        expected = np.argsort(-(vectors @ qv[row]), kind="stable")[:5]
        assert [h.item_id for h in found] == [f"d{i}" for i in expected]
        top = int(expected[0])
        closer = "d1" if vectors[top] @ vectors[1] > vectors[top] @ vectors[2] else "d2"
        assert ranker.explain(queries[row], [f"d{top}"])[0].startswith(f"most similar to history item {closer}")
    ranker.save(tmp_path / "dense")
    loaded = DenseRanker(DenseRanker.Params(query_batch=3))
    loaded.load(tmp_path / "dense")
    assert loaded.search(queries, qv, 5) == hits


@pytest.mark.parametrize("per_language", ["off", "rank"])
def test_dense_exact_search_is_the_same_on_any_threads_and_for_few_or_many_queries(per_language):
    from pivotrec.plugins.rankers.dense import FEW_QUERIES

    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(1001, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    docs = [Document(f"d{i}", "t", "en" if i % 3 else "es", "t", None, Translation("t", "t", "en", "en", "none")) for i in range(1001)]
    queries = [Query(f"q{i}", "") for i in range(FEW_QUERIES + 3)]
    qv = vectors[: len(queries)]
    found = {}
    for threads in (1, 3):
        ranker = DenseRanker(DenseRanker.Params(threads=threads, per_language=per_language))
        ranker.index(docs, vectors)
        found[threads, "few"] = [h.item_id for hits in ranker.search(queries[:5], qv[:5], 10) for h in hits]
        many = ranker.search(queries, qv, 10)  # one product: as many queries as FEW_QUERIES or more
        found[threads, "many"] = [h.item_id for hits in many[:5] for h in hits]
    expected = np.argsort(-(qv[:5] @ vectors.T), axis=1, kind="stable")[:, :10]
    if per_language == "off":
        assert found[1, "few"] == [f"d{i}" for i in expected.ravel()]
    assert len(set(map(tuple, found.values()))) == 1


def test_cooccurrence_counts_other_users_histories():
    docs = docs_of(["a", "b", "c", "d"])  # ids d0..d3
    histories = [("d0", "d1"), ("d0", "d1", "d2"), ("d0", "d2"), ("d3",)]
    ranker = CooccurrenceRanker(CooccurrenceRanker.Params())
    ranker.index(docs, None, histories)
    hits = ranker.search([Query("u", "", history=("d0",)), Query("new", "", history=())], None, 5)
    assert [(h.item_id, h.score) for h in hits[0]] == [("d1", 2.0), ("d2", 2.0)]
    assert ranker.explain(Query("u", "", history=("d0",)), ["d1", "d3"]) == ["co-occurs with history item d0 in 2 user histories", None]
    assert hits[1] == []
    strict = CooccurrenceRanker(CooccurrenceRanker.Params(min_count=3))
    strict.index(docs, None, histories)
    assert strict.search([Query("u", "", history=("d0",))], None, 5) == [[]]


def test_dense_per_language_normalisation_lets_other_languages_compete():
    # Two languages; "es" candidates all score high (the bias), "de" low, but
    # one "de" item stands far above the other "de" items.
    vectors = np.array([[1.0, 0.0], [0.99, 0.14], [0.98, 0.2], [0.3, 0.95], [0.0, 1.0], [0.05, 1.0]], dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    langs = ["es", "es", "es", "de", "de", "de"]
    docs = [Document(f"d{i}", "t", lang, "t", None, Translation("t", "t", lang, "en", "none")) for i, lang in enumerate(langs)]
    query = np.array([[1.0, 0.0]], dtype=np.float32)
    plain, fair = DenseRanker(DenseRanker.Params()), DenseRanker(DenseRanker.Params(per_language="zscore"))
    plain.index(docs, vectors)
    fair.index(docs, vectors)
    assert [h.item_id for h in plain.search([Query("q", "")], query, 3)[0]] == ["d0", "d1", "d2"]
    top = fair.search([Query("q", "")], query, 2)[0]
    assert {h.item_id for h in top} == {"d0", "d3"}
    scores = vectors @ query[0]
    de = scores[3:]
    assert top[[h.item_id for h in top].index("d3")].score == pytest.approx((de[0] - de.mean()) / de.std(), rel=1e-5)


def test_dense_ivf_scans_all_cells_like_exact_search_and_round_trips(tmp_path):
    pytest.importorskip("faiss")
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(2000, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    docs = docs_of([f"t{i}" for i in range(2000)])
    queries = [Query(f"q{i}", "") for i in range(20)]
    qv = vectors[:20] + 0.1 * rng.normal(size=(20, 16)).astype(np.float32)
    exact = DenseRanker(DenseRanker.Params())
    exact.index(docs, vectors)
    full_scan = DenseRanker(DenseRanker.Params(search="ivf", nlist=16, nprobe=16))
    full_scan.index(docs, vectors)
    expected = exact.search(queries, qv, 10)
    found = full_scan.search(queries, qv, 10)
    assert [[h.item_id for h in row] for row in found] == [[h.item_id for h in row] for row in expected]
    assert [h.score for h in found[0]] == pytest.approx([h.score for h in expected[0]], rel=1e-5)
    # A partial scan misses some neighbours; its saved index answers identically.
    partial = DenseRanker(DenseRanker.Params(search="ivf", nlist=16, nprobe=2))
    partial.index(docs, vectors)
    before = partial.search(queries, qv, 10)
    partial.save(tmp_path / "ivf")
    loaded = DenseRanker(DenseRanker.Params(search="ivf", nlist=16, nprobe=2))
    loaded.load(tmp_path / "ivf")
    assert loaded.search(queries, qv, 10) == before


def test_dense_ivf_refuses_per_language_normalisation():
    with pytest.raises(ValueError, match="per_language needs every candidate's score"):
        DenseRanker.Params(search="ivf", per_language="rank")


def test_dense_per_language_rank_interleaves_each_languages_best():
    vectors = np.array([[1.0, 0.0], [0.99, 0.14], [0.98, 0.2], [0.3, 0.95], [0.0, 1.0], [0.05, 1.0]], dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    langs = ["es", "es", "es", "de", "de", "de"]
    docs = [Document(f"d{i}", "t", lang, "t", None, Translation("t", "t", lang, "en", "none")) for i, lang in enumerate(langs)]
    ranker = DenseRanker(DenseRanker.Params(per_language="rank", query_batch=1))
    ranker.index(docs, vectors)
    hits = ranker.search([Query("q", ""), Query("q2", "")], np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32), 6)
    # Best of each language first (the raw winner breaks the tie), then the second best of each...
    assert [h.item_id for h in hits[0]] == ["d0", "d3", "d1", "d5", "d2", "d4"]
    assert [h.item_id for h in hits[1]] == ["d4", "d2", "d5", "d1", "d3", "d0"]
    assert hits[0][0].score == pytest.approx(1.0, abs=1e-8) and hits[0][2].score == pytest.approx(0.5, abs=1e-8)


@pytest.mark.parametrize("ranker_class", [SparseBM25Ranker, RankBM25Ranker])
def test_explanations_name_informative_terms_not_function_words(ranker_class):
    texts = ["the python guide and the tests", "the garden and the roses", "the bread and the oven", "the stars and the moon", "the bike and the brakes"]
    ranker = ranker_class(ranker_class.Params())
    ranker.index(docs_of(texts), None, [])
    query = Query("u", "the python and the tests")
    [explanation] = ranker.explain(query, ["d0"])
    assert explanation == "matched python, tests"
    assert ranker.explain(Query("u", "the and"), ["d1"]) == [None], "a match on function words alone explains nothing"


def test_popularity_counts_users_breaks_ties_by_catalogue_order_and_round_trips(tmp_path):
    from pivotrec.plugins.rankers.popularity import PopularityRanker

    docs = docs_of(["a", "b", "c", "d", "e"])  # ids d0..d4
    # d2: 3 users (one read it twice); d1 and d3: 2 users each; d4: in no history; "gone" is not in the catalogue.
    histories = [("d2", "d2", "d1"), ("d2", "d3"), ("d2", "d3", "d1"), ("gone",)]
    ranker = PopularityRanker(PopularityRanker.Params())
    ranker.index(docs, None, histories)
    queries = [Query("u", "", history=("d2",)), Query("new", "", history=())]
    hits = ranker.search(queries, None, 10)
    expected = [("d2", 3.0), ("d1", 2.0), ("d3", 2.0)]
    # Everyone gets the same list; seen items stay in it (the recommend stage drops them).
    assert [[(h.item_id, h.score) for h in row] for row in hits] == [expected, expected]
    assert [h.item_id for h in ranker.search(queries[:1], None, 2)[0]] == ["d2", "d1"]
    assert ranker.explain(queries[0], ["d2", "d4"]) == ["in 3 users' histories", None]
    ranker.save(tmp_path / "popularity")
    loaded = PopularityRanker(PopularityRanker.Params())
    loaded.load(tmp_path / "popularity")
    assert loaded.search(queries, None, 10) == hits
    with pytest.raises(ValueError, match="holds a 'popularity' index, not 'dense'"):
        DenseRanker(DenseRanker.Params()).load(tmp_path / "popularity")


def test_popularity_is_an_installed_ranker_that_takes_no_params():
    from pivotrec.pipeline.registry import load
    from pivotrec.plugins.rankers.popularity import PopularityRanker

    assert load("ranker", "popularity") is PopularityRanker
    with pytest.raises(ValueError, match="min_count"):
        PopularityRanker.Params(min_count=2)


# --- BM25 stopwords per language (issue 15, item 7) ---------------------------------------------

from pivotrec.plugins.rankers.bm25 import document_terms  # noqa: E402
from pivotrec.plugins.rankers.stopwords import stopwords  # noqa: E402


def translated(doc_id: str, original: str, lang: str, pivot: str) -> Document:
    return Document(doc_id, original, lang, pivot, None, Translation(original, pivot, lang, "en", "mt", method="mt"))


def kept(doc_id: str, original: str, lang: str) -> Document:
    """A text no translator served: its pivot is its original."""
    return Document(doc_id, original, lang, original, None, Translation(original, original, lang, "en", "router", kept_original=True))


def test_stopword_lists_hold_whole_tokens_and_no_numbers():
    assert {"the", "and", "of"} <= stopwords("en") and {"の", "は", "を"} <= stopwords("ja")
    assert "10" not in stopwords("en") and "三" not in stopwords("zh"), "numbers name things"
    # "一个" is two tokens to tokenize, so it could never match one; "的" is one.
    assert "的" in stopwords("zh") and "一个" not in stopwords("zh")
    assert all(tokenize(word) == [word] for lang in ("en", "zh", "vi", "ko") for word in stopwords(lang))
    assert stopwords("mt") == frozenset(), "no list for Maltese"


def test_each_text_loses_the_stopwords_of_its_own_language():
    docs = [
        translated("es", "La casa de la playa", "es", "The house on the beach"),
        translated("de", "Die Katze und der Hund", "de", "The cat and the dog"),
        Document("en", "Never let the old dog die", "en", "Never let the old dog die", None, Translation("x", "x", "en", "en", "none")),
        kept("ru", "Кошка и сад", "ru"),
        kept("mt", "Il-kelb u l-qattus", "mt"),
    ]
    original, languages = document_terms(docs, SparseBM25Ranker.Params(text="original"))
    # German "die" goes, English "die" stays; Maltese has no list, so "u" (and) stays.
    assert original == [["casa", "playa"], ["katze", "hund"], ["dog", "die"], ["кошка", "сад"], ["il", "kelb", "u", "l", "qattus"]]
    assert languages == {"es", "de", "en", "ru", "mt"}
    pivot, languages = document_terms(docs, SparseBM25Ranker.Params(text="pivot"))
    # Translations lose English stopwords; a kept original its own language's.
    assert pivot == [["house", "beach"], ["cat", "dog"], ["dog", "die"], ["кошка", "сад"], ["il", "kelb", "u", "l", "qattus"]]
    assert languages == {"en", "ru", "mt"}
    both, _ = document_terms(docs[:1], SparseBM25Ranker.Params(text="both"))
    assert both == [["house", "beach", "casa", "playa"]]
    off, _ = document_terms(docs[:1], SparseBM25Ranker.Params(text="both", stopwords=False))
    assert off == [tokenize("The house on the beach La casa de la playa")]


def test_bm25_with_stopwords_scores_equal_rank_bm25_over_the_filtered_tokens(corpus):
    fast, slow = SparseBM25Ranker(SparseBM25Ranker.Params()), RankBM25Ranker(RankBM25Ranker.Params())
    docs = docs_of(corpus)
    fast.index(docs)
    slow.index(docs, None)
    english = stopwords("en")
    reference = BM25Okapi([[t for t in tokenize(text) if t not in english] for text in corpus])
    queries = corpus[:40:3] + ["the the of", "what year did the war end end"]
    ours = fast.scores(queries)
    for row, query in enumerate(queries):
        expected = reference.get_scores([t for t in tokenize(query) if t not in english])
        np.testing.assert_allclose(ours[row], expected, rtol=1e-9, atol=1e-9)
        # Stopword-only queries match nothing; the reference ranker gives the same scores to the same items.
        hits = slow.search([Query("q", query)], None, len(corpus))[0]
        assert len(hits) == np.count_nonzero(expected)
        np.testing.assert_allclose([h.score for h in hits], [expected[int(h.item_id[1:])] for h in hits], rtol=1e-9)
    assert not ours[-2].any(), "'the the of' holds only stopwords"


@pytest.mark.parametrize("use_stopwords", [True, False])
def test_explanations_never_list_stopwords_in_either_language(use_stopwords):
    docs = [translated("d0", "猫は本を読む", "ja", "the cat and the book")] + [
        translated(f"d{i}", word, "ja", english) for i, (word, english) in enumerate([("犬", "dog"), ("鳥", "bird"), ("魚", "fish")], start=1)
    ]
    query = Query("q", "the cat and the book", original="猫は本を")
    explanations = []
    for ranker_class in (SparseBM25Ranker, RankBM25Ranker):
        # Every term is rare here (one document of four): only the stopword rule can keep one out.
        ranker = ranker_class(ranker_class.Params(text="both", stopwords=use_stopwords, explain_max_df=1.0, explain_terms=10))
        ranker.index(docs, None)
        assert [h.item_id for h in ranker.search([query], None, 4)[0]] == ["d0"]
        explanations += ranker.explain(query, ["d0"])
    assert explanations[0] == explanations[1]
    assert explanations[0] is not None
    assert set(explanations[0].removeprefix("matched ").split(", ")) == {"cat", "book", "猫", "本"}


def test_sparse_bm25_keeps_its_stopword_languages_when_saved(tmp_path):
    docs = [translated("es", "La casa roja", "es", "The red house"), kept("ru", "Кошка и сад", "ru"), kept("ru2", "и и и сад", "ru")]
    built = SparseBM25Ranker(SparseBM25Ranker.Params(explain_max_df=1.0))
    built.index(docs)
    built.save(tmp_path / "bm25")
    loaded = SparseBM25Ranker(SparseBM25Ranker.Params(explain_max_df=1.0))
    loaded.load(tmp_path / "bm25")
    query = [Query("q", "the и кошка")]
    assert loaded.search(query, None, 3) == built.search(query, None, 3)
    assert [h.item_id for h in loaded.search(query, None, 3)[0]] == ["ru"]
    assert loaded.explain(query[0], ["ru"]) == built.explain(query[0], ["ru"]) == ["matched кошка"]


# --- bm25-fast engines and cheap explanations (issue 16, item 6) -----------------------------------

import importlib.util  # noqa: E402

from pivotrec.plugins.rankers.bm25_fast import COMPILED_BLOCK  # noqa: E402
from pivotrec.plugins.rankers.scoring import top_k_indices  # noqa: E402

ENGINES = [
    pytest.param({"engine": "sparse"}, id="sparse"),
    pytest.param({"engine": "compiled", "threads": 1}, id="compiled", marks=pytest.mark.skipif(importlib.util.find_spec("numba") is None, reason="numba not installed")),
    pytest.param({"engine": "compiled", "threads": 2}, id="compiled-2-threads", marks=pytest.mark.skipif(importlib.util.find_spec("numba") is None, reason="numba not installed")),
]


@pytest.mark.parametrize("engine", ENGINES)
def test_bm25_fast_engines_return_rank_bm25s_top_k_with_ties_to_the_earlier_document(corpus, engine):
    # Duplicated documents tie exactly; more queries than one compiled block, so threads share the work.
    texts = corpus[:200] + corpus[:200]
    fast, reference = SparseBM25Ranker(SparseBM25Ranker.Params(**engine)), RankBM25Ranker(RankBM25Ranker.Params())
    fast.warm_up()
    for ranker in (fast, reference):
        ranker.index(docs_of(texts), None, [])
    queries = [Query(f"q{i}", text) for i, text in enumerate(corpus[200 : 200 + 2 * COMPILED_BLOCK + 5])] + [Query("none", "zzz unknown")]
    for k in (1, 7, 50):
        ours, expected = fast.search(queries, None, k), reference.search(queries, None, k)
        assert [[h.item_id for h in row] for row in ours] == [[h.item_id for h in row] for row in expected]
        np.testing.assert_allclose([h.score for row in ours for h in row], [h.score for row in expected for h in row], rtol=1e-9)
    assert ours[-1] == [], "a query matching nothing gets no hits"
    assert fast.search(queries[:2], None, 0) == [[], []]
    assert all(int(a.item_id[1:]) < int(b.item_id[1:]) for row in ours for a, b in zip(row, row[1:]) if a.score == b.score)


def test_top_k_keeps_the_earliest_of_scores_tied_at_the_cut():
    scores = np.array([1.0, 3.0, 2.0, 2.0, 2.0, 2.0, 0.5, 2.0])
    assert top_k_indices(scores, 3).tolist() == [1, 2, 3]
    assert top_k_indices(np.ones(1000), 4).tolist() == [0, 1, 2, 3]


def test_bm25_fast_explains_as_the_reference_ranker_does(corpus):
    fast, reference = SparseBM25Ranker(SparseBM25Ranker.Params(explain_max_df=0.5)), RankBM25Ranker(RankBM25Ranker.Params(explain_max_df=0.5))
    for ranker in (fast, reference):
        ranker.index(docs_of(corpus), None, [])
    # A profile-like query (several items' texts, repeated terms) and each ranker's top 10 for it.
    queries = [Query(f"u{i}", " ".join(corpus[i : i + 5])) for i in range(0, 100, 5)]
    for query, hits in zip(queries, fast.search(queries, None, 10)):
        item_ids = [h.item_id for h in hits] + ["d599"]
        assert fast.explain(query, item_ids) == reference.explain(query, item_ids)


def test_bm25_fast_compiled_engine_without_numba_says_how_to_install_it(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "numba", None)  # what an import of a missing package sees
    monkeypatch.delitem(sys.modules, "pivotrec.plugins.rankers.bm25_kernel", raising=False)
    ranker = SparseBM25Ranker(SparseBM25Ranker.Params(engine="compiled"))
    with pytest.raises(ImportError, match="params.engine 'compiled' needs numba; pip install numba"):
        ranker.warm_up()
    fallback = SparseBM25Ranker(SparseBM25Ranker.Params())
    fallback.index(docs_of(["red river", "blue sea", "green hill"]), None, [])
    assert [h.item_id for h in fallback.search([Query("q", "river")], None, 5)[0]] == ["d0"], "auto falls back to the sparse engine"
