"""Bilingual dictionaries into English: dictd (FreeDict), CC-CEDICT and TSV.

A dictionary lists its headwords at once, each with a locator, and parses an
entry only when asked for it: FreeDict's German has half a million entries,
and a catalogue needs the senses of a few thousand words. An entry is a
weight (how central it is, to order the senses of a headword with several
entries) and its English senses, cleaned to short glosses.
"""

from __future__ import annotations

import gzip
import re
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal, NamedTuple, Protocol

from pivotrec.pipeline.errors import TranslationError

DictionaryFormat = Literal["dictd", "cedict", "tsv"]

#: dictd writes offsets and lengths in base 64 with this alphabet.
_DICTD_DIGITS = {c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}
#: JMdict frequency markers in a FreeDict header ([news1], [ichi1], [spec2]...).
_PRIORITY = re.compile(r"\[(?:news|ichi|spec|gai)[12]\]")
#: Lines that annotate rather than translate: "Note: ...", "Synonyms: {...}", "see: {...}".
_LABEL_LINE = re.compile(r"[A-Za-z][A-Za-z ]*:")
#: FreeDict's JMdict glues a sense onto its usage note: "Note: archaismcat" is "cat".
#: These are JMdict's usage labels; a note that starts with none of them is only a note.
_JMDICT_USAGE_NOTE = re.compile(
    r"Note: (?:(?:word usually written using (?:kana|kanji) alone|abbreviation|archaism|colloquialism|slang|Internet slang|manga slang"
    r"|honorific or respectful \(sonkeigo\) language|humble \(kenjougo\) language|polite \(teineigo\) language|familiar language"
    r"|derogatory|obscure term|obsolete term|dated term|historical term|rare term|vulgar expression or word|rude or X-rated term"
    r"|idiomatic expression|onomatopoeic or mimetic word|female term or language|male term or language|children's language"
    r"|jocular, humorous term|poetical term|formal or literary term|euphemistic|sensitive|yojijukugo|proverb|quotation)"
    r"(?: \([^()]*\))?)+(?P<sense>.*)"
)
_SENSE_NUMBER = re.compile(r"^(?:\d+\.|;)\s*")
#: Innermost bracketed annotation: grammar, register, domain, cross-references.
_BRACKETED = re.compile(r"\([^()]*\)|\[[^\[\]]*\]|\{[^{}]*\}")
#: Ding's part of speech ends one gloss ("doctor <n>Dr, doc <n>"): it separates like a comma.
_PART_OF_SPEECH = re.compile(r"<[^<>]*>")
#: A pronunciation ("/dˌeːˈɛɾ/" after a space; "he/she" is not one) with the sense before it:
#: Ding glues an abbreviation there onto the previous gloss ("peopleppl,  /pˌeːpˌeːˈɛl/").
_PRONUNCIATION = re.compile(r"[^,;]*,?\s+/[^/]+/")
#: Ding's placeholders inside a gloss ("fall off sth.") carry no meaning for retrieval.
_PLACEHOLDER = re.compile(r"\b(?:sth|sb|so)\.(?=\s|$)")
#: A sense that is no gloss: a CJK cross-reference, a surname, a measure word, a pattern ("as … as").
_NOT_A_GLOSS = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff…]|^surname\b|^CL:", re.IGNORECASE)
#: Longer senses are explanations ("indicates possessive, ..."), not translations.
_MAX_SENSE_WORDS = 4


class Entry(NamedTuple):
    #: Higher comes first among a headword's entries: one per example given (the
    #: central senses of a word have them) and per JMdict frequency mark.
    weight: int
    senses: list[str]
    #: False for an entry reached through an abbreviation or a proper-noun reading
    #: ("er" -> Eritrea (ER)): used only for a word with no entry of its own.
    own: bool = True
    #: The entry spells its word with a capital (German "Es", the note, against "es", it).
    capitalised: bool = False


class Dictionary(Protocol):
    def headwords(self) -> Iterator[tuple[str, str]]:
        """Every (headword, locator) pair; a headword with several entries comes once per entry."""
        ...

    def entry(self, headword: str, locator: str) -> Entry:
        """The entry a locator of ``headword`` points to, parsed now."""
        ...


def open_dictionary(path: Path, format: DictionaryFormat) -> Dictionary:
    """The dictionary at ``path`` (for dictd, its ``.index``), its headwords read, no entry parsed."""
    readers: dict[str, Callable[[Path], Dictionary]] = {"dictd": DictdDictionary, "cedict": CedictDictionary, "tsv": TsvDictionary}
    return readers[format](path)


