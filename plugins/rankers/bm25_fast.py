"""Okapi BM25 as sparse matrices: the default lexical ranker.

Every (term, document) weight is computed once at indexing time, so scoring a
batch of queries is one sparse matrix product (queries x vocabulary times
vocabulary x documents) followed by a top-k over each row's non-zeros. Scores
equal rank-bm25's BM25Okapi (same idf with its epsilon floor, same length
normalisation), which the tests check.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from pivotrec.pipeline.records import Document, Hit, Query
from pivotrec.pipeline.text import tokenize
from pivotrec.plugins.rankers.bm25 import BM25Params, document_text, query_text
from pivotrec.plugins.rankers.scoring import common_term_idf, load_index, matched_terms, save_index, top_k_indices

KIND = "bm25-fast"


class SparseBM25Ranker:
    """BM25 with precomputed sparse weights; batched queries; saved to and loaded from disk."""

    class Params(BM25Params):
        #: Queries scored per sparse product; bounds memory at batch x documents.
        query_batch: int = 1024

    needs_vectors = False

    def __init__(self, params: Params) -> None:
        self.params = params
        self._ids: list[str] = []
        #: Item id -> document row, built once (explanations look rows up per user).
        self._rows: dict[str, int] = {}
        self._vocab: dict[str, int] = {}
        self._terms: list[str] = []
        self._idf = np.zeros(0)
        self._weights: sp.csr_matrix | None = None  # vocabulary x documents
        self._doc_terms: sp.csr_matrix | None = None  # documents x vocabulary, for explanations

    def index(self, docs: Sequence[Document], vectors: np.ndarray | None = None, histories: Sequence[Sequence[str]] = ()) -> None:
        vocab: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        for row, doc in enumerate(docs):
            for token in tokenize(document_text(doc, self.params.text)):
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
        self._ids = [d.id for d in docs]
        self._rows = {item_id: row for row, item_id in enumerate(self._ids)}
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

    def scores(self, queries: Sequence[str]) -> np.ndarray:
        """Dense score matrix (queries x documents); for tests and small catalogues."""
        if self._weights is None:
            raise RuntimeError("search before index")
        return (self._query_matrix([tokenize(q) for q in queries]) @ self._weights).toarray()

    def search(self, queries: Sequence[Query], vectors: np.ndarray | None, k: int) -> list[list[Hit]]:
        if self._weights is None:
            raise RuntimeError("search before index")
        results: list[list[Hit]] = []
        for start in range(0, len(queries), self.params.query_batch):
            batch = queries[start : start + self.params.query_batch]
            token_lists = [tokenize(query_text(q, self.params.text)) for q in batch]
            scored = (self._query_matrix(token_lists) @ self._weights).tocsr()
            # Sorted columns make ties break by document order, as for the other rankers.
            scored.sort_indices()
            for row in range(len(token_lists)):
                lo, hi = scored.indptr[row], scored.indptr[row + 1]
                docs, values = scored.indices[lo:hi], scored.data[lo:hi]
                keep = values > 0
                docs, values = docs[keep], values[keep]
                order = top_k_indices(values, k)
                hits = []
                for i in order:
                    hits.append(Hit(self._ids[docs[i]], float(values[i]), KIND))
                results.append(hits)
        return results

    def explain(self, query: Query, item_ids: Sequence[str]) -> list[str | None]:
        """Matched query terms per item, rarest first."""
        if self._doc_terms is None:
            raise RuntimeError("explain before index")
        tokens = tokenize(query_text(query, self.params.text))
        common = common_term_idf(len(self._ids), self.params.explain_max_df)
        out = []
        for item_id in item_ids:
            doc = self._rows[item_id]
            columns = self._doc_terms.indices[self._doc_terms.indptr[doc] : self._doc_terms.indptr[doc + 1]]
            doc_words = {self._terms[c] for c in columns}
            idf = {t: float(self._idf[self._vocab[t]]) for t in doc_words}
            out.append(matched_terms(tokens, doc_words, idf, self.params.explain_terms, common))
        return out

    def save(self, directory: Path) -> None:
        if self._weights is None or self._doc_terms is None:
            raise RuntimeError("save before index")
        w, t = self._weights, self._doc_terms
        save_index(
            directory,
            {"kind": KIND, "ids": self._ids, "vocab": list(self._vocab), "params": self.params.model_dump()},
            idf=self._idf, w_data=w.data, w_indices=w.indices, w_indptr=w.indptr, w_shape=np.array(w.shape),
            t_data=t.data, t_indices=t.indices, t_indptr=t.indptr, t_shape=np.array(t.shape),
        )

    def load(self, directory: Path) -> None:
        meta, a = load_index(directory, KIND)
        self._ids = meta["ids"]
        self._rows = {item_id: row for row, item_id in enumerate(self._ids)}
        self._terms = list(meta["vocab"])
        self._vocab = {term: i for i, term in enumerate(self._terms)}
        self._idf = a["idf"]
        self._weights = sp.csr_matrix((a["w_data"], a["w_indices"], a["w_indptr"]), shape=tuple(a["w_shape"]))
        self._doc_terms = sp.csr_matrix((a["t_data"], a["t_indices"], a["t_indptr"]), shape=tuple(a["t_shape"]))
