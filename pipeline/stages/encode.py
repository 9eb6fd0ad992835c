from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pipeline.progress import track
from pipeline.protocols import EncodeMode, Encoder


class EncodeStage:
    """Texts to L2-normalised float32 vectors, in batches with a progress bar."""

    def __init__(self, encoder: Encoder, batch_size: int = 256) -> None:
        self.encoder = encoder
        self.batch_size = batch_size

    def run(self, texts: Sequence[str], mode: EncodeMode) -> np.ndarray:
        starts = range(0, len(texts), self.batch_size)
        blocks = [
            self.encoder.encode(texts[start : start + self.batch_size], mode)
            for start in track(starts, f"encode {mode}s", total=len(starts), unit="batch")
        ]
        if not blocks:
            return np.zeros((0, 0), dtype=np.float32)
        vectors = np.vstack(blocks).astype(np.float32, copy=False)
        if vectors.shape[0] != len(texts):
            raise RuntimeError(f"encoder returned {vectors.shape[0]} vectors for {len(texts)} texts")
        return vectors
