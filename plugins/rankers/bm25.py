"""BM25 over pivot text with rank-bm25 (the reference implementation)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pipeline.records import Document, Hit
from pipeline.text import tokenize


def top_k_indices(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest scores, best first (ties by lower index)."""
    k = min(k, scores.shape[0])
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.lexsort((part, -scores[part]))]


class RankBM25Ranker:
    """Okapi BM25 from the ``rank-bm25`` package; scores every document per query."""

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        k1: float = Field(1.5, gt=0)
        b: float = Field(0.75, ge=0, le=1)
        #: How many matched terms an explanation lists.
        explain_terms: int = Field(5, ge=0)

    needs_vectors = False

    def __init__(self, params: Params) -> None:
        self.params = params
        self._bm25: Any = None
        self._ids: list[str] = []
        self._tokens: list[set[str]] = []

    def index(self, docs: Sequence[Document], vectors: np.ndarray | None) -> None:
        from rank_bm25 import BM25Okapi

        corpus = [tokenize(d.pivot) for d in docs]
        self._ids = [d.id for d in docs]
        self._tokens = [set(t) for t in corpus]
        self._bm25 = BM25Okapi(corpus, k1=self.params.k1, b=self.params.b)

    def search(self, queries: Sequence[str], vectors: np.ndarray | None, k: int) -> list[list[Hit]]:
        if self._bm25 is None:
            raise RuntimeError("search before index")
        results = []
        for query in queries:
            terms = tokenize(query)
            scores = np.asarray(self._bm25.get_scores(terms), dtype=np.float64)
            results.append([self._hit(i, float(scores[i]), terms) for i in top_k_indices(scores, k) if scores[i] > 0])
        return results

    def _hit(self, row: int, score: float, terms: list[str]) -> Hit:
        matched = [t for t in dict.fromkeys(terms) if t in self._tokens[row]]
        matched.sort(key=lambda t: -self._bm25.idf.get(t, 0.0))
        explanation = "matched " + ", ".join(matched[: self.params.explain_terms]) if matched else None
        return Hit(self._ids[row], score, "bm25", explanation)
