"""Split text into sentences for translation, and put translations back together.

Sentence-level models (MarianMT, NLLB) are trained on single sentences and
degrade or truncate on long inputs, so long text is translated one sentence
at a time. Splitting is lossless: every piece keeps the whitespace that
followed it, so ``"".join(p.text + p.gap for p in split_sentences(t)) == t``
and paragraph breaks survive the round trip.

The rules are language-aware where scripts differ: Chinese and Japanese end
sentences with full-width marks and no space, Hindi and Bengali with the
danda, Arabic-script languages with their own question mark, Thai with a
space; Latin, Cyrillic and Greek text ends a sentence with ``.!?`` before
whitespace, except after a known abbreviation of that language or a single
initial, or before a lower-case word.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

#: Abbreviations (lower case, without the final dot) that do not end a sentence.
ABBREVIATIONS: dict[str, frozenset[str]] = {
    "en": frozenset("mr mrs ms dr prof st vs etc e.g i.e no jan feb mar apr jun jul aug sep sept oct nov dec inc ltd co jr sr fig approx".split()),
    "es": frozenset("sr sra srta dr dra ud uds etc p.ej núm pág art av ee uu".split()),
    "pt": frozenset("sr sra dr dra etc p.ex nº pág art av".split()),
    "fr": frozenset("m mme mlle dr etc p.ex cf av bd".split()),
    "de": frozenset("dr prof nr str z.b u.a usw bzw ca vgl evtl s".split()),
    "it": frozenset("sig sig.ra dott prof ecc es pag".split()),
    "ca": frozenset("sr sra dr etc pàg".split()),
    "nl": frozenset("dhr mevr dr prof bijv enz nr".split()),
}

#: Sentence-final marks that need no following space (full-width and Indic).
_UNSPACED_ENDS = "。！？｡"
_INDIC_ENDS = "।॥"
_SPACED_ENDS = ".!?؟۔…"
_CLOSERS = "\"'”’»)]}」』）"

_PARAGRAPH = re.compile(r"\n\s*")


@dataclass(frozen=True)
class Piece:
    """A sentence and the whitespace after it (``"\\n\\n"`` marks a paragraph break)."""

    text: str
    gap: str


def _sentence_ends(paragraph: str, lang: str) -> list[int]:
    """Offsets just past each sentence end inside a paragraph (without its gap)."""
    abbreviations = ABBREVIATIONS.get(lang, frozenset())
    ends: list[int] = []
    i, n = 0, len(paragraph)
    while i < n:
        char = paragraph[i]
        end = None
        if char in _UNSPACED_ENDS or char in _INDIC_ENDS:
            end = i + 1
        elif char in _SPACED_ENDS:
            end = i + 1
        if end is None:
            i += 1
            continue
        while end < n and (paragraph[end] in _SPACED_ENDS or paragraph[end] in _UNSPACED_ENDS or paragraph[end] in _CLOSERS):
            end += 1
        needs_space = char in _SPACED_ENDS and lang not in ("zh", "ja")
        if needs_space:
            if end >= n or not paragraph[end].isspace():
                i = end
                continue
            following = paragraph[end:].lstrip()[:1]
            # A lower-case word after the dot continues the sentence ("3 p.m. today").
            if char == "." and (following.islower() or _is_abbreviation(paragraph[:i], abbreviations)):
                i = end
                continue
        ends.append(end)
        i = end
    return ends


def _is_abbreviation(before: str, abbreviations: frozenset[str]) -> bool:
    word = re.search(r"(\S+)$", before)
    if not word:
        return False
    token = word.group(1).lstrip(_CLOSERS + "(«“‘").lower()
    # A single letter is an initial ("J. R. R. Tolkien"); digits are "No. 5"-like.
    return (len(token) == 1 and token.isalpha()) or token in abbreviations


def split_sentences(text: str, lang: str) -> list[Piece]:
    """Sentences of ``text`` (language ISO 639-1 ``lang``), each with the whitespace after it.

    Empty or whitespace-only text gives one piece with empty ``text``.
    """
    leading = text[: len(text) - len(text.lstrip())]
    pieces: list[Piece] = [Piece("", leading)] if leading else []
    body = text[len(leading) :]
    position = 0
    for match in list(_PARAGRAPH.finditer(body)) + [None]:
        stop = match.start() if match else len(body)
        paragraph = body[position:stop]
        paragraph_gap = match.group() if match else ""
        pieces.extend(_split_paragraph(paragraph, lang, paragraph_gap))
        position = match.end() if match else len(body)
    return pieces or [Piece("", "")]


def _split_paragraph(paragraph: str, lang: str, paragraph_gap: str) -> list[Piece]:
    if lang == "th":
        # Thai writes no sentence marks; a space separates sentences and clauses.
        parts = re.split(r"(\s+)", paragraph)
        texts, gaps = parts[0::2], parts[1::2] + [""]
    else:
        texts, gaps = [], []
        start = 0
        for end in _sentence_ends(paragraph, lang):
            gap_end = end
            while gap_end < len(paragraph) and paragraph[gap_end].isspace():
                gap_end += 1
            texts.append(paragraph[start:end])
            gaps.append(paragraph[end:gap_end])
            start = gap_end
        if start < len(paragraph) or not texts:
            texts.append(paragraph[start:])
            gaps.append("")
    pieces = [Piece(t, g) for t, g in zip(texts, gaps) if t or g]
    if not pieces:
        return [Piece("", paragraph_gap)] if paragraph_gap else []
    pieces[-1] = Piece(pieces[-1].text, pieces[-1].gap + paragraph_gap)
    return pieces


#: Preferred places to cut an over-long sentence, best first.
_CUT_PATTERNS = (re.compile(r"[;:，、；：,]\s*"), re.compile(r"\s+"))


def split_to_fit(sentence: str, fits: Callable[[str], bool]) -> list[str]:
    """Cut ``sentence`` into parts that each satisfy ``fits`` (e.g. a model's token limit).

    Cuts at clause punctuation near the middle first, then at whitespace, and
    only then between characters. Parts keep their trailing separators, so
    ``"".join(parts) == sentence``.
    """
    if fits(sentence) or len(sentence) <= 1:
        return [sentence]
    middle = len(sentence) / 2
    cut = None
    for pattern in _CUT_PATTERNS:
        candidates = [m.end() for m in pattern.finditer(sentence) if 0 < m.end() < len(sentence)]
        if candidates:
            cut = min(candidates, key=lambda c: abs(c - middle))
            break
    if cut is None:
        cut = len(sentence) // 2
    return split_to_fit(sentence[:cut], fits) + split_to_fit(sentence[cut:], fits)


def join_translations(pieces: list[Piece], translations: list[str], space_between: bool = True) -> str:
    """Reassemble translated sentences with the original gaps.

    Sentences that had no gap between them (Chinese, Japanese) get one space
    when ``space_between``: the pivot language separates sentences with spaces.
    """
    out: list[str] = []
    for index, (piece, translated) in enumerate(zip(pieces, translations, strict=True)):
        out.append(translated)
        gap = piece.gap
        if not gap and space_between and translated and index + 1 < len(pieces) and pieces[index + 1].text:
            gap = " "
        out.append(gap)
    return "".join(out)
