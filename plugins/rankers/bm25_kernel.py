"""Compiled BM25 top-k (numba) for ``bm25-fast``: a query costs its posting lists, not the catalogue.

Each query adds its terms' posting lists into a float64 score array, remembering
the documents it touched; a k-sized heap over those documents keeps the best
(ties: the lower document row first, as ``top_k_indices`` breaks them), and only
the touched entries are reset for the next query. The kernel releases the GIL, so
callers score blocks of queries on several threads, each with its own buffers.
Imported only where numba is installed; ``bm25-fast`` falls back to a sparse product.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _worse(score_a: float, doc_a: int, score_b: float, doc_b: int) -> bool:
    return score_a < score_b or (score_a == score_b and doc_a > doc_b)


@njit(cache=True, nogil=True)
def _sift_down(scores: np.ndarray, docs: np.ndarray, start: int, size: int) -> None:
    """Restore the heap below ``start``: every entry worse than neither of its children (worst at the root)."""
    parent = start
    while True:
        child = 2 * parent + 1
        if child >= size:
            return
        if child + 1 < size and _worse(scores[child + 1], docs[child + 1], scores[child], docs[child]):
            child += 1
        if not _worse(scores[child], docs[child], scores[parent], docs[parent]):
            return
        scores[parent], scores[child] = scores[child], scores[parent]
        docs[parent], docs[child] = docs[child], docs[parent]
        parent = child


@njit(cache=True, nogil=True)
def top_k_block(
    query_indptr: np.ndarray,
    query_terms: np.ndarray,
    postings_indptr: np.ndarray,
    postings_docs: np.ndarray,
    postings_weights: np.ndarray,
    scores: np.ndarray,
    touched_mark: np.ndarray,
    touched: np.ndarray,
    k: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best ``k`` documents (rows, scores; best first) of each query whose score is above 0, and how many.

    ``query_terms[query_indptr[q]:query_indptr[q + 1]]`` are query ``q``'s vocabulary
    columns, a repeated term once per occurrence; postings are the vocabulary x
    documents BM25 weights in CSR form. ``scores`` (float64, zeros), ``touched_mark``
    (bool, False) and ``touched`` (int64) are work buffers of at least one entry per
    document, one set per thread: the kernel leaves them as it found them.
    """
    n_queries = len(query_indptr) - 1
    top_docs = np.zeros((n_queries, k), dtype=np.int64)
    top_scores = np.zeros((n_queries, k), dtype=np.float64)
    counts = np.zeros(n_queries, dtype=np.int64)
    for q in range(n_queries):
        n_touched = 0
        for j in range(query_indptr[q], query_indptr[q + 1]):
            term = query_terms[j]
            for p in range(postings_indptr[term], postings_indptr[term + 1]):
                doc = postings_docs[p]
                if not touched_mark[doc]:
                    touched_mark[doc] = True
                    touched[n_touched] = doc
                    n_touched += 1
                scores[doc] += postings_weights[p]
        heap_scores = top_scores[q]
        heap_docs = top_docs[q]
        size = 0
        for i in range(n_touched):
            doc = touched[i]
            score = scores[doc]
            scores[doc] = 0.0
            touched_mark[doc] = False
            if score <= 0.0:
                continue
            if size < k:
                # Append, then move up while worse than the parent.
                child = size
                heap_scores[child], heap_docs[child] = score, doc
                size += 1
                while child > 0:
                    parent = (child - 1) // 2
                    if not _worse(heap_scores[child], heap_docs[child], heap_scores[parent], heap_docs[parent]):
                        break
                    heap_scores[parent], heap_scores[child] = heap_scores[child], heap_scores[parent]
                    heap_docs[parent], heap_docs[child] = heap_docs[child], heap_docs[parent]
                    child = parent
            elif _worse(heap_scores[0], heap_docs[0], score, doc):
                heap_scores[0], heap_docs[0] = score, doc
                _sift_down(heap_scores, heap_docs, 0, size)
        # Heap sort: the worst left goes last each round, so the row ends best first.
        for end in range(size - 1, 0, -1):
            heap_scores[0], heap_scores[end] = heap_scores[end], heap_scores[0]
            heap_docs[0], heap_docs[end] = heap_docs[end], heap_docs[0]
            _sift_down(heap_scores, heap_docs, 0, end)
        counts[q] = size
    return top_docs, top_scores, counts
