"""Compiled BM25 top-k (numba) for ``bm25-fast``: a query costs its posting lists, not the catalogue.

A query's distinct terms are scored once each (a term it repeats adds its
weight times the repeats), and a k-sized heap keeps the best documents (ties:
the lower document row first, as ``top_k_indices`` breaks them). How the lists
are added depends on the query:

- a few terms (``MERGE_TERMS`` or fewer): their lists, each in document order,
  are merged, so each document's score is complete when it is reached. Only the
  lists are read, in order: nothing per document is kept, which matters once a
  score array outgrows the CPU caches (a 200k-item catalogue's does);
- more terms, with short lists: the lists are added into a score array, and only
  the documents touched are visited and reset;
- more terms whose lists cover a good share of the catalogue (common words; CJK
  and Thai characters, each its own token): the lists are added into the score
  array, which is then scanned in document order, cheaper than tracking what was
  touched.

Every way adds a document's weights in the same order (ascending term column),
so scores are equal to the last bit whichever way a query took. The kernel
releases the GIL, so callers score blocks of queries on several threads, each
with its own buffers. Imported only where numba is installed; ``bm25-fast``
falls back to a sparse product.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: Queries of at most this many distinct terms merge their posting lists.
MERGE_TERMS = 8
#: Other queries scan every document once their posting lists hold more than this share of the catalogue.
SCAN_SHARE = 0.25
#: A vocabulary x documents weight matrix in CSR form: indptr, document rows, weights.
Postings = tuple[np.ndarray, np.ndarray, np.ndarray]
#: One thread's work buffers, one entry per document: scores, touched marks, touched rows.
Buffers = tuple[np.ndarray, np.ndarray, np.ndarray]


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
def _offer(heap_scores: np.ndarray, heap_docs: np.ndarray, size: int, score: float, doc: int) -> int:
    """Keep ``doc`` in the heap (capacity ``len(heap_scores)``) if there is room or it beats the worst kept; the new size."""
    if size < len(heap_scores):
        # Append, then move up while worse than the parent.
        child = size
        heap_scores[child], heap_docs[child] = score, doc
        while child > 0:
            parent = (child - 1) // 2
            if not _worse(heap_scores[child], heap_docs[child], heap_scores[parent], heap_docs[parent]):
                break
            heap_scores[parent], heap_scores[child] = heap_scores[child], heap_scores[parent]
            heap_docs[parent], heap_docs[child] = heap_docs[child], heap_docs[parent]
            child = parent
        return size + 1
    if _worse(heap_scores[0], heap_docs[0], score, doc):
        heap_scores[0], heap_docs[0] = score, doc
        _sift_down(heap_scores, heap_docs, 0, size)
    return size


@njit(cache=True, nogil=True)
def _sort_heap(heap_scores: np.ndarray, heap_docs: np.ndarray, size: int) -> None:
    """Heap sort: the worst left goes last each round, so the entries end best first."""
    for end in range(size - 1, 0, -1):
        heap_scores[0], heap_scores[end] = heap_scores[end], heap_scores[0]
        heap_docs[0], heap_docs[end] = heap_docs[end], heap_docs[0]
        _sift_down(heap_scores, heap_docs, 0, end)


@njit(cache=True, nogil=True)
def _distinct_terms(occurrences: np.ndarray, dropped_terms: np.ndarray, terms: np.ndarray, repeats: np.ndarray) -> int:
    """A query's distinct scored columns, ascending, into ``terms``, and how often each occurs into ``repeats``; how many.

    An insertion sort in buffers held for the whole block: a query has a few dozen tokens at most,
    and allocating per query cost more than sorting.
    """
    n = 0
    for term in occurrences:
        if term < 0 or dropped_terms[term]:
            continue
        i = n
        while i > 0 and terms[i - 1] > term:
            i -= 1
        if i > 0 and terms[i - 1] == term:
            repeats[i - 1] += 1.0
            continue
        for j in range(n, i, -1):
            terms[j], repeats[j] = terms[j - 1], repeats[j - 1]
        terms[i], repeats[i] = term, 1.0
        n += 1
    return n


@njit(cache=True, nogil=True)
def _merge(terms: np.ndarray, repeats: np.ndarray, postings: Postings, heap_scores: np.ndarray, heap_docs: np.ndarray) -> int:
    """Best documents of a few terms by merging their lists in document order; how many the heap holds."""
    postings_indptr, postings_docs, postings_weights = postings
    positions = postings_indptr[terms].astype(np.int64)
    ends = postings_indptr[terms + 1].astype(np.int64)
    past_last = np.iinfo(np.int64).max
    size = 0
    while True:
        doc = past_last
        for i in range(len(terms)):
            if positions[i] < ends[i] and postings_docs[positions[i]] < doc:
                doc = postings_docs[positions[i]]
        if doc == past_last:
            return size
        score = 0.0
        for i in range(len(terms)):
            p = positions[i]
            if p < ends[i] and postings_docs[p] == doc:
                score += repeats[i] * postings_weights[p]
                positions[i] = p + 1
        # Documents come in row order, so once the heap is full a tie never displaces its root.
        if score > 0.0 and (size < len(heap_scores) or score > heap_scores[0]):
            size = _offer(heap_scores, heap_docs, size, score, doc)


@njit(cache=True, nogil=True)
def _accumulate(terms: np.ndarray, repeats: np.ndarray, postings: Postings, buffers: Buffers, heap_scores: np.ndarray, heap_docs: np.ndarray) -> int:
    """Best documents of many terms by adding their lists into the score buffer (left zeroed); how many the heap holds."""
    postings_indptr, postings_docs, postings_weights = postings
    scores, touched_mark, touched = buffers
    n_docs = len(scores)
    listed = 0
    for term in terms:
        listed += postings_indptr[term + 1] - postings_indptr[term]
    size = 0
    if listed > SCAN_SHARE * n_docs:
        for i in range(len(terms)):
            repeat = repeats[i]
            for p in range(postings_indptr[terms[i]], postings_indptr[terms[i] + 1]):
                scores[postings_docs[p]] += repeat * postings_weights[p]
        for doc in range(n_docs):
            score = scores[doc]
            if score != 0.0:
                scores[doc] = 0.0
                # Row order again: a tie never displaces the root of a full heap.
                if score > 0.0 and (size < len(heap_scores) or score > heap_scores[0]):
                    size = _offer(heap_scores, heap_docs, size, score, doc)
        return size
    n_touched = 0
    for i in range(len(terms)):
        repeat = repeats[i]
        for p in range(postings_indptr[terms[i]], postings_indptr[terms[i] + 1]):
            doc = postings_docs[p]
            if not touched_mark[doc]:
                touched_mark[doc] = True
                touched[n_touched] = doc
                n_touched += 1
            scores[doc] += repeat * postings_weights[p]
    for i in range(n_touched):
        doc = touched[i]
        score = scores[doc]
        scores[doc] = 0.0
        touched_mark[doc] = False
        if score > 0.0:
            size = _offer(heap_scores, heap_docs, size, score, doc)
    return size


@njit(cache=True, nogil=True)
def top_k_block(
    query_indptr: np.ndarray, query_terms: np.ndarray, dropped_terms: np.ndarray, postings: Postings, buffers: Buffers, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best ``k`` documents (rows, scores; best first) of each query whose score is above 0, and how many.

    ``query_terms[query_indptr[q]:query_indptr[q + 1]]`` are query ``q``'s vocabulary
    columns, a repeated term once per occurrence; a negative column (a token not in
    the vocabulary) or one marked in ``dropped_terms`` (bool per column: stopwords)
    adds nothing. ``postings`` are the vocabulary x documents BM25 weights in CSR
    form (indptr, document rows, weights), each list in document order.
    ``buffers`` are scores (float64, zeros), touched marks (bool, False) and
    touched rows (int64), one entry per document, one set per thread: the kernel
    leaves them as it found them.
    """
    n_queries = len(query_indptr) - 1
    top_docs = np.zeros((n_queries, k), dtype=np.int64)
    top_scores = np.zeros((n_queries, k), dtype=np.float64)
    counts = np.zeros(n_queries, dtype=np.int64)
    longest = 0
    for q in range(n_queries):
        longest = max(longest, query_indptr[q + 1] - query_indptr[q])
    distinct_terms = np.empty(longest, dtype=np.int64)
    distinct_repeats = np.empty(longest, dtype=np.float64)
    for q in range(n_queries):
        n_terms = _distinct_terms(query_terms[query_indptr[q] : query_indptr[q + 1]], dropped_terms, distinct_terms, distinct_repeats)
        terms, repeats = distinct_terms[:n_terms], distinct_repeats[:n_terms]
        if len(terms) <= MERGE_TERMS:
            size = _merge(terms, repeats, postings, top_scores[q], top_docs[q])
        else:
            size = _accumulate(terms, repeats, postings, buffers, top_scores[q], top_docs[q])
        _sort_heap(top_scores[q], top_docs[q], size)
        counts[q] = size
    return top_docs, top_scores, counts
