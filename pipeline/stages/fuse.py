from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Literal

from pivotrec.pipeline.records import Hit

FUSED = "fusion"


class FuseStage:
    """Merge several rankers' lists into one.

    ``rrf`` (reciprocal-rank fusion) scores an item sum(w / (k + rank)) and
    needs no score calibration; ``weighted`` sums min-max normalised scores,
    which keeps score gaps that ranks throw away. A single ranker's list is
    passed through unchanged.
    """

    def __init__(self, method: Literal["rrf", "weighted"] = "rrf", k: int = 60, weights: Mapping[str, float] | None = None) -> None:
        self.method = method
        self.k = k
        self.weights = dict(weights or {})

    def run(self, lists: Mapping[str, Sequence[Hit]]) -> list[Hit]:
        if len(lists) == 1:
            return list(next(iter(lists.values())))
        scores: dict[str, float] = defaultdict(float)
        for name, hits in lists.items():
            weight = self.weights.get(name, 1.0)
            if self.method == "rrf":
                for rank, hit in enumerate(hits, start=1):
                    scores[hit.item_id] += weight / (self.k + rank)
            else:
                if not hits:
                    continue
                top, bottom = max(h.score for h in hits), min(h.score for h in hits)
                span = top - bottom
                for hit in hits:
                    scores[hit.item_id] += weight * ((hit.score - bottom) / span if span > 0 else 1.0)
        ordered = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
        return [Hit(item_id, score, FUSED) for item_id, score in ordered]
