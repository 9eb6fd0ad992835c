"""Plugin discovery through Python entry points.

Each plugin kind has one entry-point group. Names are listed from package
metadata without importing anything; only the plugin a config selects is
loaded. pivotrec's own built-ins register exactly as a third-party package
would, in ``pyproject.toml``.
"""

from __future__ import annotations

import difflib
import inspect
import re
import types
import warnings
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Annotated, Any, Literal, Union, get_args, get_origin, overload

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from pivotrec.pipeline.errors import PluginLoadError, PluginNameWarning, UnknownPluginError
from pivotrec.pipeline.protocols import (
    OPTIONAL_METHODS,
    REQUIRED_MEMBERS,
    Detector,
    Encoder,
    PluginKind,
    Ranker,
    Translator,
)

__all__ = [
    "GROUPS", "PluginInfo", "PluginKind", "PluginOption", "description", "docstring", "find", "installed", "installed_names", "load",
    "options", "unknown_plugin_message",
]

GROUPS: dict[PluginKind, str] = {
    "detector": "pivotrec.detectors",
    "translator": "pivotrec.translators",
    "encoder": "pivotrec.encoders",
    "ranker": "pivotrec.rankers",
}


@dataclass(frozen=True)
class PluginInfo:
    """One installed plugin as package metadata describes it (nothing imported)."""

    kind: PluginKind
    name: str
    value: str
    distribution: str | None
    version: str | None


def _entry_points(kind: PluginKind) -> dict[str, EntryPoint]:
    # A name registered twice (two distributions) keeps the last one, as
    # importlib does; listing shows both, and loading it warns (_warn_if_shadowed).
    return {ep.name: ep for ep in entry_points(group=GROUPS[kind])}


def _distribution(ep: EntryPoint) -> str:
    return ep.dist.name if ep.dist else "an unknown distribution"


def _warn_if_shadowed(kind: PluginKind, chosen: EntryPoint) -> None:
    """Warn when another distribution registers the same name: a third-party package
    that takes a built-in's name silently replaces it otherwise."""
    others = [ep for ep in entry_points(group=GROUPS[kind]) if ep.name == chosen.name and ep.value != chosen.value]
    if others:
        shadowed = ", ".join(f"{_distribution(ep)} ({ep.value})" for ep in others)
        warnings.warn(
            f"{kind} plugin name {chosen.name!r} is registered more than once; using {_distribution(chosen)} ({chosen.value}), "
            f"not {shadowed}. Uninstall one of them, or rename the third-party plugin.",
            PluginNameWarning,
            stacklevel=3,
        )


def installed(kind: PluginKind) -> list[PluginInfo]:
    """Every installed plugin of ``kind``, sorted by name, without importing them."""
    infos = []
    for ep in entry_points(group=GROUPS[kind]):
        dist = ep.dist
        infos.append(
            PluginInfo(
                kind=kind,
                name=ep.name,
                value=ep.value,
                distribution=dist.name if dist else None,
                version=dist.version if dist else None,
            )
        )
    return sorted(infos, key=lambda i: (i.name, i.distribution or ""))


def installed_names(kind: PluginKind) -> list[str]:
    return sorted(_entry_points(kind))


