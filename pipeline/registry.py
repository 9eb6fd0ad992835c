"""Plugin discovery through Python entry points.

Each plugin kind has one entry-point group. Names are listed from package
metadata without importing anything; only the plugin a config selects is
loaded. pivotrec's own built-ins register exactly as a third-party package
would, in ``pyproject.toml``.
"""

from __future__ import annotations

import difflib
import warnings
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Literal, overload

from pydantic import BaseModel

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

__all__ = ["GROUPS", "PluginInfo", "PluginKind", "installed", "installed_names", "load", "unknown_plugin_message"]

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


def unknown_plugin_message(kind: PluginKind, name: str) -> str:
    """``unknown translator 'mariann' (...). Installed: a, b. Did you mean 'marian'?``"""
    names = installed_names(kind)
    message = f"unknown {kind} {name!r} (entry-point group {GROUPS[kind]!r}). Installed: {', '.join(names) or 'none'}."
    close = difflib.get_close_matches(name, names, n=1)
    if close:
        message += f" Did you mean {close[0]!r}?"
    return message


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

