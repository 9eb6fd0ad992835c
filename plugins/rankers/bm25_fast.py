"""Okapi BM25 over precomputed sparse weights: the default lexical ranker.

Every (term, document) weight is computed once at indexing time. Where numba is
installed, all queries are tokenized in one pass into vocabulary columns, and a
compiled kernel (``bm25_kernel``) adds each query's posting lists into a score
array and keeps a top-k heap, in blocks of queries on several threads; otherwise
a batch of queries is one sparse matrix product (queries x vocabulary times
vocabulary x documents) followed by a top-k over each row's non-zeros. Either
way the answer is arrays (``top_k``); ``search`` makes ``Hit`` records of the
kept rows only. Scores equal rank-bm25's BM25Okapi (same idf with its epsilon
floor, same length normalisation), and ties go to the earlier document, which
the tests check. Explanations look rows up in an id index built once, so they
cost the query and the explained items, never the catalogue.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import chain, repeat
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from pivotrec.pipeline.records import Document, Hit, Query
from pivotrec.pipeline.text import tokenize
from pivotrec.plugins.rankers.bm25 import BM25Params, document_terms, query_text, terms, text_languages
from pivotrec.plugins.rankers.scoring import ItemRows, common_term_idf, load_index, save_index, top_k_indices
from pivotrec.plugins.rankers.stopwords import stopwords_of

KIND = "bm25-fast"
#: Queries per call of the compiled kernel: blocks small enough to share out evenly between threads.
COMPILED_BLOCK = 64
#: The compiled kernel: ``bm25_kernel.top_k_block``.
Kernel = Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray]]
#: Each thread's kernel work buffers, kept between searches (allocating them per block costs page faults).
_thread_buffers = threading.local()


def _work_buffers(n_docs: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """This thread's kernel buffers for ``n_docs`` documents: scores, touched marks, touched rows (left clean by the kernel).

    Views of exactly ``n_docs`` entries: the kernel scans the whole score buffer for a query with long posting lists.
    """
    held: tuple[np.ndarray, np.ndarray, np.ndarray] | None = getattr(_thread_buffers, "arrays", None)
    if held is None or len(held[0]) < n_docs:
        held = (np.zeros(n_docs), np.zeros(n_docs, dtype=np.bool_), np.zeros(n_docs, dtype=np.int64))
        _thread_buffers.arrays = held
    scores, touched_mark, touched = held
    return scores[:n_docs], touched_mark[:n_docs], touched[:n_docs]


class TopK(NamedTuple):
    """Each query's best documents as arrays: ``rows[q, :counts[q]]`` (document rows, best first) and their ``scores``."""

    rows: np.ndarray  # int64, queries x k
    scores: np.ndarray  # float64, queries x k
    counts: np.ndarray  # int64, per query: how many of its k entries hold a document (score above 0)

    @classmethod
    def empty(cls, n_queries: int, k: int) -> TopK:
        return cls(np.zeros((n_queries, k), dtype=np.int64), np.zeros((n_queries, k)), np.zeros(n_queries, dtype=np.int64))


def _term_frequencies(corpus: list[list[str]], vocab: dict[str, int], n_docs: int) -> sp.csr_matrix:
    """Documents x vocabulary counts of ``corpus``; unseen terms are added to ``vocab`` (term -> column)."""
    rows: list[int] = []
    cols: list[int] = []
    for row, tokens in enumerate(corpus):
        for token in tokens:
            rows.append(row)
            cols.append(vocab.setdefault(token, len(vocab)))
    # Duplicate (row, col) pairs are summed into term frequencies.
    tf = sp.csr_matrix((np.ones(len(rows), dtype=np.float64), (rows, cols)), shape=(n_docs, len(vocab)))
    tf.sum_duplicates()
    return tf