def _did_you_mean(name: str, names: list[str]) -> str:
    close = difflib.get_close_matches(name, names, n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def unknown_plugin_message(kind: PluginKind, name: str) -> str:
    """``unknown translator 'mariann' (...). Installed: a, b. Did you mean 'marian'?``"""
    names = installed_names(kind)
    return f"unknown {kind} {name!r} (entry-point group {GROUPS[kind]!r}). Installed: {', '.join(names) or 'none'}." + _did_you_mean(name, names)


def find(name: str) -> list[PluginInfo]:
    """The installed plugins called ``name``, of any kind (one per kind); raises
    UnknownPluginError listing every installed name, with the closest, when there is none."""
    everything = [info for kind in GROUPS for info in installed(kind)]
    found = [info for info in everything if info.name == name]
    if not found:
        names = sorted({info.name for info in everything})
        raise UnknownPluginError(f"unknown plugin {name!r}. Installed: {', '.join(names) or 'none'}." + _did_you_mean(name, names))
    # A name registered twice for one kind loads the last registration (see _entry_points).
    return list({info.kind: info for info in found}.values())


@overload
def load(kind: Literal["detector"], name: str) -> type[Detector]: ...
@overload
def load(kind: Literal["translator"], name: str) -> type[Translator]: ...
@overload
def load(kind: Literal["encoder"], name: str) -> type[Encoder]: ...
@overload
def load(kind: Literal["ranker"], name: str) -> type[Ranker]: ...
@overload
def load(kind: PluginKind, name: str) -> type[Any]: ...
def load(kind: PluginKind, name: str) -> type[Any]:
    """Import and check the plugin class registered as ``name`` for ``kind``.

    Raises UnknownPluginError listing what is installed, or PluginLoadError
    naming the plugin and its entry point: when it fails to import, is not a
    class with a pydantic ``Params`` schema, lacks a member its kind requires,
    or has an optional member (``warm_up``, ``missing``...) that is not callable.
    """
    ep = _entry_points(kind).get(name)
    if ep is None:
        raise UnknownPluginError(unknown_plugin_message(kind, name))
    _warn_if_shadowed(kind, ep)
    where = f"{kind} plugin {name!r} ({ep.value})"
    try:
        cls = ep.load()
    except (Exception, SystemExit) as exc:  # a module that calls sys.exit() on import is just as broken
        raise PluginLoadError(f"{where} failed to import: {type(exc).__name__}: {exc}") from exc
    params = getattr(cls, "Params", None)
    if not isinstance(cls, type) or not (isinstance(params, type) and issubclass(params, BaseModel)):
        raise PluginLoadError(f"{where} is not a plugin class with a pydantic 'Params' schema")
    # Attributes such as an encoder's ``multilingual`` are declared on the class
    # (an instance may override them from its params).
    missing = [m for m in REQUIRED_MEMBERS[kind] if not hasattr(cls, m)]
    if missing:
        raise PluginLoadError(f"{where} lacks what a {kind} must have: {', '.join(missing)} (see pivotrec.pipeline.protocols)")
    not_callable = [m for m in OPTIONAL_METHODS[kind] if hasattr(cls, m) and not callable(getattr(cls, m))]
    if not_callable:
        raise PluginLoadError(f"{where}: {', '.join(not_callable)} must be a method")
    return cls



@dataclass(frozen=True)
class PluginOption:
    """One option of a plugin's ``Params``, as ``pivotrec plugins NAME`` shows it."""

    name: str
    type: str
    #: The default as Python writes it; None when the option is required.
    default: str | None
    doc: str


def docstring(cls: type[Any]) -> str:
    """A plugin class's docstring (else its module's), dedented, with reST's double backquotes
    made single; what ``pivotrec plugins NAME`` prints."""
    module = inspect.getmodule(cls)
    said = inspect.getdoc(cls) or (inspect.cleandoc(module.__doc__) if module is not None and module.__doc__ else None)
    return (said or "(no description)").replace("``", "`")


def description(cls: type[Any]) -> str:
    """The first sentence of a plugin class's docstring, on one line: what ``pivotrec plugins`` lists."""
    first = " ".join(docstring(cls).split("\n\n")[0].split())
    return re.split(r"(?<=\.)\s", first, maxsplit=1)[0]


def options(cls: type[Any]) -> list[PluginOption]:
    """Every option of ``cls.Params``: name, type, default, and its doc (the field's
    ``description``, else the ``#:`` comment above it in the source)."""
    params: type[BaseModel] = cls.Params
    comments = _comment_docs(params)
    return [
        PluginOption(name, _type_name(field.annotation) + _constraints(field), _default(field), field.description or comments.get(name, ""))
        for name, field in params.model_fields.items()
    ]


#: ``#: text`` comment lines, and a field declaration (``name: type``), in a class's source.
_COMMENT = re.compile(r"^\s*#:\s?(.*)$")
_FIELD = re.compile(r"^\s*(\w+)\s*:")


def _comment_docs(params: type[BaseModel]) -> dict[str, str]:
    """Field name -> the ``#:`` comment lines right above its declaration, base classes first
    so a subclass's own comment wins. A class whose source cannot be read gives none."""
    docs: dict[str, str] = {}
    for klass in reversed(params.__mro__):
        if not (isinstance(klass, type) and issubclass(klass, BaseModel)) or klass is BaseModel:
            continue
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        pending: list[str] = []
        for line in source.splitlines():
            comment, declared = _COMMENT.match(line), _FIELD.match(line)
            if comment:
                pending.append(comment.group(1).strip())
                continue
            if declared and pending:
                docs[declared.group(1)] = " ".join(pending)
            pending = []
    return docs


def _type_name(annotation: Any) -> str:
    """A type as a config writer reads it: ``int | None``, ``'cpu' | 'cuda'``, ``dict[str, TranslatorRef]``."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _type_name(args[0])
    if origin is Literal:
        return " | ".join(repr(arg) for arg in args)
    if origin in (Union, types.UnionType):
        return " | ".join(_type_name(arg) for arg in args)
    if annotation is type(None):
        return "None"
    if origin is not None:
        return f"{getattr(origin, '__name__', str(origin))}[{', '.join(_type_name(arg) for arg in args)}]"
    return getattr(annotation, "__name__", str(annotation))


def _constraints(field: FieldInfo) -> str:
    """A field's bounds, e.g. `` (ge=1)``."""
    bounds = [f"{key}={value}" for rule in field.metadata for key in ("gt", "ge", "lt", "le", "min_length", "max_length") if (value := getattr(rule, key, None)) is not None]
    return f" ({', '.join(bounds)})" if bounds else ""


def _default(field: FieldInfo) -> str | None:
    if field.is_required():
        return None
    if field.default_factory is not None:
        return repr(field.get_default(call_default_factory=True))
    return repr(field.default)
