"""Collaborative signal: items that co-occur in users' histories."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from pivotrec.pipeline.records import Document, Hit, Query
from pivotrec.plugins.rankers.scoring import HistoryRanker, ItemRows, top_k_indices

KIND = "cooccurrence"


class CooccurrenceRanker(HistoryRanker):
    """Item-item co-occurrence: an item scores the number of (history item, other user) pairs
    in which some other user had both.

    It needs no text, so it is language-blind: fused with a content ranker it
    adds "people who read this also read" while the pivot content path still
    covers items nobody has interacted with yet (cold start).
    """

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        #: Co-occurrences seen fewer times than this are ignored as noise.
        min_count: int = Field(1, ge=1)

    def __init__(self, params: Params) -> None:
        super().__init__(params)
        self._counts: sp.csr_matrix | None = None

    def index(self, docs: Sequence[Document], vectors: np.ndarray | None, histories: Sequence[Sequence[str]]) -> None:
        self._items = ItemRows(d.id for d in docs)
        rows, cols = [], []
        for user, history in enumerate(histories):
            for item in set(history):
                if item in self._items.row:
                    rows.append(user)
                    cols.append(self._items.row[item])
        users_items = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(histories), len(self._items.ids)))
        counts = (users_items.T @ users_items).tocsr()
        counts.setdiag(0)
        counts.data[counts.data < self.params.min_count] = 0
        counts.eliminate_zeros()
        self._counts = counts

    def search(self, queries: Sequence[Query], vectors: np.ndarray | None, k: int) -> list[list[Hit]]:
        if self._counts is None:
            raise RuntimeError("search before index")
        results: list[list[Hit]] = []
        for query in queries:
            rows = [self._items.row[h] for h in dict.fromkeys(query.history) if h in self._items.row]
            if not rows:
                results.append([])
                continue
            per_history = self._counts[rows]
            scores = np.asarray(per_history.sum(axis=0)).ravel()
            results.append([Hit(self._items.ids[i], float(scores[i]), KIND) for i in top_k_indices(scores, k) if scores[i] > 0])
        return results

    def explain(self, query: Query, item_ids: Sequence[str]) -> list[str | None]:
        """The history item each recommended item co-occurs with most, and how often."""
        if self._counts is None:
            raise RuntimeError("explain before index")
        rows = [self._items.row[h] for h in dict.fromkeys(query.history) if h in self._items.row]
        out: list[str | None] = []
        for item_id in item_ids:
            column = self._counts[rows][:, self._items.row[item_id]].toarray().ravel() if rows else np.zeros(0)
            if not column.size or column.max() <= 0:
                out.append(None)
                continue
            strongest = int(column.argmax())
            out.append(f"co-occurs with history item {self._items.ids[rows[strongest]]} in {int(column[strongest])} user histories")
        return out
