from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from pipeline.errors import StageError
from pipeline.protocols import Ranker
from pipeline.records import Document, Hit, Query


class RetrieveStage:
    """Index the catalogue in every ranker, then fetch candidates per query from each."""

    def __init__(self, rankers: Mapping[str, Ranker]) -> None:
        self.rankers = dict(rankers)

    def index(self, docs: Sequence[Document], vectors: np.ndarray | None, histories: Sequence[Sequence[str]]) -> None:
        for name, ranker in self.rankers.items():
            try:
                ranker.index(docs, vectors if ranker.needs_vectors else None, histories)
            except Exception as exc:
                raise StageError(f"index stage, ranker {name!r}: {type(exc).__name__}: {exc}") from exc

    def run(self, queries: Sequence[Query], vectors: np.ndarray | None, depth: int) -> dict[str, list[list[Hit]]]:
        """Per ranker name, the top-``depth`` hits of every query."""
        results = {}
        for name, ranker in self.rankers.items():
            try:
                hits = ranker.search(queries, vectors if ranker.needs_vectors else None, depth)
            except Exception as exc:
                raise StageError(f"retrieve stage, ranker {name!r}: {type(exc).__name__}: {exc}") from exc
            # Hits carry the configured label, so two rankers of one plugin stay apart.
            results[name] = [[Hit(h.item_id, h.score, name) for h in row] for row in hits]
        return results

    def explain(self, query: Query, item_ids: Sequence[str]) -> list[tuple[str, ...]]:
        """Per item, ``"ranker: reason"`` from every ranker that can explain it."""
        reasons: list[list[str]] = [[] for _ in item_ids]
        for name, ranker in self.rankers.items():
            if hasattr(ranker, "explain"):
                for slot, reason in zip(reasons, ranker.explain(query, item_ids)):
                    if reason:
                        slot.append(f"{name}: {reason}")
        return [tuple(r) for r in reasons]
