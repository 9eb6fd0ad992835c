"""MarianMT (OPUS-MT): one model per source language, into English."""

from __future__ import annotations

from pydantic import Field

from pivotrec.models import load_manifest
from pivotrec.plugins.translators.seq2seq import Seq2SeqParams, Seq2SeqTranslator

_MANIFEST = load_manifest("marian")


class MarianTranslator(Seq2SeqTranslator):
    """Routes each source language to its own MarianMT model.

    Routes come from ``models/marian.yaml`` (``Helsinki-NLP/opus-mt-{src}-en``
    for the languages listed there, a multi-source fallback model for the
    rest) and from ``routes`` in the config, which win. A route is a Hugging
    Face id or a local folder.
    """

    class Params(Seq2SeqParams):
        #: Source language -> model id or folder; adds to and overrides the manifest.
        routes: dict[str, str] = Field(default_factory=dict)
        #: Use the manifest's routes (set false to use only ``routes``).
        manifest: bool = True
        #: Model for languages with no route of their own; null for none.
        fallback_model: str | None = _MANIFEST["fallback"]
        #: Extra language-code aliases (``pb: pt``), on top of the manifest's.
        aliases: dict[str, str] = Field(default_factory=dict)
        #: The language every routed model translates into.
        target: str = _MANIFEST["target"]

    def __init__(self, params: Params) -> None:
        super().__init__(params)
        self.params: MarianTranslator.Params = params
        routes: dict[str, str] = {}
        aliases: dict[str, str] = dict(params.aliases)
        if params.manifest:
            routes = {lang: _MANIFEST["pattern"].format(src=lang) for lang in _MANIFEST["languages"]}
            routes.update(_MANIFEST["models"])
            aliases = {**_MANIFEST["aliases"], **aliases}
        routes.update(params.routes)
        self.routes = routes
        self.aliases = aliases

    def _canonical(self, lang: str) -> str:
        lang = lang.lower()
        return self.aliases.get(lang, lang)

    def model_for(self, src: str, tgt: str) -> str | None:
        if tgt != self.params.target:
            return None
        return self.routes.get(self._canonical(src), self.params.fallback_model)

    def missing(self, lang: str) -> str:
        return (
            f"marian has no model for {lang!r}->{self.params.target!r} and no fallback_model; "
            f"add one under translator.params.routes (e.g. {lang}: Helsinki-NLP/opus-mt-{lang}-{self.params.target} or a local folder)"
        )
