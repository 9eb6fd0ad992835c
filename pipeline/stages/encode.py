from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from pivotrec.pipeline.embedding_cache import EmbeddingCache
from pivotrec.pipeline.progress import track
from pivotrec.pipeline.protocols import EncodeMode, Encoder
from pivotrec.pipeline.records import Document

#: Which text an encoder reads (see the config's ``rankers[].reads``).
VectorText = Literal["auto", "original", "pivot", "translated", "both"]
#: Translations an encoder may read instead of the original under ``translated``:
#: a gloss is a bag of senses, no sentence for an encoder.
_SENTENCE_METHODS = frozenset({"mt", "table"})


@dataclass(frozen=True)
class Encoded:
    """One call's vectors, row i for text i, and where they came from."""

    vectors: np.ndarray
    #: Distinct texts served by the embedding cache, and encoded now.
    from_cache: int = 0
    encoded: int = 0


class EncodeStage:
    """Texts to L2-normalised float32 vectors: each distinct text once, looked up in the
    embedding cache first, the rest encoded in batches (stored batch by batch) with a progress bar.

    ``namespace`` identifies the encoder and every setting that changes its vectors;
    the mode (query or passage) is added to it, so vectors never cross settings.
    ``load`` (the encoder's warm-up, when the engine leaves it to this stage) is
    called once, before the first text the cache lacks: a run whose vectors all
    come from the cache loads no model.
    """

    def __init__(
        self, encoder: Encoder, batch_size: int = 256, cache: EmbeddingCache | None = None, namespace: str = "", load: Callable[[], None] | None = None
    ) -> None:
        self.encoder = encoder
        self.batch_size = batch_size
        self.cache = cache
        self.namespace = namespace
        self._load = load

    def run(self, texts: Sequence[str], mode: EncodeMode) -> Encoded:
        unique = list(dict.fromkeys(texts))
        space = f"{self.namespace}|{mode}"
        found = self.cache.get_many(space, unique) if self.cache is not None else {}
        todo = [t for t in unique if t not in found]
        if todo and self._load is not None:
            self._load()
            self._load = None
        starts = range(0, len(todo), self.batch_size)
        for start in track(starts, f"encode {mode} texts", total=len(starts), unit="batch"):
            batch = todo[start : start + self.batch_size]
            vectors = np.asarray(self.encoder.encode(batch, mode), dtype=np.float32)
            if vectors.shape[0] != len(batch):
                raise ValueError(f"encoder returned {vectors.shape[0]} vectors for {len(batch)} texts")
            if self.cache is not None:
                self.cache.put_many(space, batch, vectors)
            found.update(zip(batch, vectors, strict=True))
        if not texts:
            return Encoded(np.zeros((0, 0), dtype=np.float32))
        return Encoded(np.vstack([found[t] for t in texts]).astype(np.float32, copy=False), len(unique) - len(todo), len(todo))


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
