from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pivotrec.pipeline.segment import join_translations, split_sentences, split_to_fit

LANGS = ["en", "es", "de", "fr", "zh", "ja", "hi", "ar", "th", "ru", "xx"]


def texts(pieces) -> list[str]:
    return [p.text for p in pieces if p.text]


def test_sentences_respect_abbreviations_initials_decimals_and_lower_case():
    text = "Dr. Smith paid 3.50 dollars at 5 p.m. today. J. R. R. Tolkien wrote it! Did he?"
    assert texts(split_sentences(text, "en")) == ["Dr. Smith paid 3.50 dollars at 5 p.m. today.", "J. R. R. Tolkien wrote it!", "Did he?"]
    assert texts(split_sentences("El Sr. García vino. ¿Qué tal?", "es")) == ["El Sr. García vino.", "¿Qué tal?"]
    assert texts(split_sentences("Das ist z.B. gut. Nr. 5 auch.", "de")) == ["Das ist z.B. gut.", "Nr. 5 auch."]


def test_scripts_without_spaces_or_with_their_own_marks():
    assert texts(split_sentences("我喜欢猫。你呢？他说：“好！”然后走了", "zh")) == ["我喜欢猫。", "你呢？", "他说：“好！”", "然后走了"]
    assert texts(split_sentences("यह एक वाक्य है। यह दूसरा है।", "hi")) == ["यह एक वाक्य है।", "यह दूसरा है।"]
    assert texts(split_sentences("هل أنت بخير؟ نعم.", "ar")) == ["هل أنت بخير؟", "نعم."]
    assert texts(split_sentences("สวัสดีครับ วันนี้อากาศดี", "th")) == ["สวัสดีครับ", "วันนี้อากาศดี"]


def test_paragraph_breaks_survive_translation():
    pieces = split_sentences("One. Two.\n\nThree.", "en")
    assert [p.gap for p in pieces] == [" ", "\n\n", ""]
    assert join_translations(pieces, ["Uno.", "Dos.", "Tres."]) == "Uno. Dos.\n\nTres."
    cjk = split_sentences("我喜欢猫。你呢？", "zh")
    assert join_translations(cjk, ["I like cats.", "And you?"]) == "I like cats. And you?"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300), st.sampled_from(LANGS))
def test_splitting_is_lossless(text, lang):
    pieces = split_sentences(text, lang)
    assert "".join(p.text + p.gap for p in pieces) == text
    assert all(not p.text[:1].isspace() for p in pieces)


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=400), st.integers(min_value=1, max_value=40))
def test_split_to_fit_keeps_every_character_and_respects_the_limit(text, limit):
    parts = split_to_fit(text, lambda s: len(s) <= limit)
    assert "".join(parts) == text
    assert all(len(p) <= limit for p in parts)


def test_split_to_fit_prefers_clause_boundaries():
    parts = split_to_fit("first clause here, second clause here", lambda s: len(s) <= 20)
    assert parts == ["first clause here, ", "second clause here"]
