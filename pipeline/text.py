"""Text normalisation shared by every path, pivot and direct alike.

Two steps, each applied once per text:

- :func:`clean`, before language detection: Unicode NFC, markup stripping with
  entity decoding, and whitespace tidying. Its output is plain text.
- :func:`punctuate`, once the language is known: Moses punctuation rules, then
  the same whitespace tidying. It never decodes entities or strips markup, so
  ``&amp;amp;`` cleaned to ``&amp;`` stays ``&amp;``.

Decoding entities turns HTML into plain text; it is not idempotent by nature
(``&amp;amp;`` → ``&amp;`` → ``&``), which is why it happens in ``clean`` only.
On plain text both steps are idempotent:
``clean(clean(x), html_markup=False) == clean(x)`` and
``punctuate(punctuate(c, lang), lang) == punctuate(c, lang)``.
"""

from __future__ import annotations

import html
import re
import unicodedata
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sacremoses import MosesPunctNormalizer

# Every character Python treats as a line boundary (str.splitlines) becomes
# "\n" before Moses sees the text. A form feed used to reach Moses untouched and
# become a space only after it, so "0\f:" gave "0 :" once and "0:" the next
# time. U+2029 separates paragraphs, so it becomes a blank line.
_LINE_SEPARATOR = re.compile("\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028]")
_PARAGRAPH_SEPARATOR = "\u2029"
# Runs of other whitespace become one space; line breaks survive (a blank line
# is a paragraph break, which sentence-level translation keeps).
_SPACE = re.compile(r"[^\S\n]+")
_LINE_BREAKS = re.compile(r" ?\n[ \n]*")
_WHITESPACE_RUN = re.compile(r"(\s+)")

# The HTML elements (current and common obsolete ones). A "<name ...>" whose
# name is not among them is literal text: "x<y and y>z" compares, it is no tag.
_ELEMENTS = frozenset(
    "a abbr acronym address area article aside audio b base bdi bdo big blockquote body br button canvas caption "
    "center cite code col colgroup data datalist dd del details dfn dialog dir div dl dt em embed fieldset figcaption "
    "figure font footer form frame frameset h1 h2 h3 h4 h5 h6 head header hgroup hr html i iframe img input ins kbd "
    "label legend li link main map mark menu meta meter nav noscript object ol optgroup option output p param picture "
    "pre progress q rp rt ruby s samp script search section select slot small source span strike strong style sub "
    "summary sup table tbody td template textarea tfoot th thead time title tr track tt u ul var video wbr".split()
)
# Prose between angle brackets parses as valueless attributes ("<b and c>"),
# so only HTML's boolean attributes may go without a value.
_BOOLEAN_ATTRIBUTES = frozenset(
    "allowfullscreen async autofocus autoplay checked controls default defer disabled formnovalidate hidden inert "
    "ismap itemscope loop multiple muted nomodule novalidate open playsinline readonly required reversed selected".split()
)
# Elements whose content is never readable text: dropped with their content.
_HIDDEN_ELEMENTS = frozenset({"script", "style", "template", "noscript"})
# Block elements end a line, so list items and cells do not run together;
# paragraphs are separated by a blank line. Consecutive block boundaries
# share their breaks, as in a browser's innerText.
_PARAGRAPH_ELEMENTS = frozenset({"p"})
_LINE_ELEMENTS = frozenset(
    "address article aside blockquote body caption dd details dialog div dl dt fieldset figcaption figure footer form "
    "h1 h2 h3 h4 h5 h6 header hgroup hr html li main nav ol pre section summary table tbody td tfoot th thead tr ul".split()
)

_ATTRIBUTE = re.compile(r"""\s+(?P<attribute>[^\s"'<>/=]+)(?P<value>\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'<>=`]+))?""")
_MARKUP = re.compile(
    rf"""
    (?P<comment><!--.*?-->)
    | (?P<doctype><!doctype(?:\s[^<>]*)?>)
    | <(?P<end>/)?(?P<name>[a-z][a-z0-9]*)(?P<attributes>(?:{_ATTRIBUTE.pattern})*)\s*/?>
    """,
    re.IGNORECASE | re.DOTALL | re.VERBOSE,
)


def _is_element_tag(match: re.Match[str]) -> bool:
    """A start or end tag of a known element, written as HTML writes it."""
    if match["name"].lower() not in _ELEMENTS:
        return False
    if match["end"]:
        return not match["attributes"]
    return all(attribute["value"] or attribute["attribute"].lower() in _BOOLEAN_ATTRIBUTES for attribute in _ATTRIBUTE.finditer(match["attributes"]))


def _unify_line_breaks(text: str) -> str:
    return _LINE_SEPARATOR.sub("\n", text.replace(_PARAGRAPH_SEPARATOR, "\n\n"))


