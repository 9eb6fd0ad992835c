"""Stopword lists per language for the BM25 rankers: stopwords-iso (MIT), shipped inside the stopwordsiso wheel."""

from __future__ import annotations

from functools import lru_cache

import stopwordsiso

from pivotrec.pipeline.text import tokenize


@lru_cache(maxsize=None)
def stopwords(lang: str) -> frozenset[str]:
    """The stopwords of ``lang`` (ISO 639-1) as :func:`tokenize` yields them; empty where no list exists.

    An entry that is not one whole token is left out, since no token could equal
    it ("a's"; Chinese and Thai words of several characters, which ``tokenize``
    cuts into single characters). So is an entry holding a numeral (the English
    list has "10" and "39", the Chinese one "三"): numbers name things in a catalogue.
    """
    words = set()
    for entry in stopwordsiso.stopwords(lang):
        tokens = tokenize(entry)
        if len(tokens) == 1 and not any(c.isnumeric() for c in tokens[0]):
            words.add(tokens[0])
    return frozenset(words)


@lru_cache(maxsize=None)
def stopwords_of(langs: frozenset[str]) -> frozenset[str]:
    """The stopwords of any of ``langs``: those of a text in several languages."""
    return frozenset().union(*(stopwords(lang) for lang in langs))
