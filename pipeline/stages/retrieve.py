from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from pivotrec.pipeline.errors import stage_errors
from pivotrec.pipeline.protocols import Explainer, Ranker
from pivotrec.pipeline.records import Document, Hit, Query


class RetrieveStage:
    """Index the catalogue in every ranker, then fetch candidates per query from each.

    Vectors come per ranker name (each ranker may read its own encoder's
    vectors); rankers that need none get None.
    """

    def __init__(self, rankers: Mapping[str, Ranker]) -> None:
        self.rankers = dict(rankers)

    def index(self, docs: Sequence[Document], vectors: Mapping[str, np.ndarray], histories: Sequence[Sequence[str]]) -> None:
        for name, ranker in self.rankers.items():
            with stage_errors("index", f"ranker {name!r}"):
                ranker.index(docs, vectors.get(name), histories)

    def run(self, queries: Sequence[Query], vectors: Mapping[str, np.ndarray], depth: int | Sequence[int]) -> dict[str, list[list[Hit]]]:
        """Per ranker name, every query's top hits: ``depth`` of them, one depth for all queries or one per query.

        Queries of equal depth are searched together, so a deep one (a user with a long
        history to skip) deepens no other query's search.
        """
        depths = [depth] * len(queries) if isinstance(depth, int) else list(depth)
        groups: dict[int, list[int]] = {}
        for row, query_depth in enumerate(depths):
            groups.setdefault(query_depth, []).append(row)
        results: dict[str, list[list[Hit]]] = {}
        for name, ranker in self.rankers.items():
            found: list[list[Hit]] = [[] for _ in queries]
            for query_depth, rows in groups.items():
                whole = len(rows) == len(queries)
                group_vectors = vectors.get(name)
                if group_vectors is not None and not whole:
                    group_vectors = group_vectors[rows]
                with stage_errors("retrieve", f"ranker {name!r}"):
                    hits = ranker.search(queries if whole else [queries[r] for r in rows], group_vectors, query_depth)
                # Hits carry the configured label, so two rankers of one plugin stay apart.
                for row, row_hits in zip(rows, hits, strict=True):
                    found[row] = [Hit(h.item_id, h.score, name) for h in row_hits]
            results[name] = found
        return results

    def explain(self, query: Query, item_ids: Sequence[str]) -> list[tuple[str, ...]]:
        """Per item, ``"ranker: reason"`` from every ranker that can explain it."""
        reasons: list[list[str]] = [[] for _ in item_ids]
        for name, ranker in self.rankers.items():
            if isinstance(ranker, Explainer):
                for slot, reason in zip(reasons, ranker.explain(query, item_ids)):
                    if reason:
                        slot.append(f"{name}: {reason}")
        return [tuple(r) for r in reasons]
