"""The lexicon (gloss) translator on tiny dictionaries written here: dictd, CC-CEDICT and TSV."""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path
from typing import Any

import pytest

from pivotrec.pipeline import registry
from pivotrec.pipeline.errors import ModelUnavailableError, TranslationError
from pivotrec.pipeline.stages import TranslateStage
from pivotrec.pipeline.stages.translate import NamedTranslator
from pivotrec.plugins.translators.lexicon import LexiconTranslator

_DICTD_DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

GERMAN = [
    ("00databaseinfo", "A tiny German-English test dictionary\n"),
    ("haus", 'Haus /hˈaʊs/ <neut, n, sg>\n [adm.] establishment <n>, institution <n>\n   Synonyms: {Einrichtung}\n'),
    ("haus", 'Haus /hˈaʊs/ <neut, n, sg>\nhouse <n>\n      "ein Haus bauen"  - build a house\n see: {Häuser}\n'),
    ("fahrrad", "Fahrrad /fˈɑːrɑːt/ <neut, n, sg>\nbicycle <n>, bike <n> [coll.]\n"),
    ("weg", "Weg /vˈeːk/ <masc, n, sg>\npath <n>, way <n>\n"),
    ("es", "Es /ˈɛs/ <neut, n, sg>\nE flat <n>\n"),
    ("es", "es /ˈɛs/ <pron, pers>\nit <pron, pers>\n"),
    ("er", "Eritrea /ɛɾˈɪtɾeːˌɑː/ (ER /ˈɛɾ/) <neut, n, sg>\n [geogr.] Eritrea <n>\n"),
    ("er", "er /ˈɛɾ/ <pron, pers>\nhe <pron, pers>\n         Note: him\n"),
    ("zu hause", "zu Hause /tsuː hˈaʊzə/ <adv>\nat home\n"),
    ("abfallen", "abfallen /ˈapfˌalən/ <v>\nfall off sth. <v>\n   Synonym: {herunterfallen}\n"),
]

CEDICT = """\
# CC-CEDICT, a few lines
中國 中国 [Zhong1 guo2] /China/
中 中 [Zhong1] /China/surname Zhong/
中 中 [zhong1] /within/among/in/middle/
國 国 [guo2] /country/nation/
人 人 [ren2] /person/people/
中國人 中国人 [Zhong1 guo2 ren2] /Chinese person/
大 大 [da4] /big/large/great/
大學 大学 [da4 xue2] /university/college/
學生 学生 [xue2 sheng5] /student/CL:個|个[ge4]/
"""


def write_dictd(folder: Path, name: str, entries: list[tuple[str, str]]) -> Path:
    """A dictd dictionary: ``name.index`` (base-64 offsets) and ``name.dict.dz`` (gzip)."""

    def base64(number: int) -> str:
        digits = ""
        while True:
            number, digit = divmod(number, 64)
            digits = _DICTD_DIGITS[digit] + digits
            if number == 0:
                return digits

    data = b""
    index = []
    for headword, text in entries:
        encoded = text.encode("utf-8")
        index.append(f"{headword}\t{base64(len(data))}\t{base64(len(encoded))}\n")
        data += encoded
    (folder / f"{name}.dict.dz").write_bytes(gzip.compress(data))
    path = folder / f"{name}.index"
    path.write_text("".join(sorted(index)), encoding="utf-8")
    return path


@pytest.fixture
def german(tmp_path: Path) -> Path:
    return write_dictd(tmp_path, "tiny-deu-eng", GERMAN)


@pytest.fixture
def chinese(tmp_path: Path) -> Path:
    path = tmp_path / "tiny-cedict.txt.gz"
    path.write_bytes(gzip.compress(CEDICT.encode("utf-8")))
    return path


def lexicon(**params: Any) -> LexiconTranslator:
    """A lexicon translator, warmed up."""
    translator = LexiconTranslator(LexiconTranslator.Params(**params))
    translator.warm_up()
    return translator


def gloss(translator: LexiconTranslator, text: str, lang: str) -> str:
    return translator.translate([text], lang, "en")[0]


def test_dictd_lookup_ranks_the_entry_with_examples_first(german: Path) -> None:
    translator = lexicon(dictionaries={"de": german}, languages=["de"])
    assert gloss(translator, "Haus", "de") == "house"


def test_senses_limit_keeps_the_first_distinct_senses(german: Path) -> None:
    assert gloss(lexicon(dictionaries={"de": german}, languages=["de"], senses=2), "Haus", "de") == "house establishment"
    assert gloss(lexicon(dictionaries={"de": german}, languages=["de"], senses=3), "Fahrrad", "de") == "bicycle bike"


def test_annotations_placeholders_and_notes_are_not_senses(german: Path) -> None:
    assert gloss(lexicon(dictionaries={"de": german}, languages=["de"], senses=5), "abfallen", "de") == "fall off"


