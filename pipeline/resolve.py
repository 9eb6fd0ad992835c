"""Resolve every ``{plugin, params}`` of a config, at any depth, once.

Resolving a plugin reference loads its class (by entry-point name, nothing
else imported), validates its params against the class's ``Params`` schema,
makes relative paths absolute against the config's folder (``Path``,
``list[Path]``, ``dict`` values that are paths, in nested models too) and
resolves the plugin references found in its params (a router's routes, a
ranker's encoder) the same way. Every problem is reported at its own dotted
path, e.g. ``translator.params.routes.es[0].params.table``. No model loads.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ValidationError

from pivotrec.pipeline import registry
from pivotrec.pipeline.errors import PivotrecError
from pivotrec.pipeline.refs import PluginRef, ResolvedPlugin, plugin_refs


def dotted(loc: tuple[int | str, ...], prefix: str = "") -> str:
    out = prefix
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<root>"


def describe(errors: ValidationError, prefix: str = "", schema: type[BaseModel] | None = None) -> list[str]:
    """Each validation error as ``dotted.path: message, got value``; an unknown key
    also names the closest key ``schema`` allows there (``did you mean 'recommend'?``)."""
    problems = []
    for err in errors.errors():
        message = err["msg"]
        loc = tuple(err["loc"])
        if err["type"] == "extra_forbidden" and schema is not None and loc:
            close = difflib.get_close_matches(str(loc[-1]), _keys_at(schema, loc[:-1]), n=1)
            message += f"; did you mean {close[0]!r}?" if close else ""
        elif err["type"] != "missing" and "input" in err and not isinstance(err["input"], dict):
            message += f", got {err['input']!r}"
        problems.append(f"{dotted(loc, prefix)}: {message}")
    return problems


def _keys_at(schema: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The keys a schema allows at ``loc`` (list indexes and dict keys passed through)."""
    annotation: Any = schema
    for part in loc:
        model = _model_in(annotation)
        if model is None:
            return []
        if isinstance(part, str) and part in model.model_fields:
            annotation = model.model_fields[part].annotation
        else:  # a list index, a dict key, or a union member's tag: look inside the container
            annotation = _element(annotation)
    model = _model_in(annotation)
    return list(model.model_fields) if model is not None else []


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model an annotation names, through Optional/Union."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _element(annotation: Any) -> Any:
    """The element type of a list or the value type of a dict annotation (through Optional)."""
    for candidate in (annotation, *get_args(annotation)):
        if get_origin(candidate) in (list, dict):
            return get_args(candidate)[-1]
    return annotation


def resolve_paths(value: Any, base_dir: Path) -> Any:
    """``value`` with every relative Path made absolute against ``base_dir``, at any depth."""
    if isinstance(value, Path):
        value = value.expanduser()
        return value if value.is_absolute() else (base_dir / value).resolve()
    if isinstance(value, PluginRef):
        # Raw params are resolved with the plugin's own schema, when it is resolved.
        updates = {n: resolve_paths(getattr(value, n), base_dir) for n in type(value).model_fields if n != "params"}
        return _copy_with_private(value, updates)
    if isinstance(value, BaseModel):
        return _copy_with_private(value, {n: resolve_paths(getattr(value, n), base_dir) for n in type(value).model_fields})
    if isinstance(value, list):
        return [resolve_paths(v, base_dir) for v in value]
    if isinstance(value, tuple):
        return tuple(resolve_paths(v, base_dir) for v in value)
    if isinstance(value, dict):
        return {k: resolve_paths(v, base_dir) for k, v in value.items()}
    return value


def _copy_with_private(model: BaseModel, updates: dict[str, Any]) -> BaseModel:
    changed = {name: new for name, new in updates.items() if new is not getattr(model, name)}
    return model.model_copy(update=changed) if changed else model


def resolve_ref(ref: PluginRef, path: str, base_dir: Path | None) -> list[str]:
    """Resolve ``ref`` and everything below it; returns the problems found (empty when fine)."""
    try:
        cls = registry.load(ref.kind, ref.plugin)
    except PivotrecError as exc:
        return [f"{path}.plugin: {exc}"]
    try:
        params = cls.Params.model_validate(ref.params)
    except ValidationError as exc:
        return describe(exc, f"{path}.params", cls.Params)
    if base_dir is not None:
        params = resolve_paths(params, base_dir)
    problems: list[str] = []
    for child_path, child in plugin_refs(params, f"{path}.params"):
        problems += resolve_ref(child, child_path, base_dir)
    ref._resolved = ResolvedPlugin(ref.kind, ref.plugin, cls, params, path)
    return problems


def resolve_all(root: BaseModel, base_dir: Path | None) -> list[str]:
    """Resolve every plugin reference in a config model; the problems of all of them."""
    problems: list[str] = []
    for path, ref in plugin_refs(root, ""):
        problems += resolve_ref(ref, path, base_dir)
    return problems
