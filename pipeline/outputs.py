"""Check and write outputs: never an input, never each other, never through a link,
writable; written under temporary names beside their targets and renamed over them
only once everything is written."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from pivotrec.pipeline.errors import OutputError, quoted
from pivotrec.pipeline.records import Document, Problem, Recommendation


@dataclass(frozen=True)
class OutputPath:
    """A file or folder a command writes, and the config key that names it (for messages)."""

    key: str
    path: Path
    folder: bool = False


def check_outputs(outputs: Sequence[OutputPath], inputs: Mapping[str, Path]) -> None:
    """Before any work, refuse every output that is an input or another output (or holds
    one, for a folder), is a link, is the wrong kind of thing, or cannot be written.

    Raises OutputError listing every problem, each naming the keys involved.
    """
    problems: list[str] = []
    for number, out in enumerate(outputs):
        for key, path in inputs.items():
            if _same(out.path, path) or (out.folder and _inside(path, out.path)):
                problems.append(f"{out.key}: {out.path} is {key} ({path}) or holds it; pivotrec never writes over an input: choose another path")
        for other in outputs[:number]:
            if _same(out.path, other.path) or (out.folder and _inside(other.path, out.path)) or (other.folder and _inside(out.path, other.path)):
                problems.append(f"{out.key} and {other.key} are both {out.path}; give each its own path")
        problems += _unwritable(out)
    if problems:
        raise OutputError("cannot write the outputs, so nothing was done:\n" + "\n".join(f"  {p}" for p in problems))


def _same(a: Path, b: Path) -> bool:
    """One file under two names: the same path once links are resolved, or a hard link."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _inside(path: Path, folder: Path) -> bool:
    return Path(os.path.realpath(folder)) in Path(os.path.realpath(path)).parents


def _unwritable(out: OutputPath) -> list[str]:
    path = out.path
    # Refused rather than replaced: replacing would quietly turn the user's link into a plain
    # file and leave its target stale, and following it could write over whatever it points at.
    if path.is_symlink():
        return [f"{out.key}: {path} is a symbolic link (to {os.readlink(path)}); outputs are never written through links: name the real path"]
    if out.folder and path.exists() and not path.is_dir():
        return [f"{out.key}: {path} is a file, but a folder goes there; move the file or choose another path"]
    if not out.folder and path.is_dir():
        return [f"{out.key}: {path} is a folder; give a file path"]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return [f"{out.key}: cannot create the folder {path.parent}: {exc.strerror or exc}"]
    probe = _temporary_beside(path)
    try:
        _create(probe).close()
    except OSError as exc:
        return [f"{out.key}: cannot write in {path.parent}: {exc.strerror or exc}"]
    probe.unlink()
    return []


def _temporary_beside(path: Path) -> Path:
    """A fresh hidden name in the target's folder: renaming it over the target is atomic."""
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")


def _create(path: Path) -> IO[str]:
    """A new file opened for writing (never an existing one), with the usual permissions."""
    return open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "w", encoding="utf-8")


def recommendation_rows(recommendations: Iterable[Recommendation]) -> Iterator[dict[str, Any]]:
    for rec in recommendations:
        row = asdict(rec)
        row["explanations"] = list(rec.explanations)
        yield row


def problem_rows(problems: Iterable[Problem]) -> Iterator[dict[str, Any]]:
    return (asdict(p) for p in problems)


def document_rows(documents: Iterable[Document], raw_texts: Mapping[str, str]) -> Iterator[dict[str, Any]]:
    """One row per document: ``raw`` is the text as read, ``original`` as cleaned (what was translated)."""
    for doc in documents:
        t = doc.translation
        yield {
            "id": doc.id, "lang": doc.lang, "raw": raw_texts[doc.id], "original": doc.original, "pivot": doc.pivot,
            "detection_confidence": doc.detection.confidence if doc.detection else None,
            "low_confidence": doc.detection.low_confidence if doc.detection else False,
            "translator": t.translator, "model": t.model, "from_cache": t.cached, "kept_original": t.kept_original,
            "failed": t.failed, "suspicious": t.suspicious, "note": t.note,
        }


def write_rows(handle: IO[str], rows: Iterable[Mapping[str, Any]], key: str, target: Path) -> int:
    """Append one strict JSON line per row; returns the count. A row JSON cannot hold
    (NaN, a lone surrogate) or a failing disk is an OutputError naming ``key``, the file and the row."""
    count = 0
    row: Mapping[str, Any] = {}
    try:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False, allow_nan=False) + "\n")
            count += 1
    except (OSError, ValueError) as exc:
        which = row.get("id", row.get("user_id"))
        raise OutputError(f"{key}: cannot write {target} at the row of {quoted(which)}: {exc}; no earlier output was replaced") from exc
    return count


class StagedFiles:
    """Output files written under temporary names beside their targets and renamed over
    them together on ``commit``: a run that fails or is interrupted before that leaves
    every earlier output as it was, and no temporary file behind."""

    def __init__(self) -> None:
        self._staged: list[tuple[str, Path, Path, IO[str]]] = []

    def write(self, key: str, path: Path, rows: Iterable[Mapping[str, Any]]) -> int:
        temporary = _temporary_beside(path)
        try:
            handle = _create(temporary)
        except OSError as exc:
            raise OutputError(f"{key}: cannot write in {path.parent}: {exc}") from exc
        self._staged.append((key, path, temporary, handle))
        return write_rows(handle, rows, key, path)

    def commit(self) -> None:
        for key, path, temporary, handle in self._staged:
            try:
                handle.flush()
                os.fsync(handle.fileno())  # on disk before the rename makes it the output
                handle.close()
            except OSError as exc:
                self.discard()
                raise OutputError(f"{key}: cannot write {path}: {exc}; it was left as it was") from exc
        for key, path, temporary, _ in self._staged:
            try:
                os.replace(temporary, path)
            except OSError as exc:
                self.discard()
                raise OutputError(f"{key}: cannot replace {path}: {exc}") from exc
        self._staged = []

    def discard(self) -> None:
        for _, _, temporary, handle in self._staged:
            handle.close()
            temporary.unlink(missing_ok=True)
        self._staged = []

    def __enter__(self) -> StagedFiles:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()
