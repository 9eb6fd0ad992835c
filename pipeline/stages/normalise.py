from __future__ import annotations

from collections.abc import Sequence

from pipeline.text import normalise


class NormaliseStage:
    """Unicode NFC, HTML stripping, Moses punctuation where the language is known, whitespace."""

    def __init__(self, html_markup: bool = True, moses_punctuation: bool = True) -> None:
        self.html_markup = html_markup
        self.moses_punctuation = moses_punctuation

    def run(self, texts: Sequence[str], langs: Sequence[str | None]) -> list[str]:
        return [
            normalise(text, lang, html_markup=self.html_markup, moses_punctuation=self.moses_punctuation)
            for text, lang in zip(texts, langs, strict=True)
        ]
