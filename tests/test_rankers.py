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
    fast = SparseBM25Ranker(SparseBM25Ranker.Params(k1=k1, b=b))
    fast.index(docs_of(corpus))
    reference = BM25Okapi([tokenize(t) for t in corpus], k1=k1, b=b)
    queries = corpus[:40:3] + ["the the of", "zzz unknown words", "what year did the war end end"]
    ours = fast.scores(queries)
    for row, query in enumerate(queries):
        np.testing.assert_allclose(ours[row], reference.get_scores(tokenize(query)), rtol=1e-9, atol=1e-9)


def test_sparse_bm25_top_k_matches_reference_ranker(corpus):
    docs = docs_of(corpus)
    queries = [Query(f"q{i}", corpus[i]) for i in range(0, 200, 17)]
    fast, slow = SparseBM25Ranker(SparseBM25Ranker.Params()), RankBM25Ranker(RankBM25Ranker.Params())
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
