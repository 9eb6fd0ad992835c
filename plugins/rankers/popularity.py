"""Popularity baseline: every user gets the items most users have interacted with."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pivotrec.pipeline.protocols import NoParams
from pivotrec.pipeline.records import Document, Hit, Query
from pivotrec.plugins.rankers.scoring import HistoryRanker, ItemRows, load_index, save_index, top_k_indices

KIND = "popularity"


class PopularityRanker(HistoryRanker):
    """Popularity baseline: an item scores the number of user histories that contain it (ties: the
    item earlier in the catalogue).

    The non-personalised baseline of recommender evaluation: a method that cannot
    beat it has learnt nothing about the user. It excludes nothing itself (the
    recommend stage drops what the user has seen), and items in no history are
    never returned.
    """

    Params = NoParams
    def __init__(self, params: NoParams) -> None:
        super().__init__(params)
        self._counts: np.ndarray | None = None

    def index(self, docs: Sequence[Document], vectors: np.ndarray | None, histories: Sequence[Sequence[str]]) -> None:
        # A user who read an item twice is still one user.
        users_per_item = Counter(item for history in histories for item in set(history))
        ids = [d.id for d in docs]
        self._set(ids, np.array([users_per_item[item_id] for item_id in ids], dtype=np.int64))

    def _set(self, ids: list[str], counts: np.ndarray) -> None:
        self._items = ItemRows(ids)
        self._counts = counts

    def search(self, queries: Sequence[Query], vectors: np.ndarray | None, k: int) -> list[list[Hit]]:
        if self._counts is None:
            raise RuntimeError("search before index")
        # The same list for everyone: computed once.
        top = [Hit(self._items.ids[i], float(self._counts[i]), KIND) for i in top_k_indices(self._counts.astype(np.float64), k) if self._counts[i] > 0]
        return [list(top) for _ in queries]

    def explain(self, query: Query, item_ids: Sequence[str]) -> list[str | None]:
        """``"in N users' histories"`` for each item (None for an item in none)."""
        if self._counts is None:
            raise RuntimeError("explain before index")
        counts = [int(self._counts[self._items.row[i]]) if i in self._items.row else 0 for i in item_ids]
        return [f"in {n} users' histories" if n > 1 else "in 1 user's history" if n == 1 else None for n in counts]

    def save(self, directory: Path) -> None:
        if self._counts is None:
            raise RuntimeError("save before index")
        save_index(directory, {"kind": KIND, "ids": self._items.ids}, counts=self._counts)

    def load(self, directory: Path) -> None:
        meta, arrays = load_index(directory, KIND)
        self._set(list(meta["ids"]), arrays["counts"])
