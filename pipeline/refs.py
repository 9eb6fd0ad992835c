"""References from a config (or a plugin's options) to plugins, and what they resolve to.

A ``PluginRef`` is what YAML writes: ``name`` or ``{plugin: name, params: {...}}``.
The config layer resolves it into a ``ResolvedPlugin`` (class, checked params,
absolute paths, its own references resolved) and the builder builds it,
children first; a parent plugin reads a built child from ``ref.instance``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from pivotrec.pipeline.protocols import PluginKind

P = TypeVar("P")


class PluginRef(BaseModel):
    """An option whose value is another plugin, e.g. a router's routes.

    Written ``name`` or ``{plugin: name, params: {...}}`` in YAML. The config
    layer resolves it (schema, paths, its own nested references), reporting
    problems at their own dotted path, and the builder builds it before its
    parent: the parent reads the built plugin from ``instance``.
    """

    model_config = ConfigDict(extra="forbid")
    #: The plugin kind this option expects; subclasses fix it.
    kind: ClassVar[PluginKind]

    plugin: str
    params: dict[str, Any] = Field(default_factory=dict)
    _resolved: ResolvedPlugin[Any] | None = PrivateAttr(default=None)
    _instance: Any = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _name_alone(cls, value: Any) -> Any:
        return {"plugin": value} if isinstance(value, str) else value

    @property
    def resolved(self) -> ResolvedPlugin[Any]:
        if self._resolved is None:
            raise RuntimeError(f"{self.kind} {self.plugin!r} was not resolved: load configs through pivotrec.pipeline.config")
        return self._resolved

    @property
    def instance(self) -> Any:
        """The built plugin (set by the builder before the parent is constructed)."""
        if self._instance is None:
            raise RuntimeError(f"{self.kind} {self.plugin!r} was not built: build plugins through pivotrec.pipeline.build")
        return self._instance

    def __getstate__(self) -> dict[Any, Any]:
        # A built instance may hold loaded models: a copy sent to a Ray actor builds its own.
        state = super().__getstate__()
        private = dict(state.get("__pydantic_private__") or {})
        private["_instance"] = None
        return {**state, "__pydantic_private__": private}


class DetectorRef(PluginRef):
    kind: ClassVar[PluginKind] = "detector"


class TranslatorRef(PluginRef):
    kind: ClassVar[PluginKind] = "translator"


class EncoderRef(PluginRef):
    kind: ClassVar[PluginKind] = "encoder"


class RankerRef(PluginRef):
    kind: ClassVar[PluginKind] = "ranker"


REF_TYPES: dict[PluginKind, type[PluginRef]] = {"detector": DetectorRef, "translator": TranslatorRef, "encoder": EncoderRef, "ranker": RankerRef}


@dataclass(frozen=True, eq=False)
class ResolvedPlugin(Generic[P]):
    """A plugin class with its validated, path-resolved params, ready to build."""

    kind: PluginKind
    name: str
    cls: type[P]
    params: BaseModel
    #: Where it sits in the config, for messages: ``translator.params.routes.es[0]``.
    path: str

    @property
    def identity(self) -> str:
        """What makes two plugins interchangeable: kind, name and every param."""
        return json.dumps([self.kind, self.name, self.params.model_dump(mode="json")], sort_keys=True, default=str)

    def references(self) -> list[PluginRef]:
        """The plugin references in its params (its children), in order."""
        return [ref for _, ref in plugin_refs(self.params, self.path + ".params")]


def plugin_refs(value: Any, path: str) -> Iterator[tuple[str, PluginRef]]:
    """Every PluginRef inside ``value`` (models, lists, dicts), with its dotted path.

    A reference's own ``params`` are not searched (they are raw until the
    reference is resolved), but its other fields are (a ranker's ``encoder``).
    """
    if isinstance(value, PluginRef):
        yield path, value
        for name in type(value).model_fields:
            if name != "params":
                yield from plugin_refs(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from plugin_refs(getattr(value, name), f"{path}.{name}" if path else name)
    elif isinstance(value, (list, tuple)):
        for index, element in enumerate(value):
            yield from plugin_refs(element, f"{path}[{index}]")
    elif isinstance(value, dict):
        for key, element in value.items():
            yield from plugin_refs(element, f"{path}.{key}")


def walk(ref: PluginRef) -> Iterator[ResolvedPlugin[Any]]:
    """A resolved reference and every plugin below it, parents first."""
    resolved = ref.resolved
    yield resolved
    for child in resolved.references():
        yield from walk(child)

