"""Text cleaning keeps what is text and normalises once (issue 14 item 3, issue 13).

One test per reported case, each on the real output of ``clean``, ``punctuate``
or ``normalise``.
"""

from __future__ import annotations

import sys

import pytest

from pivotrec.pipeline.text import clean, normalise, punctuate


@pytest.mark.parametrize("text", ["Use x<y and y>z to compare", "a < b", "3 < 5 and 7 > 2", "x<b and c>d", "if a<p and q>r then", "<my-widget> stays"])
def test_angle_brackets_that_are_no_markup_stay(text):
    assert clean(text) == text


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<b>bold</b> and <I>italic</I>", "bold and italic"),
        ('<a href="/x?a=1&amp;b=2" title="x>y">link</a>', "link"),
        ("<input type=checkbox checked>yes", "yes"),
        ("<!-- note -->kept<!DOCTYPE html>", "kept"),
        ("<span>ab</span><span>cd</span>", "abcd"),
    ],
)
def test_real_markup_is_stripped(html, text):
    assert clean(html) == text


@pytest.mark.parametrize("html", ["<b></b>", "<script>alert(1)</script>", "<style>p { color: red }</style>", "<!-- nothing -->", "<p> &#32; </p>"])
def test_markup_only_text_cleans_to_empty_without_raising(html):
    assert clean(html) == ""


def test_script_and_style_content_is_dropped():
    assert clean("before<script type='text/javascript'>if (a < b) alert(1)</script>after<style>b {}</style>") == "beforeafter"


def test_an_unclosed_script_tag_keeps_the_text_after_it():
    assert clean("How to use the <script> element") == "How to use the element"


def test_list_items_become_lines():
    assert clean("<li>Cómo ahorrar dinero</li><li>Presupuesto mensual</li>") == "Cómo ahorrar dinero\nPresupuesto mensual"


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>one</p><p>two</p>", "one\n\ntwo"),
        ("one<br>two<br/>three", "one\ntwo\nthree"),
        ("one<br><br>two", "one\n\ntwo"),
        ("<div>one</div><div>two</div>", "one\ntwo"),
        ("<table><tr><td>one</td><td>two</td></tr><tr><th>three</th></tr></table>", "one\ntwo\nthree"),
        ("<h2>Title</h2>body", "Title\nbody"),
        ("<ul>\n  <li>one</li>\n  <li>two</li>\n</ul>", "one\ntwo"),
        ("<section><blockquote>one</blockquote><pre>two</pre></section>", "one\ntwo"),
    ],
)
def test_block_elements_become_line_breaks(html, text):
    assert clean(html) == text


def test_entities_are_decoded_once():
    assert clean("&amp;amp;") == "&amp;"
    assert punctuate(clean("&amp;amp;"), "en") == "&amp;"
    assert normalise("&amp;amp;", "en") == "&amp;"


def test_decoded_angle_brackets_are_text_not_markup():
    assert clean("&lt;b&gt;bold&lt;/b&gt;") == "<b>bold</b>"
    assert punctuate("<b>bold</b>", "en") == "<b>bold</b>"


def test_without_html_markup_tags_and_entities_stay():
    assert clean("<b>a</b>  &amp;", html_markup=False) == "<b>a</b> &amp;"


def test_nfc_applies_after_entities_are_decoded():
    assert clean("cafe&#769;") == "caf\u00e9"


@pytest.mark.parametrize("separator", ["\n", "\r", "\r\n", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028"])
def test_line_separators_before_punctuation_normalise_once(separator):
    once = normalise(f"0{separator}:", "en")
    assert once == "0\n:"
    assert normalise(once, "en") == once


def test_paragraph_separator_is_a_blank_line():
    assert normalise("0\u2029:", "en") == "0\n\n:"


@pytest.mark.parametrize("space", [" ", "\t", "\x1f", "\u00a0", "\u2003", "\u3000"])
def test_spaces_before_punctuation_normalise_once(space):
    assert normalise(f"0{space}:", "en") == "0:"


def test_every_unicode_whitespace_character_is_a_space_or_a_break():
    for char in map(chr, range(sys.maxunicode + 1)):
        if char.isspace():
            assert clean(f"a{char}{char}b") in {"a b", "a\nb", "a\n\nb"}, repr(char)


def test_moses_passes_repeat_until_stable():
    once = punctuate('.""0', "fr")
    assert once == '"".0'
    assert punctuate(once, "fr") == once


def test_moses_normalises_punctuation_for_the_language():
    assert punctuate("« Bonjour » (test ) 50 %", "fr") == '" Bonjour " (test) 50%'
