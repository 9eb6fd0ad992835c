"""Build resolved plugins: each once, children first, then warm them up once.

The config layer has already resolved every plugin reference (class, checked
params, absolute paths). The builder constructs each plugin, handing a parent
its built children (``PluginRef.instance``), and remembers what it built so
``warm_up`` runs once per plugin, in the process that will use it: the local
engine's or a Ray actor's.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pivotrec.pipeline.config import TranslatorSpec
from pivotrec.pipeline.errors import ConfigError, PluginLoadError, stage_errors
from pivotrec.pipeline.model_store import unavailable_error, unavailable_in
from pivotrec.pipeline.protocols import PluginKind, WarmsUp
from pivotrec.pipeline.refs import REF_TYPES, PluginRef
from pivotrec.pipeline.resolve import resolve_ref
from pivotrec.pipeline.stages.translate import NamedTranslator, TranslateStage
from pivotrec.pipeline.translation_cache import TranslationCache


class Builder:
    """Builds plugins from resolved references.

    Detectors, translators and encoders with the same name and params are
    built once and shared (two routes to one Apertium, two rankers reading
    one encoder's vectors); rankers hold an index each, so every ranker
    reference gets its own.
    """

    def __init__(self) -> None:
        self._shared: dict[str, Any] = {}
        self._warm: set[int] = set()

    def build(self, ref: PluginRef) -> Any:
        resolved = ref.resolved
        for child in resolved.references():
            self.build(child)
        shareable = resolved.kind != "ranker"
        if shareable and resolved.identity in self._shared:
            instance = self._shared[resolved.identity]
        else:
            try:
                instance = resolved.cls(resolved.params)
            except Exception as exc:
                raise PluginLoadError(f"{resolved.path}: {resolved.kind} {resolved.name!r} failed to build: {type(exc).__name__}: {exc}") from exc
            if shareable:
                self._shared[resolved.identity] = instance
        ref._instance = instance
        return instance

    def check_available(self, refs: Iterable[PluginRef | None]) -> None:
        """Name in one error every model the detectors and encoders of ``refs`` lack, loading none."""
        missing = unavailable_in((f"{r.kind} {r.plugin!r}", r.instance) for r in refs if r is not None and r.kind in ("detector", "encoder") and id(r.instance) not in self._warm)
        if missing:
            raise unavailable_error(missing)

    def warm_up(self, refs: Iterable[PluginRef | None]) -> None:
        """Call ``warm_up()`` once on each built plugin of ``refs`` and below them, children first;
        first, every model their detectors and encoders lack is named in one error."""
        refs = list(refs)
        self.check_available(refs)
        for ref in refs:
            if ref is None:
                continue
            self.warm_up(ref.resolved.references())
            instance = ref.instance
            if id(instance) in self._warm or not isinstance(instance, WarmsUp):
                continue
            with stage_errors("warm-up", f"{ref.kind} {ref.plugin!r} ({ref.resolved.path})"):
                instance.warm_up()
            self._warm.add(id(instance))

    def translate_stage(self, spec: TranslatorSpec | None, pivot: str) -> TranslateStage:
        """The translate stage a translator spec describes (None: the direct path, nothing translated)."""
        if spec is None:
            return TranslateStage(None, pivot, on_error="stop")
        fallback = spec.fallback
        return TranslateStage(
            self._named(spec),
            pivot,
            spec.on_missing,
            fallback=self._named(fallback) if fallback is not None else None,
            cache=TranslationCache(spec.cache) if spec.cache else None,
            on_error=spec.on_error,
        )

    def _named(self, ref: PluginRef) -> NamedTranslator:
        return NamedTranslator(ref.plugin, self.build(ref), params=ref.resolved.params)


def ready_plugin(kind: PluginKind, name: str, params: dict[str, Any] | None = None) -> Any:
    """One plugin resolved, built and warmed up outside any config (benchmarks, notebooks, tests)."""
    ref = REF_TYPES[kind](plugin=name, params=params or {})
    problems = resolve_ref(ref, kind, base_dir=None)
    if problems:
        raise ConfigError(f"{kind} {name!r}", problems)
    builder = Builder()
    plugin = builder.build(ref)
    builder.warm_up([ref])
    return plugin
