from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from pivotrec.pipeline.progress import track
from pivotrec.pipeline.protocols import EncodeMode, Encoder
from pivotrec.pipeline.records import Document

#: Which text an encoder reads (see the config's ``rankers[].reads``).
VectorText = Literal["auto", "original", "pivot", "translated", "both"]
#: Translations an encoder may read instead of the original under ``translated``:
#: a gloss is a bag of senses, no sentence for an encoder.
_SENTENCE_METHODS = frozenset({"mt", "table"})


class EncodeStage:
    """Texts to L2-normalised float32 vectors, in batches with a progress bar."""

    def __init__(self, encoder: Encoder, batch_size: int = 256) -> None:
        self.encoder = encoder
        self.batch_size = batch_size

    def run(self, texts: Sequence[str], mode: EncodeMode) -> np.ndarray:
        starts = range(0, len(texts), self.batch_size)
        blocks = [
            self.encoder.encode(texts[start : start + self.batch_size], mode)
            for start in track(starts, f"encode {mode} texts", total=len(starts), unit="batch")
        ]
        if not blocks:
            return np.zeros((0, 0), dtype=np.float32)
        vectors = np.vstack(blocks).astype(np.float32, copy=False)
        if vectors.shape[0] != len(texts):
            raise ValueError(f"encoder returned {vectors.shape[0]} vectors for {len(texts)} texts")
        return vectors


def texts_to_read(docs: Sequence[Document], reads: VectorText, multilingual: bool) -> tuple[list[str], list[str] | None]:
    """The texts an encoder embeds for ``docs``, and for ``both`` the second texts to average with."""
    if reads == "auto":
        reads = "original" if multilingual else "pivot"
    if reads == "original":
        return [d.original for d in docs], None
    if reads == "pivot":
        return [d.pivot for d in docs], None
    if reads == "translated":
        return [d.pivot if d.translation.method in _SENTENCE_METHODS and not d.translation.kept_original else d.original for d in docs], None
    return [d.original for d in docs], [d.pivot for d in docs]


def mean_of_unit(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Row-wise mean of two sets of unit vectors, back on the unit sphere."""
    total = first.astype(np.float64) + second
    norms = np.maximum(np.linalg.norm(total, axis=1, keepdims=True), 1e-12)
    return (total / norms).astype(np.float32)