def test_capitalisation_and_own_entries_choose_the_sense(german: Path) -> None:
    translator = lexicon(dictionaries={"de": german}, languages=["de"])
    assert gloss(translator, "es", "de") == "it"  # the pronoun, not the note Es
    assert gloss(translator, "Es", "de") == "E flat"
    assert gloss(translator, "er", "de") == "he"  # not Eritrea, reached through its code ER


def test_german_compounds_split_into_known_parts_with_an_inflected_tail(german: Path) -> None:
    translator = lexicon(dictionaries={"de": german}, languages=["de"])
    assert gloss(translator, "Fahrradweg", "de") == "bicycle path"
    assert gloss(translator, "Fahrradwegen", "de") == "bicycle path"
    assert gloss(translator, "Hausfahrrad", "de") == "house bicycle"


def test_multi_word_headwords_match_before_single_words(german: Path) -> None:
    assert gloss(lexicon(dictionaries={"de": german}, languages=["de"]), "es zu Hause", "de") == "it at home"


def test_unknown_words_numbers_and_punctuation_pass_through(german: Path) -> None:
    translator = lexicon(dictionaries={"de": german}, languages=["de"])
    assert gloss(translator, "Berlin: 2024 Häuser, Haus!", "de") == "Berlin: 2024 Häuser, house!"
    assert translator.translate(["", "Haus\n\nWeg"], "de", "en") == ["", "house\n\npath"]


def test_chinese_longest_match_segments_text_without_spaces(chinese: Path) -> None:
    translator = lexicon(dictionaries={"zh": {"path": chinese, "format": "cedict"}}, languages=["zh"])
    assert gloss(translator, "中国人在大学。", "zh") == "Chinese person 在 university."
    assert gloss(translator, "中國人", "zh") == "Chinese person"  # traditional spelling too
    assert gloss(translator, "学生，人", "zh") == "student, person"  # the measure word is no sense


def test_chinese_proper_noun_readings_only_when_no_common_word(chinese: Path) -> None:
    translator = lexicon(dictionaries={"zh": {"path": chinese, "format": "cedict"}}, languages=["zh"], senses=2)
    assert gloss(translator, "中", "zh") == "within among"
    assert gloss(translator, "大", "zh") == "big large"


def test_greek_accents_fold_and_endings_reach_the_lemma(tmp_path: Path) -> None:
    greek = tmp_path / "tiny-ell.tsv"
    greek.write_text("σπίτι\thouse; home\n", encoding="utf-8")
    translator = lexicon(dictionaries={"el": greek}, languages=["el"])
    assert gloss(translator, "ΣΠΙΤΙ του σπιτιού", "el") == "house του house"


def test_arabic_clitics_are_stripped_when_the_whole_word_is_unknown(tmp_path: Path) -> None:
    arabic = write_dictd(tmp_path, "tiny-ara-eng", [("كتاب", "كِتاب /kitaːb/\nBook\n")])
    assert gloss(lexicon(dictionaries={"ar": arabic}, languages=["ar"]), "والكتاب وكتابها", "ar") == "Book Book"


def test_a_user_tsv_dictionary_adds_a_language(tmp_path: Path) -> None:
    user = tmp_path / "mine.tsv"
    user.write_text("# my words\nhej\thello; hi\n88\tbye-bye\n", encoding="utf-8")
    translator = lexicon(dictionaries={"sv": user}, languages=["sv"], senses=2)
    assert translator.model_for("sv", "en") == "mine"
    assert gloss(translator, "Hej 88", "sv") == "hello hi 88"  # numbers are never looked up


def test_a_malformed_tsv_line_is_named(tmp_path: Path) -> None:
    user = tmp_path / "broken.tsv"
    user.write_text("hej hello\n", encoding="utf-8")
    with pytest.raises(ModelUnavailableError, match=r"broken\.tsv:1: expected 'headword<TAB>senses'"):
        gloss(lexicon(dictionaries={"sv": user}, languages=["sv"]), "hej", "sv")
    # In a run it stops the translate stage, even under on_error: record: every text of the language would fail alike.
    named = NamedTranslator("lexicon", lexicon(dictionaries={"sv": user}, languages=["sv"]))
    with pytest.raises(ModelUnavailableError, match=r"broken\.tsv:1"):
        TranslateStage(named, "en", on_error="record").run(["a", "b"], ["hej du", "hej igen"], ["sv", "sv"])


def test_a_path_with_an_unknown_suffix_asks_for_the_format() -> None:
    with pytest.raises(ValueError, match=r"dictionaries\.de\s+Value error, cannot tell the format of 'words\.txt'"):
        LexiconTranslator.Params.model_validate({"dictionaries": {"de": "words.txt"}})


