"""bm25-fast's batched compiled path: top-k arrays from query texts, every kernel path against rank-bm25 (issue 16, item 6)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pivotrec.pipeline.records import Document, Hit, Query, Translation
from pivotrec.plugins.rankers.bm25 import RankBM25Ranker
from pivotrec.plugins.rankers.bm25_fast import COMPILED_BLOCK, SparseBM25Ranker

pytestmark = pytest.mark.skipif(importlib.util.find_spec("numba") is None, reason="numba not installed")


def docs_of(texts: list[str]) -> list[Document]:
    return [Document(f"d{i}", t, "en", t, None, Translation(t, t, "en", "en", "none")) for i, t in enumerate(texts)]


def assert_same_ranking(ours: list[Hit], expected: list[Hit]) -> None:
    """Same scores, rank by rank; the same items, up to the order of scores equal but for the last bits.

    rank-bm25 adds a document's weights in query order, bm25-fast in vocabulary order: two
    documents whose scores are equal sums of different weights may then differ by a rounding
    error and swap. Within a tie group (and so the group cut at k) the items may differ in order;
    exact ties still go to the earlier document.
    """
    assert len(ours) == len(expected)
    scores = np.array([h.score for h in expected])
    np.testing.assert_allclose([h.score for h in ours], scores, rtol=1e-9, atol=1e-12)
    starts = [0, *np.flatnonzero(~np.isclose(scores[1:], scores[:-1], rtol=1e-9, atol=1e-12)) + 1]
    for start, end in zip(starts[:-1], starts[1:]):
        assert {h.item_id for h in ours[start:end]} == {h.item_id for h in expected[start:end]}
    assert all(int(a.item_id[1:]) < int(b.item_id[1:]) for a, b in zip(ours, ours[1:]) if a.score == b.score)


COMMON = "river war year city king army music film team water".split()
RARE = [f"rare{i}" for i in range(200)]


@pytest.fixture(scope="module")
def catalogue() -> list[str]:
    """300 items: each holds a few of ten common words (each in ~30% of items) and one or two rare ones;
    the first 20 items appear twice, so their scores tie exactly (and others by coincidence)."""
    rng = np.random.default_rng(0)
    texts = [
        " ".join([*rng.choice(COMMON, size=rng.integers(2, 6)), *rng.choice(RARE, size=rng.integers(1, 3)), "the", "of"])
        for _ in range(280)
    ]
    return texts + texts[:20]


#: One query per kernel path (see bm25_kernel): a few terms (merged lists), many rare terms
#: (the touched documents visited), many common terms (the score array scanned); repeats and stopwords in each.
QUERIES = {
    "merge": "river river rare3 the of",
    "touched": " ".join(RARE[:12]) + " rare0 the",
    "scan": " ".join(COMMON) + " rare5 rare6 rare6 the of",
}


def kernel_path(catalogue: list[str], query: str) -> str:
    """Which way ``bm25_kernel`` scores ``query`` over ``catalogue``: from its distinct words and their document counts."""
    from pivotrec.plugins.rankers.bm25_kernel import MERGE_TERMS, SCAN_SHARE

    words = {w for w in query.split() if w not in ("the", "of")}
    if len(words) <= MERGE_TERMS:
        return "merge"
    postings = sum(sum(w in text.split() for text in catalogue) for w in words)
    return "scan" if postings > SCAN_SHARE * len(catalogue) else "touched"


def test_the_queries_take_every_kernel_path(catalogue):
    assert [kernel_path(catalogue, text) for text in QUERIES.values()] == list(QUERIES)


@pytest.mark.parametrize("threads", [1, 2])
def test_each_kernel_path_returns_rank_bm25s_top_k_and_scores(catalogue, threads):
    fast = SparseBM25Ranker(SparseBM25Ranker.Params(engine="compiled", threads=threads))
    reference = RankBM25Ranker(RankBM25Ranker.Params())
    for ranker in (fast, reference):
        ranker.index(docs_of(catalogue), None, [])
    # Enough queries for several blocks, so threads share them; every path in every block.
    texts = list(QUERIES.values()) * COMPILED_BLOCK
    queries = [Query(f"q{i}", text) for i, text in enumerate(texts)]
    for k in (1, 10, 400):
        for ours, expected in zip(fast.search(queries, None, k), reference.search(queries, None, k)):
            assert_same_ranking(ours, expected)
    ours = fast.search(queries[:3], None, 400)
    assert len(ours[0]) < len(ours[2]), "the query of common words matches more items than the one of a few"


def test_top_k_arrays_are_what_search_makes_hits_of(catalogue):
    ranker = SparseBM25Ranker(SparseBM25Ranker.Params(engine="compiled"))
    ranker.index(docs_of(catalogue), None, [])
    queries = [Query(name, text) for name, text in QUERIES.items()] + [Query("none", "zzz the")]
    top = ranker.top_k(queries, 5)
    assert top.rows.shape == top.scores.shape == (4, 5)
    assert top.counts.tolist()[-1] == 0, "a query of unknown words and stopwords finds nothing"
    for row, hits in enumerate(ranker.search(queries, None, 5)):
        count = top.counts[row]
        assert [h.item_id for h in hits] == [f"d{d}" for d in top.rows[row, :count]]
        assert [h.score for h in hits] == top.scores[row, :count].tolist()
    empty = ranker.top_k([], 5)
    assert empty.rows.shape == (0, 5) and empty.counts.shape == (0,)
    assert ranker.top_k(queries, 0).rows.shape == (4, 0)


def test_compiled_and_sparse_engines_give_the_same_arrays_on_one_and_two_threads(catalogue):
    rankers = [SparseBM25Ranker(SparseBM25Ranker.Params(**engine)) for engine in ({"engine": "sparse"}, {"engine": "compiled", "threads": 1}, {"engine": "compiled", "threads": 2})]
    queries = [Query(f"q{i}", " ".join(catalogue[i : i + 3])) for i in range(0, 200, 2)]
    answers = []
    for ranker in rankers:
        ranker.index(docs_of(catalogue), None, [])
        answers.append(ranker.top_k(queries, 12))
    sparse, one_thread, two_threads = answers
    for field in ("rows", "scores", "counts"):
        assert np.array_equal(getattr(one_thread, field), getattr(two_threads, field)), f"threads change {field}"
    assert np.array_equal(sparse.rows, one_thread.rows) and np.array_equal(sparse.counts, one_thread.counts)
    np.testing.assert_allclose(sparse.scores, one_thread.scores, rtol=1e-9, atol=1e-12)


@settings(max_examples=40)
@given(
    # Every item holds a word besides stopwords: rank-bm25 divides by the mean length.
    texts=st.lists(st.lists(st.sampled_from(COMMON[:6] + RARE[:6]), min_size=1, max_size=12).map(lambda words: " ".join(["the", *words])), min_size=1, max_size=30),
    query_words=st.lists(st.lists(st.sampled_from(COMMON[:6] + RARE[:8] + ["the", "zzz"]), max_size=14).map(" ".join), min_size=1, max_size=8),
    k=st.integers(1, 12),
)
def test_compiled_engine_matches_rank_bm25_on_any_small_catalogue(texts, query_words, k):
    fast = SparseBM25Ranker(SparseBM25Ranker.Params(engine="compiled", threads=1))
    reference = RankBM25Ranker(RankBM25Ranker.Params())
    for ranker in (fast, reference):
        ranker.index(docs_of(texts), None, [])
    queries = [Query(f"q{i}", text) for i, text in enumerate(query_words)]
    for ours, expected in zip(fast.search(queries, None, k), reference.search(queries, None, k)):
        assert_same_ranking(ours, expected)


WORDS = ["river", "war", "city", "king", "army", "music", "film", "the", "of", "rare1", "rare2", "rare3"]
a_text = st.lists(st.sampled_from(WORDS), min_size=1, max_size=6).map(" ".join)


def doc(item_id: str, text: str) -> Document:
    return Document(item_id, text, "en", text, None, Translation(text, text, "en", "en", "none"))


@settings(max_examples=60)
@given(
    texts=st.lists(a_text, min_size=1, max_size=10),
    fates=st.lists(st.sampled_from(["keep", "delete", "change"]), min_size=10, max_size=10),
    changed=st.lists(a_text, min_size=10, max_size=10),
    added=st.lists(a_text, max_size=4),
    query_words=st.lists(st.sampled_from(WORDS), min_size=1, max_size=5),
)
def test_an_update_builds_what_indexing_the_final_catalogue_builds(texts, fates, changed, added, query_words):
    old = [doc(f"d{i}", t) for i, t in enumerate(texts)]
    final: list[Document] = []
    rows: list[int] = []
    for row, (document, fate, text) in enumerate(zip(old, fates, changed)):
        if fate != "delete":
            final.append(document if fate == "keep" else doc(document.id, text))
            rows.append(row if fate == "keep" else -1)
    final += [doc(f"d{len(texts) + i}", t) for i, t in enumerate(added)]
    rows += [-1] * len(added)
    if not final:
        return
    updated = SparseBM25Ranker(SparseBM25Ranker.Params())
    updated.index(old)
    updated.update(final, rows)
    indexed = SparseBM25Ranker(SparseBM25Ranker.Params())
    indexed.index(final)

    # Terms held only by deleted or replaced documents are gone, as in a fresh index.
    assert sorted(updated._vocab) == sorted(indexed._vocab)
    query = " ".join(query_words)
    np.testing.assert_allclose(updated.scores([query]), indexed.scores([query]), rtol=1e-9, atol=1e-12)
    hits = Query("q", query, (), query)
    assert_same_ranking(updated.search([hits], None, 5)[0], indexed.search([hits], None, 5)[0])
    ids = [d.id for d in final]
    assert updated.explain(hits, ids) == indexed.explain(hits, ids)


def test_an_update_tokenizes_only_the_new_documents(monkeypatch):
    from pivotrec.plugins.rankers import bm25_fast

    ranker = SparseBM25Ranker(SparseBM25Ranker.Params())
    old = docs_of(["river city music", "war film", "king army river"])
    ranker.index(old)
    read: list[str] = []
    real = bm25_fast.document_terms
    monkeypatch.setattr(bm25_fast, "document_terms", lambda docs, params: (read.extend(d.id for d in docs), real(docs, params))[1])
    ranker.update([old[0], old[2], doc("new", "music river")], [0, 2, -1])
    assert read == ["new"]
    assert (ranker.scores(["music"])[0] != 0).tolist() == [True, False, True]  # the new document is matched