def clean_senses(text: str) -> list[str]:
    """Short English glosses from one line of senses: annotations dropped, split at ``,`` and ``;``."""
    text = _without_brackets(_PRONUNCIATION.sub(" ", _PART_OF_SPEECH.sub(",", text)))
    senses = []
    for sense in re.split(r"[,;]", _PLACEHOLDER.sub(" ", text)):
        sense = " ".join(sense.split()).strip(" .…")
        sense = sense.removeprefix("to ")  # JMdict and CC-CEDICT mark verbs "to eat"
        if sense and not _NOT_A_GLOSS.search(sense):
            senses.append(sense)
    short = [s for s in senses if len(s.split()) <= _MAX_SENSE_WORDS]
    return short or senses[:1]


def _without_brackets(text: str) -> str:
    previous = None
    while previous != text:  # peel nested brackets from the inside out
        previous, text = text, _BRACKETED.sub(" ", text)
    return text


def _without_marks(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


class DictdDictionary:
    """A dictd dictionary: ``.index`` lines ``headword<TAB>offset<TAB>length`` (base 64)
    into the entries file beside it, ``.dict.dz`` (dictzip, a gzip) or ``.dict``."""

    def __init__(self, index: Path) -> None:
        self.index = index
        stem = index.with_suffix("")
        compressed = stem.with_name(stem.name + ".dict.dz")
        data_file = compressed if compressed.exists() else stem.with_name(stem.name + ".dict")
        with (gzip.open if data_file.suffix == ".dz" else open)(data_file, "rb") as handle:
            self._data = handle.read()

    def headwords(self) -> Iterator[tuple[str, str]]:
        with self.index.open(encoding="utf-8") as lines:
            for line in lines:
                headword, _, locator = line.rstrip("\n").partition("\t")
                if headword and not headword.startswith("00database"):  # dictd's own metadata
                    yield headword, locator

    def entry(self, headword: str, locator: str) -> Entry:
        """FreeDict entries: a header line, gloss lines, examples in quotes (the
        central senses of a word have them) and labelled lines (notes, synonyms,
        cross-references)."""
        offset, length = locator.split("\t")
        start = _dictd_number(offset)
        header, _, body = self._data[start : start + _dictd_number(length)].decode("utf-8").partition("\n")
        weight = len(_PRIORITY.findall(header))
        senses: list[str] = []
        for line in body.splitlines():
            line = line.strip()
            if line.startswith('"'):
                weight += 1
            elif usage := _JMDICT_USAGE_NOTE.match(line):
                senses += clean_senses(usage["sense"])
            elif line and not _LABEL_LINE.match(line):
                senses += clean_senses(_SENSE_NUMBER.sub("", line))
        return Entry(weight, senses, own=_names(header, headword), capitalised=header.lstrip()[:1].isupper())


def _dictd_number(digits: str) -> int:
    value = 0
    for digit in digits:
        value = value * 64 + _DICTD_DIGITS[digit]
    return value


def _names(header: str, headword: str) -> bool:
    """Whether a FreeDict header (``form /ipa/, form /ipa/ (abbreviation /ipa/)``) spells ``headword`` as one of its own forms."""
    forms = {_without_marks(form.partition(" /")[0].strip(" …").lower()) for form in _without_brackets(header).split(",")}
    return _without_marks(headword.lower()) in forms


class CedictDictionary:
    """CC-CEDICT: lines ``traditional simplified [pin1 yin1] /sense/sense/``, plain or gzipped.
    Both the simplified and the traditional spelling are headwords."""

    def __init__(self, path: Path) -> None:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rt", encoding="utf-8") as handle:
            self._lines = [line.rstrip("\n") for line in handle if not line.startswith("#")]

    def headwords(self) -> Iterator[tuple[str, str]]:
        for number, line in enumerate(self._lines):
            traditional, simplified, _ = line.split(" ", 2)
            for headword in dict.fromkeys((simplified, traditional)):
                yield headword, str(number)

    def entry(self, headword: str, locator: str) -> Entry:
        pinyin, _, glosses = self._lines[int(locator)].split(" ", 2)[2].partition("/")
        senses = [s for sense in glosses.rstrip("/").split("/") for s in clean_senses(sense)]
        # A capitalised reading is a proper-noun entry ("Zhong1": China, a surname).
        return Entry(0, senses, own=not pinyin[1:2].isupper())


class TsvDictionary:
    """A user dictionary: ``headword<TAB>sense; sense`` per line; ``#`` starts a comment line."""

    def __init__(self, path: Path) -> None:
        self._rows: list[tuple[str, str]] = []
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip() or line.startswith("#"):
                    continue
                headword, tab, glosses = line.rstrip("\n").partition("\t")
                if not tab or not headword.strip():
                    raise TranslationError(f"{path}:{number}: expected 'headword<TAB>senses'")
                self._rows.append((headword.strip(), glosses))

    def headwords(self) -> Iterator[tuple[str, str]]:
        for number, (headword, _) in enumerate(self._rows):
            yield headword, str(number)

    def entry(self, headword: str, locator: str) -> Entry:
        written, glosses = self._rows[int(locator)]
        return Entry(0, clean_senses(glosses), capitalised=written[:1].isupper())
