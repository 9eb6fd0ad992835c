"""Exact cosine top-k over L2-normalised vectors, in numpy."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pipeline.records import Document, Hit
from plugins.rankers.bm25 import top_k_indices


class DenseRanker:
    """Scores every item by inner product with the query vector (cosine on unit vectors).

    Queries are scored in blocks of ``query_batch`` so one matrix product
    serves many queries without holding a queries x catalogue matrix at once.
    """

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        query_batch: int = Field(256, ge=1)

    needs_vectors = True

    def __init__(self, params: Params) -> None:
        self.params = params
        self._ids: list[str] = []
        self._matrix: np.ndarray | None = None

    def index(self, docs: Sequence[Document], vectors: np.ndarray | None) -> None:
        if vectors is None or vectors.shape[0] != len(docs):
            raise ValueError("dense ranker needs one vector per document")
        self._ids = [d.id for d in docs]
        self._matrix = np.ascontiguousarray(vectors, dtype=np.float32)

    def search(self, queries: Sequence[str], vectors: np.ndarray | None, k: int) -> list[list[Hit]]:
        if self._matrix is None:
            raise RuntimeError("search before index")
        if vectors is None or vectors.shape[0] != len(queries):
            raise ValueError("dense ranker needs one vector per query")
        results = []
        for start in range(0, len(queries), self.params.query_batch):
            block = vectors[start : start + self.params.query_batch].astype(np.float32) @ self._matrix.T
            for scores in block:
                results.append([Hit(self._ids[i], float(scores[i]), "dense") for i in top_k_indices(scores, k)])
        return results
