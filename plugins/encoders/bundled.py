"""What the direct encoders whose weights ship inside their own package share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel

from pivotrec.pipeline.protocols import EncodeMode


class BundledEncoder:
    """A multilingual encoder loaded from an installed package at warm-up.

    Subclasses name the plugin and its package, load the engine in
    ``_load`` and embed in ``_embed``; rows come back unit length, float32.
    """

    multilingual = True
    #: The plugin's name and the pip package that ships the model, for messages.
    plugin: ClassVar[str]
    package: ClassVar[str]

    def __init__(self, params: BaseModel) -> None:
        # Typed loosely: each subclass reads its own Params' options in _load.
        self.params: Any = params
        self._model: Any = None

    def _load(self) -> Any:
        raise NotImplementedError

    def _embed(self, model: Any, texts: list[str], mode: EncodeMode) -> Any:
        raise NotImplementedError

    def warm_up(self) -> None:
        try:
            self._model = self._load()
        except ImportError as exc:
            raise ImportError(f"the {self.plugin!r} encoder needs its package: pip install {self.package}") from exc

    def encode(self, texts: Sequence[str], mode: EncodeMode) -> np.ndarray:
        if self._model is None:
            raise RuntimeError(f"{self.plugin}: warm_up() was not called")
        vectors = np.asarray(self._embed(self._model, list(texts), mode), dtype=np.float32).reshape(len(texts), -1)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