def test_supports_and_missing_name_the_dictionary_and_the_fix(tmp_path: Path) -> None:
    absent = {"path": tmp_path / "absent.index", "format": "dictd", "install": "apt-get install dict-freedict-deu-eng"}
    translator = LexiconTranslator(LexiconTranslator.Params.model_validate({"dictionaries": {"de": absent}}))
    assert not translator.supports("de", "en")
    assert translator.missing("de") == f"lexicon (de): dictionary absent is not installed ({tmp_path / 'absent.index'}): apt-get install dict-freedict-deu-eng"
    assert not translator.supports("ko", "en")
    assert translator.missing("ko").startswith("lexicon has no dictionary for ko (known: ar, de, el, ja, sw, tr, zh)")
    with pytest.raises(TranslationError, match=r"lexicon \(de\): dictionary absent is not installed"):
        translator.translate(["Haus"], "de", "en")


def test_japanese_without_its_analyser_names_the_extra(german: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "janome" else find_spec(name))
    translator = LexiconTranslator(LexiconTranslator.Params(dictionaries={"ja": german}, languages=["ja"]))
    assert not translator.supports("ja", "en")
    assert translator.missing("ja") == "lexicon (ja): analyser janome is not installed: pip install 'pivotrec[lexicon]'"


def test_supports_english_targets_only_and_reads_nothing(german: Path) -> None:
    translator = LexiconTranslator(LexiconTranslator.Params(dictionaries={"de": german}, languages=["de"]))
    assert translator.supports("de", "en") and not translator.supports("de", "fr")
    assert translator.model_for("de", "en") == "tiny-deu-eng"
    with pytest.raises(TranslationError, match=r"the de dictionary was not loaded: call warm_up\(\)"):
        translator.translate(["Haus"], "de", "en")


def test_a_dictionary_is_read_when_its_language_is_first_glossed_and_glosses_are_cached(german: Path, chinese: Path, tmp_path: Path) -> None:
    from pivotrec.pipeline.translation_cache import TranslationCache

    params = {"dictionaries": {"de": german, "zh": {"path": chinese, "format": "cedict"}}, "languages": ["de", "zh"]}
    translator = lexicon(**params)
    assert translator._lexicons == {}, "warm_up reads no dictionary"
    assert gloss(translator, "Haus", "de") == "house"
    assert set(translator._lexicons) == {"de"}, "only the language glossed"
    # Cached like a translation: a second run whose texts are all cached reads no dictionary.
    cache = tmp_path / "translations.sqlite"
    TranslateStage(NamedTranslator("lexicon", translator), "en", cache=TranslationCache(cache)).run(["i1"], ["Haus"], ["de"])
    fresh = lexicon(**params)
    (again,) = TranslateStage(NamedTranslator("lexicon", fresh), "en", cache=TranslationCache(cache)).run(["i1"], ["Haus"], ["de"]).translations
    assert (again.pivot, again.cached, fresh._lexicons) == ("house", True, {})
    # A dictionary changed since: its cached glosses are not served.
    german.write_text(german.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    changed = lexicon(**params)
    (anew,) = TranslateStage(NamedTranslator("lexicon", changed), "en", cache=TranslationCache(cache)).run(["i1"], ["Haus"], ["de"]).translations
    assert (anew.pivot, anew.cached) == ("house", False)


def test_japanese_content_words_are_looked_up_in_dictionary_form(tmp_path: Path) -> None:
    pytest.importorskip("janome", reason="janome not installed: pip install 'pivotrec[lexicon]'")
    japanese = write_dictd(
        tmp_path,
        "tiny-jpn-eng",
        [
            ("猫", " [ichi1]  猫 /nˈe̞ko̞/\n1. (noun (common) (futsuumeishi))\ncat\n"),
            ("魚", " [ichi1]  魚 /sakana/\n(noun (common) (futsuumeishi))\nfish\n"),
            ("食べる", " [ichi1]  食べる /tabeɾɯ/\n1. (Ichidan verb)\nto eat\n"),
            ("ある", "有る /ɽˈɯᵝ/\n1. (Godan verb)\n         Note: word usually written using kana aloneto be, to exist\n"),
        ],
    )
    translator = lexicon(dictionaries={"ja": japanese}, languages=["ja"])
    assert gloss(translator, "猫が魚を食べた。", "ja") == "cat fish eat."
    assert gloss(translator, "魚がある", "ja") == "fish be"


def test_the_plugin_loads_through_its_entry_point_and_reports_gloss_provenance(german: Path) -> None:
    cls = registry.load("translator", "lexicon")
    assert cls is LexiconTranslator and cls.info.method == "gloss"
    named = NamedTranslator("lexicon", lexicon(dictionaries={"de": german}, languages=["de"]))
    (translation,) = TranslateStage(named, "en").run(["item-1"], ["Haus"], ["de"]).translations
    assert (translation.pivot, translation.method, translation.model) == ("house", "gloss", "tiny-deu-eng")


def test_the_installed_freedict_german_dictionary_glosses() -> None:
    if not Path("/usr/share/dictd/freedict-deu-eng.index").exists():
        pytest.skip("FreeDict German not installed: apt-get install dict-freedict-deu-eng (make system-deps)")
    assert "dog" in gloss(lexicon(languages=["de"]), "Der Hund", "de").split()
