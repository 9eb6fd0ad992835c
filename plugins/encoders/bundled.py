"""What the direct encoders whose weights ship inside their own package share."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pivotrec.pipeline.model_store import missing_package
from pivotrec.pipeline.protocols import EncodeMode


@dataclass(frozen=True)
class BundledEngine:
    """Where an encoder's engine comes from and how it is called."""

    #: The pip package that ships the model, the module it installs and the engine class there.
    package: str
    module: str
    cls: str
    #: The keyword the engine takes its thread count by.
    threads_keyword: str
    #: The engine's method for queries and for passages.
    query_call: str
    passage_call: str


class BundledEncoder:
    """A multilingual encoder loaded from an installed package at warm-up.

    Subclasses declare the plugin's name and its engine; rows come back unit
    length, float32.
    """

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        #: CPU threads of the engine; None: the engine's own default.
        threads: int | None = Field(None, ge=1)

    multilingual = True
    plugin: ClassVar[str]
    engine: ClassVar[BundledEngine]

    def __init__(self, params: BaseModel) -> None:
        # Typed loosely: every subclass's Params has ``threads``.
        self.params: Any = params
        self._model: Any = None

    def warm_up(self) -> None:
        engine = self.engine
        try:
            cls = getattr(importlib.import_module(engine.module), engine.cls)
        except ImportError as exc:
            raise ImportError(f"the {self.plugin!r} encoder needs its package: pip install {engine.package}") from exc
        self._model = cls(**{engine.threads_keyword: self.params.threads})

    def unavailable_models(self) -> list[str]:
        return missing_package(self.engine.module, self.engine.package, f"the {self.plugin} model")

    def encode(self, texts: Sequence[str], mode: EncodeMode) -> np.ndarray:
        if self._model is None:
            raise RuntimeError(f"{self.plugin}: warm_up() was not called")
        call = self.engine.query_call if mode == "query" else self.engine.passage_call
        embedded = getattr(self._model, call)(list(texts))
        vectors = np.asarray(embedded, dtype=np.float32).reshape(len(texts), -1)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
