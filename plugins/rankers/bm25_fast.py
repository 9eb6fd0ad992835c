"""Okapi BM25 over precomputed sparse weights: the default lexical ranker.

Every (term, document) weight is computed once at indexing time. Where numba is
installed, a compiled kernel (``bm25_kernel``) adds each query's posting lists
into a score array and keeps a top-k heap over the documents touched, in blocks
of queries on several threads; otherwise a batch of queries is one sparse matrix
product (queries x vocabulary times vocabulary x documents) followed by a top-k
over each row's non-zeros. Either way scores equal rank-bm25's BM25Okapi (same
idf with its epsilon floor, same length normalisation), and ties go to the
earlier document, which the tests check. Explanations look rows up in an id
index built once, so they cost the query and the explained items, never the catalogue.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Literal

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from pivotrec.pipeline.records import Document, Hit, Query
from pivotrec.plugins.rankers.bm25 import BM25Params, document_terms, query_text, terms
from pivotrec.plugins.rankers.scoring import ItemRows, common_term_idf, load_index, save_index, top_k_indices
from pivotrec.plugins.rankers.stopwords import stopwords_of

KIND = "bm25-fast"
#: Queries per call of the compiled kernel: small enough that threads interleave their Python and compiled parts.
COMPILED_BLOCK = 64
#: The compiled kernel: ``bm25_kernel.top_k_block``.
Kernel = Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray]]
#: Each thread's kernel work buffers, kept between searches (allocating them per block costs page faults).
_thread_buffers = threading.local()


def _work_buffers(n_docs: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """This thread's kernel buffers for ``n_docs`` documents: scores, touched marks, touched rows (left clean by the kernel)."""
    held: tuple[np.ndarray, np.ndarray, np.ndarray] | None = getattr(_thread_buffers, "arrays", None)
    if held is None or len(held[0]) < n_docs:
        held = (np.zeros(n_docs), np.zeros(n_docs, dtype=np.bool_), np.zeros(n_docs, dtype=np.int64))
        _thread_buffers.arrays = held
    return held


class SparseBM25Ranker:
    """BM25 with precomputed sparse weights; batched queries; saved to and loaded from disk."""

    class Params(BM25Params):
        #: Queries per sparse product (``sparse`` engine); bounds memory at batch x documents.
        query_batch: int = Field(1024, ge=1)
        #: How queries are scored: ``compiled`` adds each query's posting lists with numba
        #: (``pip install numba``), ``sparse`` multiplies sparse matrices with scipy,
        #: ``auto`` takes compiled where numba is installed. Scores are the same.
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
        self._weights: sp.csr_matrix | None = None  # vocabulary x documents
        self._doc_terms: sp.csr_matrix | None = None  # documents x vocabulary, for explanations

    def index(self, docs: Sequence[Document], vectors: np.ndarray | None = None, histories: Sequence[Sequence[str]] = ()) -> None:
        vocab: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        corpus, self._languages = document_terms(docs, self.params)
        self._stopwords = stopwords_of(self._languages)
        for row, tokens in enumerate(corpus):
            for token in tokens:
                rows.append(row)
                cols.append(vocab.setdefault(token, len(vocab)))
        n_docs = len(docs)
        # Duplicate (row, col) pairs are summed into term frequencies.
        tf = sp.csr_matrix((np.ones(len(rows), dtype=np.float64), (rows, cols)), shape=(n_docs, len(vocab)))
        tf.sum_duplicates()
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
        self._vocab = vocab
        self._terms = list(vocab)
        self._idf = idf
        self._weights = weights.T.tocsr()
        self._doc_terms = tf

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
            kernel(queries, queries[:0], postings, postings[:0], np.zeros(0), *_work_buffers(1), 1)

    def search(self, queries: Sequence[Query], vectors: np.ndarray | None, k: int) -> list[list[Hit]]:
        if self._weights is None:
            raise RuntimeError("search before index")
        kernel = self._compiled_kernel()
        if kernel is not None:
            return self._search_compiled(kernel, queries, k)
        results: list[list[Hit]] = []
        for start in range(0, len(queries), self.params.query_batch):
            results += self._search_sparse(queries[start : start + self.params.query_batch], k)
        return results

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

    def _search_compiled(self, kernel: Kernel, queries: Sequence[Query], k: int) -> list[list[Hit]]:
        assert self._weights is not None
        w = self._weights
        # int32 postings (what warm_up compiled for) unless the index outgrows them.
        index_type = np.int32 if w.nnz < np.iinfo(np.int32).max else np.int64
        postings = (w.indptr.astype(index_type, copy=False), w.indices.astype(index_type, copy=False), w.data)
        k = min(k, w.shape[1])
        if k <= 0:
            return [[] for _ in queries]
        answer = partial(self._answer_block, kernel, postings, k)
        blocks = [queries[start : start + COMPILED_BLOCK] for start in range(0, len(queries), COMPILED_BLOCK)]
        threads = min(self.params.threads or len(os.sched_getaffinity(0)), len(blocks))
        if threads <= 1:
            return [hits for block in blocks for hits in answer(block)]
        # Small blocks on a few threads: one thread's kernel (no GIL) runs while another tokenizes or builds hits.
        with ThreadPoolExecutor(threads) as pool:
            return [hits for answered in pool.map(answer, blocks) for hits in answered]

    def _answer_block(self, kernel: Kernel, postings: tuple[np.ndarray, np.ndarray, np.ndarray], k: int, block: Sequence[Query]) -> list[list[Hit]]:
        dropped, vocab = self._matched_stopwords(), self._vocab
        columns = [[c for t in terms(query_text(q, self.params.text), dropped) if (c := vocab.get(t)) is not None] for q in block]
        indptr = np.zeros(len(columns) + 1, dtype=np.int64)
        np.cumsum([len(c) for c in columns], out=indptr[1:])
        flat = np.fromiter((c for row in columns for c in row), dtype=np.int64, count=int(indptr[-1]))
        docs, values, counts = kernel(indptr, flat, *postings, *_work_buffers(len(self._items.ids)), k)
        ids = self._items.ids
        return [
            [Hit(ids[d], s, KIND) for d, s in zip(row_docs[:count], row_values[:count])]
            for row_docs, row_values, count in zip(docs.tolist(), values.tolist(), counts.tolist())
        ]

    def _search_sparse(self, batch: Sequence[Query], k: int) -> list[list[Hit]]:
        assert self._weights is not None
        token_lists = [terms(query_text(q, self.params.text), self._matched_stopwords()) for q in batch]
        scored = (self._query_matrix(token_lists) @ self._weights).tocsr()
        # Sorted columns make ties break by document order, as for the other rankers.
        scored.sort_indices()
        results = []
        for row in range(len(token_lists)):
            lo, hi = scored.indptr[row], scored.indptr[row + 1]
            docs, values = scored.indices[lo:hi], scored.data[lo:hi]
            keep = values > 0
            docs, values = docs[keep], values[keep]
            results.append([Hit(self._items.ids[docs[i]], float(values[i]), KIND) for i in top_k_indices(values, k)])
        return results

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
        self._terms = list(meta["vocab"])
        self._vocab = {term: i for i, term in enumerate(self._terms)}
        self._idf = a["idf"]
        self._languages = frozenset(meta["languages"])
        self._stopwords = stopwords_of(self._languages)
        self._weights = sp.csr_matrix((a["w_data"], a["w_indices"], a["w_indptr"]), shape=tuple(a["w_shape"]))
        self._doc_terms = sp.csr_matrix((a["t_data"], a["t_indices"], a["t_indptr"]), shape=tuple(a["t_shape"]))
