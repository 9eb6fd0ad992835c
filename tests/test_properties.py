"""Property-based tests (hypothesis) for the normaliser and the config loader.

The examples are fixed per test (the "ci" profile in conftest.py), so every run sees the same ones.
"""

from __future__ import annotations

import os
import re
import unicodedata

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from pivotrec.pipeline.config import parse_yaml, validate
from pivotrec.pipeline.errors import ConfigError
from pivotrec.pipeline.text import clean, normalise, punctuate

# Text as catalogues hold it: any characters, HTML entities (some already
# escaped once), tags real and fake, every kind of whitespace and control
# character, combining marks, and the punctuation Moses rewrites.
ENTITIES = st.sampled_from(
    ["&amp;", "&amp;amp;", "&lt;", "&gt;", "&quot;", "&#39;", "&#233;", "&#769;", "&#12;", "&#x2028;", "&nbsp;", "&eacute;", "&#0;", "&#xD800;", "&nosuch;", "&"]
)
TAGS = st.sampled_from(
    ["<p>", "</p>", "<li>", "</li>", "<br>", "<br/>", '<div class="a">', "</div>", "<td>", "<h2>", "<b>", "</b>", "<script>", "</script>"]
    + ["<style>x</style>", "<!-- note -->", "<!DOCTYPE html>", "<a href='x>y'>", "<y and y>", "<b and c>", "<", ">", "</"]
)
WHITESPACE_AND_CONTROLS = st.characters(categories=("Zs", "Zl", "Zp", "Cc", "Cf"))
PUNCTUATION = st.sampled_from(list("\"'`()[]:;,.!?%-\u00ab\u00bb\u201e\u201c\u201d\u2018\u2019\u2013\u2014\u2026\u00b4\u0301 0123456789"))
TEXT = st.lists(
    st.one_of(st.text(st.characters(exclude_categories=("Cs",)), max_size=8), ENTITIES, TAGS, WHITESPACE_AND_CONTROLS, PUNCTUATION),
    max_size=30,
).map("".join)
LANGS = st.sampled_from(["en", "fr", "de", "es", "cs", "zh"])


@pytest.mark.skipif("HYPOTHESIS_PROFILE" in os.environ, reason="another Hypothesis profile was chosen")
def test_property_tests_use_the_fixed_profile():
    assert settings.default.derandomize and settings.default.database is None


def assert_tidy(text: str) -> None:
    """Trimmed, single spaces, at most one blank line, no whitespace but space and newline."""
    assert text == text.strip()
    assert "  " not in text and " \n" not in text and "\n " not in text and "\n\n\n" not in text
    assert not re.search(r"[^\S\n ]", text)


@settings(max_examples=300)
@given(TEXT, st.booleans())
def test_clean_gives_tidy_nfc_plain_text_that_cleaning_keeps(text, html):
    once = clean(text, html_markup=html)
    assert_tidy(once)
    assert unicodedata.is_normalized("NFC", once)
    # The output is plain text: cleaning it as plain text changes nothing, and
    # as HTML only where it holds a literal "&" or "<" (decoding is one-way).
    assert clean(once, html_markup=False) == once
    if "&" not in once and "<" not in once:
        assert clean(once) == once


@settings(max_examples=300)
@given(TEXT, LANGS, st.booleans())
def test_punctuate_is_idempotent_and_never_decodes_again(text, lang, html):
    cleaned = clean(text, html_markup=html)
    once = punctuate(cleaned, lang)
    assert punctuate(once, lang) == once
    assert_tidy(once)
    assert (once.count("&"), once.count("<"), once.count(">")) == (cleaned.count("&"), cleaned.count("<"), cleaned.count(">"))


@settings(max_examples=300)
@given(TEXT, st.sampled_from([None, "en", "fr", "de", "zh"]), st.booleans())
def test_normalise_is_idempotent_on_its_output(text, lang, html):
    once = normalise(text, lang, html_markup=html)
    assert normalise(once, lang, html_markup=False) == once
    cleaned = clean(text, html_markup=html)
    assert once == (punctuate(cleaned, lang) if lang else cleaned)  # the two steps, once each


@settings(max_examples=100)
@given(st.lists(st.text(alphabet="abc .!\t", min_size=1, max_size=20), min_size=1, max_size=5))
def test_normalise_keeps_paragraph_breaks(paragraphs):
    paragraphs = [p for p in (normalise(p) for p in paragraphs) if p]
    assert normalise("\n\n \n".join(paragraphs)) == "\n\n".join(paragraphs)


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=False), st.text(max_size=12))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)
KEYS = st.sampled_from(["pivot", "input", "translator", "encoder", "rankers", "fusion", "recommend", "detector", "normalise", "output", "nonsense"])


@settings(max_examples=200)
@given(st.dictionaries(KEYS, VALUES, max_size=6))
def test_any_config_is_valid_or_a_config_error_naming_paths(data):
    try:
        validate(data)
    except ConfigError as exc:
        assert exc.problems and all(": " in problem for problem in exc.problems)


@settings(max_examples=200)
@given(st.text(max_size=200))
def test_any_yaml_text_parses_or_is_a_config_error(text):
    try:
        parse_yaml(text, "fuzz.yaml")
    except ConfigError as exc:
        assert exc.source == "fuzz.yaml"
    except yaml.YAMLError:  # pragma: no cover - must not happen
        raise AssertionError("a YAML error escaped as a raw yaml exception")
