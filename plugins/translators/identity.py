"""The no-translation baseline: the pivot text is the original text."""

from __future__ import annotations

from collections.abc import Sequence

from pivotrec.pipeline.protocols import NoParams, TranslatorInfo


class IdentityTranslator:
    """Returns every text unchanged, for every language pair.

    Unlike leaving the translator out (the direct path), this still runs the
    translate stage, so the run records which texts would have been translated.
    """

    Params = NoParams
    #: A copy: nothing to save by caching it, and not a translation in the counts.
    info = TranslatorInfo(cacheable=False, method="copy")

    def __init__(self, params: NoParams) -> None:
        self.params = params

    def supports(self, src: str, tgt: str) -> bool:
        return True

    def translate(self, texts: Sequence[str], src: str, tgt: str) -> list[str]:
        return list(texts)
