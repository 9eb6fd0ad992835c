"""What a plugin of each kind must implement.

Plugins need not subclass anything: any class with these methods, a nested
pydantic ``Params`` model (its typed options schema) and an ``__init__`` that
takes one ``Params`` instance will do. Building a plugin must be cheap; heavy
imports and model loading happen on first use, so ``pivotrec validate``
never touches weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal, Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel

from pipeline.records import Detection, Document, Hit, Query

EncodeMode = Literal["query", "passage"]


class NoParams(BaseModel, extra="forbid"):
    """Schema for plugins that take no options."""


@runtime_checkable
class Detector(Protocol):
    Params: ClassVar[type[BaseModel]]

    def detect(self, texts: Sequence[str]) -> list[Detection]:
        """One detection per text, in input order; ISO 639-1 codes where they exist."""
        ...


@runtime_checkable
class Translator(Protocol):
    Params: ClassVar[type[BaseModel]]

    def supports(self, src: str, tgt: str) -> bool:
        """Whether this translator has a route from ``src`` to ``tgt``, without loading a model."""
        ...

    def translate(self, texts: Sequence[str], src: str, tgt: str) -> list[str]:
        """Translate each text from ``src`` to ``tgt``; one output per input, in order."""
        ...


@runtime_checkable
class Encoder(Protocol):
    Params: ClassVar[type[BaseModel]]
    #: True for encoders that embed many languages into one space; they read
    #: the original text and make translation unnecessary (the "direct" path).
    multilingual: bool

    def encode(self, texts: Sequence[str], mode: EncodeMode) -> np.ndarray:
        """L2-normalised float32 vectors, shape (len(texts), dim)."""
        ...


@runtime_checkable
class Ranker(Protocol):
    Params: ClassVar[type[BaseModel]]
    #: True when the ranker scores with the encoder's vectors.
    needs_vectors: ClassVar[bool]

    def index(self, docs: Sequence[Document], vectors: np.ndarray | None, histories: Sequence[Sequence[str]]) -> None:
        """Build the index over the catalogue.

        ``vectors`` row i belongs to ``docs[i]`` (None unless ``needs_vectors``);
        ``histories`` are all users' interaction sequences, for collaborative rankers.
        """
        ...

    def search(self, queries: Sequence[Query], vectors: np.ndarray | None, k: int) -> list[list[Hit]]:
        """Top-``k`` hits per query, best first."""
        ...


class Explainer(Protocol):
    """Optional for rankers: say why items were chosen. Called only for the
    items finally recommended, so it may be slower than scoring."""

    def explain(self, query: Query, item_ids: Sequence[str]) -> list[str | None]: ...
