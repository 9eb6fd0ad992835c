"""Text normalisation shared by every path, pivot and direct alike."""

from __future__ import annotations

import html
import re
import unicodedata
from functools import lru_cache
from html.parser import HTMLParser

# Runs of spaces and tabs become one space; line breaks survive (a blank line
# is a paragraph break, which sentence-level translation keeps).
_SPACE = re.compile(r"[^\S\n]+")
_LINE_BREAKS = re.compile(r" *\n[\s]*")
_TAG_HINT = re.compile(r"<[A-Za-z/!][^>]*>")
# Tags whose content is never readable text.
_SKIPPED_TAGS = {"script", "style", "template", "noscript"}
# Block-level tags become spaces so words on either side do not merge.
_BLOCK_TAGS = {"p", "br", "div", "li", "ul", "ol", "tr", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article"}


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS and self._skipping:
            self._skipping -= 1
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def strip_html(text: str) -> str:
    """Drop markup and decode entities; text without tags is only unescaped."""
    if not _TAG_HINT.search(text):
        return html.unescape(text)
    extractor = _TextExtractor()
    extractor.feed(text)
    extractor.close()
    return "".join(extractor.parts)


@lru_cache(maxsize=64)
def _moses(lang: str):  # type: ignore[no-untyped-def]
    from sacremoses import MosesPunctNormalizer

    return MosesPunctNormalizer(lang=lang)


def normalise(text: str, lang: str | None = None, *, html_markup: bool = True, moses_punctuation: bool = True) -> str:
    """NFC, optional HTML stripping, Moses punctuation (when ``lang`` is known), collapsed whitespace.

    Paragraph breaks (blank lines) stay as ``"\n\n"`` and line breaks as ``"\n"``.
    """
    text = unicodedata.normalize("NFC", text)
    if html_markup:
        text = strip_html(text)
    if moses_punctuation and lang:
        text = _moses(lang).normalize(text)
    text = _SPACE.sub(" ", text)
    text = _LINE_BREAKS.sub(lambda m: "\n\n" if m.group().count("\n") > 1 else "\n", text)
    return text.strip()


# Han, Hiragana, Katakana, Hangul and Thai have no spaces between words; each
# character becomes a token so untranslated text in them stays searchable.
_PER_CHARACTER = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\u0e00-\u0e7f"
_TOKEN = re.compile(f"[{_PER_CHARACTER}]|[^\\W_{_PER_CHARACTER}]+")


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens for lexical ranking (CJK and Thai per character)."""
    return _TOKEN.findall(text.lower())
