"""NLLB-200: one many-to-many model; languages passed as FLORES-200 codes."""

from __future__ import annotations

from pydantic import Field

from pivotrec.models import load_manifest
from pivotrec.plugins.translators.seq2seq import LanguageCodes, Seq2SeqParams, Seq2SeqTranslator

_MANIFEST = load_manifest("nllb")


class NLLBTranslator(Seq2SeqTranslator):
    """Translates any pair of its 200 languages with one model.

    ISO 639-1 codes are mapped to FLORES-200 codes (``es`` -> ``spa_Latn``)
    through ``models/nllb.yaml``; the source code goes before the text and the
    target code starts the output (CTranslate2's target prefix, transformers'
    forced first token).
    """

    class Params(Seq2SeqParams):
        #: Hugging Face id or local folder of an NLLB-200 (M2M100-architecture) model.
        model: str = _MANIFEST["model"]
        #: Extra or overriding ISO code -> FLORES-200 code mappings.
        codes: dict[str, str] = Field(default_factory=dict)

    def __init__(self, params: Params) -> None:
        super().__init__(params)
        self.params: NLLBTranslator.Params = params
        self.codes = {**_MANIFEST["codes"], **params.codes}
        self.aliases = _MANIFEST["aliases"]

    def flores(self, lang: str) -> str | None:
        lang = lang.lower()
        return self.codes.get(self.aliases.get(lang, lang))

    def model_for(self, src: str, tgt: str) -> str | None:
        return self.params.model if self.flores(src) and self.flores(tgt) else None

    def language_codes(self, src: str, tgt: str) -> LanguageCodes:
        return LanguageCodes(source=self.flores(src), target=self.flores(tgt))

    def missing(self, lang: str) -> str:
        return f"nllb has no FLORES-200 code for {lang!r}; add one under translator.params.codes (e.g. {lang}: xxx_Latn)"
