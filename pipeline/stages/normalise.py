from __future__ import annotations

from collections.abc import Sequence

from pivotrec.pipeline.text import clean, punctuate


class NormaliseStage:
    """Each text is normalised once, in two steps around language detection.

    ``clean`` (NFC, markup stripped, entities decoded, whitespace) runs before
    detection; ``punctuate`` (Moses punctuation, per language) after it, on
    the cleaned text, so nothing is decoded twice (``&amp;amp;`` stays ``&amp;``).
    """

    def __init__(self, html_markup: bool = True, moses_punctuation: bool = True) -> None:
        self.html_markup = html_markup
        self.moses_punctuation = moses_punctuation

    def clean(self, texts: Sequence[str]) -> list[str]:
        return [clean(text, html_markup=self.html_markup) for text in texts]

    def punctuate(self, texts: Sequence[str], langs: Sequence[str]) -> list[str]:
        if not self.moses_punctuation:
            return list(texts)
        return [punctuate(text, lang) if text else text for text, lang in zip(texts, langs, strict=True)]