def _markup_pieces(text: str) -> list[str | int]:
    """Decoded text pieces, with an int (line breaks required) where a block element starts or ends."""
    pieces: list[str | int] = []
    position = 0
    search_from = 0
    unclosed: set[str] = set()  # hidden elements with no end tag from here on
    while match := _MARKUP.search(text, search_from):
        if not (match["comment"] or match["doctype"] or _is_element_tag(match)):
            search_from = match.start() + 1  # literal "<": a tag may still start inside it
            continue
        pieces.append(html.unescape(text[position : match.start()]))
        position = match.end()
        name = (match["name"] or "").lower()
        if name in _HIDDEN_ELEMENTS and not match["end"] and name not in unclosed:
            closing = re.compile(rf"</{name}\s*>", re.IGNORECASE).search(text, position)
            if closing:
                position = closing.end()
            else:  # a stray tag: the text after it stays
                unclosed.add(name)
        if name == "br":
            pieces.append("\n")
        elif name in _PARAGRAPH_ELEMENTS:
            pieces.append(2)
        elif name in _LINE_ELEMENTS:
            pieces.append(1)
        search_from = position
    pieces.append(html.unescape(text[position:]))
    return pieces


def _strip_markup(text: str) -> str:
    """Drop tags, comments and hidden elements, decode entities, and turn block elements into line breaks."""
    out: list[str] = []
    gap = ""  # whitespace since the last visible text
    required = 0  # line breaks that block elements in the gap ask for
    for piece in _markup_pieces(text):
        if isinstance(piece, int):
            required = max(required, piece)
            continue
        for run in _WHITESPACE_RUN.split(piece):
            if not run:
                continue
            if run.isspace():
                gap += run
                continue
            if required and out:
                out.append("\n" * max(required, min(2, _unify_line_breaks(gap).count("\n"))))
            else:
                out.append(gap)
            out.append(run)
            gap, required = "", 0
    if not required:
        out.append(gap)
    return "".join(out)


def _tidy_whitespace(text: str) -> str:
    text = _SPACE.sub(" ", _unify_line_breaks(text))
    text = _LINE_BREAKS.sub(lambda m: "\n\n" if m.group().count("\n") > 1 else "\n", text)
    return text.strip()


def clean(text: str, *, html_markup: bool = True) -> str:
    r"""Plain text for language detection: markup stripped, NFC, whitespace tidied.

    With ``html_markup`` (the default), well-formed tags of known HTML elements
    and comments are dropped, ``script``/``style`` content with them, entities
    are decoded, and block elements (``p``, ``li``, ``br``, ``div``, ``td``,
    headings, ...) become line breaks, a blank line after a paragraph. Angle
    brackets that are no tag (``a < b``, ``x<y and y>z``) stay. Without it the
    text is taken as plain text and entities stay as written.

    All Unicode line separators become ``"\n"`` (U+2029 a blank line), other
    whitespace a single space. Returns ``""`` when nothing readable is left
    (``<b></b>``, ``<script>…</script>``); the caller decides what that means.
    """
    if html_markup:
        text = _strip_markup(text)
    # NFC after decoding: "e&#769;" is "e" and a combining accent until composed.
    return _tidy_whitespace(unicodedata.normalize("NFC", text))


_MAX_MOSES_PASSES = 16


@lru_cache(maxsize=64)
def _moses(lang: str) -> MosesPunctNormalizer:
    from sacremoses import MosesPunctNormalizer

    return MosesPunctNormalizer(lang=lang)


def punctuate(text: str, lang: str) -> str:
    """Moses punctuation normalisation for ``lang`` (ISO 639-1) with whitespace tidied, until stable.

    Expects :func:`clean`'s output: it decodes no entities and strips no markup.
    Moses sees the tidied whitespace, so no-break spaces are plain spaces by then.
    """
    moses = _moses(lang)
    # A Moses rule is one regex pass, and a pass can expose a match for the
    # next ('.""0' → '"."0' → '"".0' in French), so repeat until nothing
    # changes. Passes only move quotes one way past "," and "." or rewrite a
    # character for good, so they settle (at most four in 30,000 random texts);
    # the cap only guards against a hang.
    for _ in range(_MAX_MOSES_PASSES):
        punctuated = _tidy_whitespace(moses.normalize(text))
        if punctuated == text:
            break
        text = punctuated
    return text


def normalise(text: str, lang: str | None = None, *, html_markup: bool = True, moses_punctuation: bool = True) -> str:
    """:func:`clean`, then :func:`punctuate` when ``lang`` is known and ``moses_punctuation`` is on.

    For one-shot use (translation tables); the pipeline calls the two steps
    itself, ``punctuate`` only after detection.
    """
    text = clean(text, html_markup=html_markup)
    if moses_punctuation and lang:
        text = punctuate(text, lang)
    return text


# Han, Hiragana, Katakana, Hangul and Thai have no spaces between words; each
# character becomes a token so untranslated text in them stays searchable.
_PER_CHARACTER = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\u0e00-\u0e7f"
_TOKEN = re.compile(f"[{_PER_CHARACTER}]|[^\\W_{_PER_CHARACTER}]+")


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens for lexical ranking (CJK and Thai per character)."""
    return _TOKEN.findall(text.lower())