class SparseBM25Ranker:
    """BM25 with precomputed sparse weights; batched queries; saved to and loaded from disk."""

    class Params(BM25Params):
        #: Queries per sparse product (``sparse`` engine); bounds memory at batch x documents.
        query_batch: int = Field(1024, ge=1)
        #: How queries are scored: ``compiled`` merges each query's posting lists with numba
        #: (a core dependency), ``sparse`` multiplies sparse matrices with scipy, ``auto``
        #: takes compiled where numba imports. Scores are the same.
        engine: Literal["auto", "compiled", "sparse"] = "auto"
        #: Threads scoring blocks of queries (compiled engine); 0: one per CPU core this process may use.
        threads: int = Field(0, ge=0)

    needs_vectors = False

    def __init__(self, params: Params) -> None:
        self.params = params
        #: Item ids and each id's row, built once (explanations look rows up per user).
        self._items = ItemRows()
        self._vocab: dict[str, int] = {}
        self._terms: list[str] = []
        self._idf = np.zeros(0)
        #: The languages indexed, and their stopwords: dropped from queries, and never in an explanation.
        self._languages: frozenset[str] = frozenset()
        self._stopwords: frozenset[str] = frozenset()
        #: Per vocabulary column, whether it is one of those stopwords (what the compiled kernel skips).
        self._stopword_columns = np.zeros(0, dtype=np.bool_)
        self._weights: sp.csr_matrix | None = None  # vocabulary x documents
        self._doc_terms: sp.csr_matrix | None = None  # documents x vocabulary, for explanations

    def index(self, docs: Sequence[Document], vectors: np.ndarray | None = None, histories: Sequence[Sequence[str]] = ()) -> None:
        vocab: dict[str, int] = {}
        corpus, languages = document_terms(docs, self.params)
        self._fit(docs, _term_frequencies(corpus, vocab, len(docs)), vocab, languages)

    def update(self, docs: Sequence[Document], rows: Sequence[int], vectors: np.ndarray | None = None, histories: Sequence[Sequence[str]] = ()) -> None:
        """Index ``docs`` (the whole new catalogue) reusing what the current index holds: ``rows[n]`` is
        document n's row in it, or -1 for a document it lacks. Only new documents are tokenized; every
        statistic (document frequencies, idf, average length, weights) is then computed anew, so the
        scores are a full ``index``'s."""
        if self._doc_terms is None:
            raise RuntimeError("update before index")
        old_rows = np.asarray(rows, dtype=np.int64)
        new_positions = np.flatnonzero(old_rows < 0)
        vocab = dict(self._vocab)
        corpus, _ = document_terms([docs[int(n)] for n in new_positions], self.params)
        new_tf = _term_frequencies(corpus, vocab, len(corpus))
        kept = self._doc_terms.copy()
        kept.resize((kept.shape[0], len(vocab)))  # the new terms are columns it has no entries in
        # Final row n takes the kept row rows[n], or the next new document's row after the kept ones.
        take = old_rows.copy()
        take[new_positions] = kept.shape[0] + np.arange(len(new_positions))
        tf = sp.vstack([kept, new_tf], format="csr")[take]
        # Terms only deleted or replaced documents held leave the vocabulary, as in a full index.
        used = np.flatnonzero(np.bincount(tf.indices, minlength=len(vocab)))
        terms_by_column = list(vocab)
        tf = tf[:, used].tocsr()
        tf.sort_indices()
        compacted = {terms_by_column[column]: n for n, column in enumerate(used)}
        languages = frozenset().union(*(text_languages(doc, self.params.text) for doc in docs))
        self._fit(docs, tf, compacted, languages)

    def _fit(self, docs: Sequence[Document], tf: sp.csr_matrix, vocab: dict[str, int], languages: frozenset[str]) -> None:
        """BM25 statistics and weights from term frequencies (documents x vocabulary)."""
        n_docs = len(docs)
        doc_len = np.asarray(tf.sum(axis=1)).ravel()
        avgdl = doc_len.sum() / max(n_docs, 1)
        df = np.bincount(tf.indices, minlength=len(vocab)).astype(np.float64)
        idf = np.log(n_docs - df + 0.5) - np.log(df + 0.5)
        if len(idf):
            idf[idf < 0] = self.params.epsilon * idf.mean()

        k1, b = self.params.k1, self.params.b
        norm = k1 * (1 - b + b * doc_len / avgdl) if avgdl > 0 else np.full(n_docs, k1)
        weights = tf.copy()
        per_entry_norm = np.repeat(norm, np.diff(tf.indptr))
        weights.data = idf[weights.indices] * tf.data * (k1 + 1) / (tf.data + per_entry_norm)
        self._items = ItemRows(d.id for d in docs)
        self._set_vocabulary(list(vocab), languages, vocab)
        self._idf = idf
        self._weights = weights.T.tocsr()
        self._doc_terms = tf

    def _set_vocabulary(self, indexed_terms: list[str], languages: frozenset[str], vocab: dict[str, int] | None = None) -> None:
        """The vocabulary (``vocab``: term -> column, built from ``indexed_terms`` when not given) and the indexed languages' stopwords."""
        self._terms = indexed_terms
        self._vocab = vocab if vocab is not None else {term: i for i, term in enumerate(indexed_terms)}
        self._languages = languages
        self._stopwords = stopwords_of(languages)
        self._stopword_columns = np.fromiter((t in self._stopwords for t in indexed_terms), dtype=np.bool_, count=len(indexed_terms))

    def _query_matrix(self, token_lists: list[list[str]]) -> sp.csr_matrix:
        rows, cols = [], []
        for row, tokens in enumerate(token_lists):
            for token in tokens:
                col = self._vocab.get(token)
                if col is not None:
                    rows.append(row)
                    cols.append(col)
        # Repeated query terms count once per occurrence, as in rank-bm25.
        return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(token_lists), len(self._vocab)))

    def _matched_stopwords(self) -> frozenset[str]:
        """What queries drop before scoring: the indexed languages' stopwords when ``stopwords`` is on."""
        return self._stopwords if self.params.stopwords else frozenset()

    def scores(self, queries: Sequence[str]) -> np.ndarray:
        """Dense score matrix (queries x documents); for tests and small catalogues."""
        if self._weights is None:
            raise RuntimeError("search before index")
        return (self._query_matrix([terms(q, self._matched_stopwords()) for q in queries]) @ self._weights).toarray()

    def warm_up(self) -> None:
        """Compile the numba kernel (or load it from numba's cache) before the first query:
        one empty query over an empty index, with the argument types searches pass."""
        kernel = self._compiled_kernel()
        if kernel is not None:
            queries, postings = np.zeros(2, dtype=np.int64), np.zeros(2, dtype=np.int32)
            kernel(queries, queries[:0], np.zeros(0, dtype=np.bool_), (postings, postings[:0], np.zeros(0)), _work_buffers(1), 1)

    def search(self, queries: Sequence[Query], vectors: np.ndarray | None, k: int) -> list[list[Hit]]:
        top = self.top_k(queries, k)
        ids = self._items.ids
        # Records only for what is kept: a row's first ``count`` entries.
        return [
            [Hit(ids[d], s, KIND) for d, s in zip(row_docs[:count], row_scores[:count])]
            for row_docs, row_scores, count in zip(top.rows.tolist(), top.scores.tolist(), top.counts.tolist())
        ]

    def top_k(self, queries: Sequence[Query], k: int) -> TopK:
        """Each query's best ``k`` document rows and scores, as arrays (what ``search`` turns into hits)."""
        if self._weights is None:
            raise RuntimeError("search before index")
        k = max(0, min(k, len(self._items)))
        kernel = self._compiled_kernel()
        if kernel is not None:
            return self._top_k_compiled(kernel, queries, k)
        return self._top_k_sparse(queries, k)

    def _compiled_kernel(self) -> Kernel | None:
        """The numba top-k kernel, or None where the ``sparse`` engine scores (chosen, or numba missing under ``auto``)."""
        if self.params.engine == "sparse":
            return None
        try:
            from pivotrec.plugins.rankers.bm25_kernel import top_k_block
        except ImportError as e:
            if self.params.engine == "compiled":
                raise ImportError("bm25-fast: params.engine 'compiled' needs numba; pip install numba, or set engine: sparse") from e
            return None
        return top_k_block

    def _query_columns(self, queries: Sequence[Query]) -> tuple[np.ndarray, np.ndarray]:
        """The queries' vocabulary columns in one pass (-1: a token not indexed), and where each query starts (CSR indptr).

        Stopwords stay in: the kernel skips their columns, so a token costs one dict lookup, in C.
        """
        token_lists = [tokenize(query_text(q, self.params.text)) for q in queries]
        indptr = np.zeros(len(token_lists) + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, token_lists), dtype=np.int64, count=len(token_lists)), out=indptr[1:])
        columns = np.fromiter(map(self._vocab.get, chain.from_iterable(token_lists), repeat(-1)), dtype=np.int64, count=int(indptr[-1]))
        return indptr, columns

    def _top_k_compiled(self, kernel: Kernel, queries: Sequence[Query], k: int) -> TopK:
        assert self._weights is not None
        if k == 0 or not queries:
            return TopK.empty(len(queries), k)
        w = self._weights
        # int32 postings (what warm_up compiled for) unless the index outgrows them.
        index_type = np.int32 if w.nnz < np.iinfo(np.int32).max else np.int64
        postings = (w.indptr.astype(index_type, copy=False), w.indices.astype(index_type, copy=False), w.data)
        dropped = self._stopword_columns if self.params.stopwords else np.zeros(len(self._terms), dtype=np.bool_)
        n_docs = len(self._items)

        # All queries' columns first, in one pass: the vocabulary stays in cache, not evicted by scoring between blocks.
        indptr, columns = self._query_columns(queries)

        def answer(start: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            # A block's slice of indptr keeps absolute offsets into ``columns``: nothing is copied.
            return kernel(indptr[start : start + COMPILED_BLOCK + 1], columns, dropped, postings, _work_buffers(n_docs), k)

        starts = range(0, len(queries), COMPILED_BLOCK)
        threads = min(self.params.threads or len(os.sched_getaffinity(0)), len(starts))
        if threads <= 1:
            answered = list(map(answer, starts))
        else:
            # The kernel releases the GIL: blocks score in parallel, each thread with its own buffers.
            with ThreadPoolExecutor(threads) as pool:
                answered = list(pool.map(answer, starts))
        return TopK(*(np.concatenate(parts) for parts in zip(*answered)))

    def _top_k_sparse(self, queries: Sequence[Query], k: int) -> TopK:
        assert self._weights is not None
        top = TopK.empty(len(queries), k)
        dropped = self._matched_stopwords()
        for start in range(0, len(queries), self.params.query_batch):
            token_lists = [terms(query_text(q, self.params.text), dropped) for q in queries[start : start + self.params.query_batch]]
            scored = (self._query_matrix(token_lists) @ self._weights).tocsr()
            # Sorted columns make ties break by document order, as for the other rankers.
            scored.sort_indices()
            for row in range(len(token_lists)):
                lo, hi = scored.indptr[row], scored.indptr[row + 1]
                docs, values = scored.indices[lo:hi], scored.data[lo:hi]
                keep = values > 0
                docs, values = docs[keep], values[keep]
                best = top_k_indices(values, k)
                top.rows[start + row, : len(best)] = docs[best]
                top.scores[start + row, : len(best)] = values[best]
                top.counts[start + row] = len(best)
        return top

    def explain(self, query: Query, item_ids: Sequence[str]) -> list[str | None]:
        """Matched query terms per item, rarest first.

        Costs the query's length plus each item's length: rows come from the id lookup
        built at index time, and each item's terms are matched against the query's in one array test.
        """
        if self._doc_terms is None:
            raise RuntimeError("explain before index")
        informative = self._informative_columns(query)
        if not informative.size or not self.params.explain_terms:
            return [None] * len(item_ids)
        tf = self._doc_terms
        out: list[str | None] = []
        for item_id in item_ids:
            row = self._items.row[item_id]
            # A row's columns are sorted (canonical CSR), so membership is a binary search.
            columns = tf.indices[tf.indptr[row] : tf.indptr[row + 1]]
            found = np.searchsorted(columns, informative)
            present = columns[np.minimum(found, len(columns) - 1)] == informative if len(columns) else np.zeros(len(informative), dtype=bool)
            matched = informative[present][: self.params.explain_terms]
            out.append("matched " + ", ".join(self._terms[c] for c in matched) if matched.size else None)
        return out

    def _informative_columns(self, query: Query) -> np.ndarray:
        """The query's indexed terms that may explain a match (not stopwords, not too common),
        each once, rarest first; equal idf keeps query order, as ``matched_terms`` does."""
        tokens = dict.fromkeys(terms(query_text(query, self.params.text), self._stopwords))
        columns = np.fromiter((c for c in map(self._vocab.get, tokens) if c is not None), dtype=np.int64)
        idf = self._idf[columns]
        keep = idf >= common_term_idf(len(self._items.ids), self.params.explain_max_df)
        columns, idf = columns[keep], idf[keep]
        return columns[np.argsort(-idf, kind="stable")]

    def save(self, directory: Path) -> None:
        if self._weights is None or self._doc_terms is None:
            raise RuntimeError("save before index")
        w, t = self._weights, self._doc_terms
        save_index(
            directory,
            {"kind": KIND, "ids": self._items.ids, "vocab": list(self._vocab), "languages": sorted(self._languages), "params": self.params.model_dump()},
            idf=self._idf, w_data=w.data, w_indices=w.indices, w_indptr=w.indptr, w_shape=np.array(w.shape),
            t_data=t.data, t_indices=t.indices, t_indptr=t.indptr, t_shape=np.array(t.shape),
        )

    def load(self, directory: Path) -> None:
        meta, a = load_index(directory, KIND)
        self._items = ItemRows(meta["ids"])
        self._set_vocabulary(list(meta["vocab"]), frozenset(meta["languages"]))
        self._idf = a["idf"]
        self._weights = sp.csr_matrix((a["w_data"], a["w_indices"], a["w_indptr"]), shape=tuple(a["w_shape"]))
        self._doc_terms = sp.csr_matrix((a["t_data"], a["t_indices"], a["t_indptr"]), shape=tuple(a["t_shape"]))
