"""Property-based tests (hypothesis) for the normaliser and the config loader."""

from __future__ import annotations

import re

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.config import parse_yaml, validate
from pipeline.errors import ConfigError
from pipeline.text import normalise

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200)


@settings(max_examples=300, deadline=None)
@given(TEXT, st.sampled_from([None, "en", "fr", "de", "zh"]), st.booleans())
def test_normalise_is_idempotent_and_tidy(text, lang, html):
    once = normalise(text, lang, html_markup=html)
    assert normalise(once, lang, html_markup=html) == once
    assert once == once.strip()
    assert "  " not in once and "\n\n\n" not in once and not re.search(r"[^\S\n]", once.replace(" ", ""))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(alphabet="abc .!\t", min_size=1, max_size=20), min_size=1, max_size=5))
def test_normalise_keeps_paragraph_breaks(paragraphs):
    paragraphs = [p for p in (normalise(p) for p in paragraphs) if p]
    assert normalise("\n\n \n".join(paragraphs)) == "\n\n".join(paragraphs)


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=False), st.text(max_size=12))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)
KEYS = st.sampled_from(["pivot", "input", "translator", "encoder", "rankers", "fusion", "recommend", "detector", "normalise", "output", "nonsense"])


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(KEYS, VALUES, max_size=6))
def test_any_config_is_valid_or_a_config_error_naming_paths(data):
    try:
        validate(data)
    except ConfigError as exc:
        assert exc.problems and all(": " in problem for problem in exc.problems)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_yaml_text_parses_or_is_a_config_error(text):
    try:
        parse_yaml(text, "fuzz.yaml")
    except ConfigError as exc:
        assert exc.source == "fuzz.yaml"
    except yaml.YAMLError:  # pragma: no cover - must not happen
        raise AssertionError("a YAML error escaped as a raw yaml exception")
