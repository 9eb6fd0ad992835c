"""What a plugin of each kind must implement, and what it may optionally offer.

Plugins need not subclass anything: any class with the required methods, a
nested pydantic ``Params`` model (its typed options schema) and an
``__init__`` that takes one ``Params`` instance will do. The registry checks
the required members when it loads a plugin, and every optional member is
declared here, so a stage never probes a plugin for undeclared attributes.

A plugin's life: the config resolves its ``{plugin, params}`` (schema,
paths, nested plugin references); the builder constructs it once, children
first; ``warm_up()`` is called once before the first batch (load weights,
start engines); then the stages call it. Construction must be cheap, so
``pivotrec validate`` never touches weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel

from pivotrec.pipeline.records import Detection, Document, Hit, Query

EncodeMode = Literal["query", "passage"]
PluginKind = Literal["detector", "translator", "encoder", "ranker"]


class NoParams(BaseModel, extra="forbid"):
    """Schema for plugins that take no options."""


@runtime_checkable
class WarmsUp(Protocol):
    """Optional for every kind: load weights or start engines, once, before the first batch."""

    def warm_up(self) -> None: ...


@runtime_checkable
class ChecksModels(Protocol):
    """Optional for detectors and encoders: the models (or model packages) it would load that
    are not available here, found without loading any, so every missing one is named at once."""

    def unavailable_models(self) -> list[str]:
        """One line per missing model: which, and how to make it available; [] when none is missing."""
        ...


@runtime_checkable
class Detector(Protocol):
    Params: ClassVar[type[BaseModel]]

    def detect(self, texts: Sequence[str]) -> list[Detection]:
        """One detection per text, in input order; ISO 639-1 codes where they exist."""
        ...


#: How a translator carries text into the pivot: machine translation, a
#: word-by-word dictionary gloss, a table of known translations, or a copy.
TranslationMethod = Literal["mt", "gloss", "table", "copy"]


@dataclass(frozen=True)
class TranslatorInfo:
    """What a translator tells the translate stage about itself; every field has a default.

    A translator declares it as a class attribute ``info`` (or returns it
    from a property of that name when it depends on the plugin's params).
    """

    #: The stage sends one sentence at a time (split language-aware, paragraph breaks kept).
    sentence_level: bool = False
    #: Distinct segments handed over per ``translate`` call; None: the stage's default.
    batch_size: int | None = None
    #: Whether the translation cache may store its outputs (a table or a copy gains nothing).
    cacheable: bool = True
    #: Shown in provenance, so reports can tell a gloss from MT.
    method: TranslationMethod = "mt"


@dataclass(frozen=True)
class TranslatedBatch:
    """A batch's translations with what happened on the way (``translate_batch``'s result)."""

    texts: list[str]
    #: Sentences longer than the model's input limit, cut into parts (nothing dropped).
    cut_sentences: int = 0


@runtime_checkable
class Translator(Protocol):
    """Required: ``supports`` and ``translate``.

    Optional, each declared below and checked once at load: ``info``
    (a :class:`TranslatorInfo`), ``missing(src)`` (why a language has no
    route, with the fix), ``model_for(src, tgt)`` (the model that serves a
    pair, for provenance), ``cache_settings()`` (what identifies its outputs
    in the cache; default: all params), ``translate_batch`` (translations with
    counts; called instead of ``translate`` when present), ``route`` (a router
    hands a language to one of its children), ``unavailable_models(languages,
    tgt)`` (the models it lacks for those languages) and ``warm_up()``.
    """

    Params: ClassVar[type[BaseModel]]

    def supports(self, src: str, tgt: str) -> bool:
        """Whether this translator has a route from ``src`` to ``tgt``, without loading a model."""
        ...

    def translate(self, texts: Sequence[str], src: str, tgt: str) -> list[str]:
        """Translate each text from ``src`` to ``tgt``; one output per input, in order."""
        ...


@runtime_checkable
class ExplainsMissingRoutes(Protocol):
    def missing(self, src: str) -> str:
        """Why ``src`` cannot be translated, and how to fix it."""
        ...


@runtime_checkable
class NamesModels(Protocol):
    def model_for(self, src: str, tgt: str) -> str | None:
        """The model that translates ``src``->``tgt`` (provenance); None if none does."""
        ...


@runtime_checkable
class KeysCache(Protocol):
    def cache_settings(self) -> dict[str, Any]:
        """The settings that change its outputs (model, decoding), leaving out speed-only ones."""
        ...


@runtime_checkable
class CountsBatches(Protocol):
    def translate_batch(self, texts: Sequence[str], src: str, tgt: str) -> TranslatedBatch:
        """Like ``translate``, with counts of what had to be done to the input."""
        ...


@runtime_checkable
class ChecksTranslationModels(Protocol):
    def unavailable_models(self, languages: Sequence[str], tgt: str) -> list[str]:
        """One line per model that translating ``languages`` into ``tgt`` needs and that is not
        available here (which, for which languages, how to get it), found without loading any."""
        ...


@runtime_checkable
class Routes(Protocol):
    def route(self, src: str, tgt: str) -> "Route | None":
        """The child translator that serves ``src``->``tgt``, or None."""
        ...


@dataclass(frozen=True)
class Route:
    """A router's child: its plugin name (for provenance) and the built translator."""

    name: str
    translator: Translator
    #: The child's validated params (its cache identity when it has no ``cache_settings``).
    params: BaseModel


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


@runtime_checkable
class Explainer(Protocol):
    """Optional for rankers: say why items were chosen. Called only for the
    items finally recommended, so it may be slower than scoring."""

    def explain(self, query: Query, item_ids: Sequence[str]) -> list[str | None]: ...


@runtime_checkable
class Persists(Protocol):
    """Optional for rankers: write the built index into a folder and read it back.

    ``pivotrec index`` calls ``save`` after ``index``; ``pivotrec serve`` calls
    ``load`` instead of ``index``. Plain JSON and numeric arrays only, never
    pickle, so a crafted index folder cannot run code. A ranker without it is
    indexed again from the saved documents and vectors when an index loads.
    """

    def save(self, directory: Path) -> None: ...

    def load(self, directory: Path) -> None: ...


@runtime_checkable
class Updates(Protocol):
    """Optional for rankers: follow an upsert or delete without indexing the whole catalogue again.

    ``pivotrec index --upsert/--delete`` and the service's item updates call it
    on a ranker holding the index being updated (loaded, or as served).
    ``docs`` is the whole new catalogue; ``rows[n]`` is ``docs[n]``'s row in
    the ranker's current index, or -1 where it has none (a new or changed
    text). The result must be what ``index`` over ``docs`` would build. A
    ranker without it is indexed anew over the new catalogue.
    """

    def update(self, docs: Sequence[Document], rows: Sequence[int], vectors: np.ndarray | None, histories: Sequence[Sequence[str]]) -> None: ...


#: Members the registry requires of each kind when it loads a plugin.
REQUIRED_MEMBERS: dict[PluginKind, tuple[str, ...]] = {
    "detector": ("detect",),
    "translator": ("supports", "translate"),
    "encoder": ("encode", "multilingual"),
    "ranker": ("index", "search", "needs_vectors"),
}

#: Optional methods, per kind; if a plugin has one it must be callable.
OPTIONAL_METHODS: dict[PluginKind, tuple[str, ...]] = {
    "detector": ("warm_up", "unavailable_models"),
    "translator": ("warm_up", "missing", "model_for", "cache_settings", "translate_batch", "route", "unavailable_models"),
    "encoder": ("warm_up", "unavailable_models"),
    "ranker": ("warm_up", "explain", "save", "load", "update"),
}
