"""A persistent index folder: build it from a config, switch to it atomically, open it without pickle.

Layout of ``INDEX/`` (every version is complete before anything points at it)::

    CURRENT                 name of the version in use (replaced atomically)
    v-<time>-<hex>/
      manifest.json         fingerprint and its parts, counts, what each ranker saved; written last
      config.json           the config it was built from (resolved paths), re-validated on open
      config.yaml           the YAML file as written, for people (when the config came from a file)
      documents.jsonl       every item's Document: original, language, pivot text, how it was translated
      users.jsonl           the users file, when the config names one (histories, the page's user list)
      vectors/<n>.npy       item vectors per ranker view (one file per encoder and text read)
      rankers/<n>/          a ranker's own structures (``Persists.save``: JSON + npz)
    .building-<pid>-<hex>/  a build in progress; a killed build's folder is removed by the next build
    .lock                   held by the one build or update writing at a time

A build writes a new version beside the old one, renames it into place and
only then replaces ``CURRENT``, so a build killed at any point leaves the
previous index usable.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from pivotrec.pipeline import io
from pivotrec.pipeline.config import RunConfig, validate
from pivotrec.pipeline.errors import InputError, OutputError
from pivotrec.pipeline.index.fingerprint import FORMAT, Fingerprint, fingerprint
from pivotrec.pipeline.protocols import Persists
from pivotrec.pipeline.records import Detection, Document, Item, Translation, User
from pivotrec.pipeline.runner import Pipeline
from pivotrec.pipeline.stats import RunSummary

CURRENT = "CURRENT"
#: Held (flock) by the one build or update writing the index folder.
LOCK = ".lock"
MANIFEST = "manifest.json"
#: Config keys that name input and output files and the index itself: an opened index needs none of them.
_FILE_KEYS = ("input", "output", "documents", "errors", "index")
#: The items and users an index is built from.
Catalogue = tuple[Sequence[Item], Sequence[User]]


@dataclass
class BuildResult:
    """What ``build_index`` did: the version folder in use, and why it was (or was not) built."""

    folder: Path
    fingerprint: Fingerprint
    built: bool
    reason: str
    items: int = 0
    summary: RunSummary = field(default_factory=RunSummary)


@dataclass
class StoredIndex:
    """An opened index version: its manifest, the config it was built from, documents, users, vectors."""

    folder: Path
    manifest: dict[str, Any]
    config: RunConfig
    documents: list[Document]
    users: list[User]
    #: Per ranker label, its item vectors (rows in ``documents`` order); only rankers that read vectors.
    vectors: dict[str, np.ndarray]

    def ranker_folder(self, label: str) -> Path | None:
        """Where the ranker ``label`` saved its structures, if it did."""
        for entry in self.manifest["rankers"]:
            if entry["label"] == label and entry["saved"]:
                return self.folder / entry["saved"]
        return None


def default_folder(config: RunConfig) -> Path:
    """``<config file without .yaml>.index`` beside the config (``index`` in the working folder for in-memory configs)."""
    if config.source == "<memory>":
        return Path("index")
    return Path(config.source).with_suffix(".index")


def current_version(root: Path) -> Path | None:
    """The version folder ``root/CURRENT`` names, or None when ``root`` holds no finished index."""
    pointer = root / CURRENT
    if not pointer.is_file():
        return None
    name = pointer.read_text(encoding="utf-8").strip()
    if not name.startswith("v-") or "/" in name or not (root / name / MANIFEST).is_file():
        raise InputError(f"{pointer}: names {name!r}, which is not a finished index version in {root}")
    return root / name


def required_version(root: Path) -> Path:
    """The version folder ``root/CURRENT`` names; where there is none, an error saying how to build one."""
    folder = current_version(root)
    if folder is None:
        raise InputError(f"{root}: no index here (no {CURRENT} file); build one with 'pivotrec index CONFIG --out {root}'")
    return folder


def read_manifest(folder: Path) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{folder / MANIFEST}: not a readable index manifest ({exc})") from exc
    if manifest.get("format") != FORMAT:
        raise InputError(f"{folder}: index format {manifest.get('format')!r}, this pivotrec reads {FORMAT}; rebuild it with 'pivotrec index'")
    return manifest


def build_index(
    config: RunConfig, root: Path, *, force: bool = False, pipeline: Pipeline | None = None, records: Catalogue | None = None,
) -> BuildResult:
    """Build the index of ``config`` into ``root`` unless one with the same fingerprint is there.

    Returns what was done and why ("no index yet", "changed: input.items,
    rankers[1] dense", "up to date", "the index there cannot be read"). Nothing
    under ``root`` that is in use is changed until the new version is complete.
    ``pipeline``: the (warm) pipeline of ``config`` to build with, so a run loads
    its models once; ``records``: the items and users to index, when the caller
    has read ``config.input`` already (a run skips unusable rows); without, the
    files are read here and any unusable row is an error.
    """
    if config.input is None:
        raise InputError(f"{config.source}: 'input.items' is required to build an index")
    fp = fingerprint(config)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{root}: cannot create the index folder there: {exc.strerror or exc}") from exc
    with writing(root):
        return _build(config, root, fp, force, pipeline, records)


def _build(config: RunConfig, root: Path, fp: Fingerprint, force: bool, pipeline: Pipeline | None, records: Catalogue | None) -> BuildResult:
    _remove_abandoned_builds(root)
    try:
        current = current_version(root)
        old = read_manifest(current) if current is not None else None
    except InputError as exc:  # a damaged CURRENT or manifest, an older format: a new version replaces it
        current, old, reason = None, None, f"rebuilt: the index there cannot be read ({exc})"
    else:
        reason = "built: no index yet"
    if current is not None and old is not None:
        changed = fp.changes(old.get("parts", {}))
        if not changed and old.get("fingerprint") == fp.digest and not force:
            return BuildResult(current, fp, False, "up to date (same fingerprint)", int(old.get("items", 0)))
        reason = "rebuilt on request (--force)" if not changed else "rebuilt: changed " + ", ".join(changed)

    pipeline = pipeline or Pipeline(config)
    pipeline.warm_up()
    items, users = records if records is not None else _read_catalogue(config)
    # The runner's own way, never a subclass's (``reuse.IndexedPipeline`` reads its catalogue from here).
    docs, vectors = Pipeline.catalogue(pipeline, items, users)
    pipeline.summary.items_read, pipeline.summary.users_read = len(items), len(users)

    version = write_version(root, IndexVersion(config, fp, pipeline, docs, users, vectors))
    return BuildResult(version, fp, True, reason, len(docs), pipeline.summary)


def _read_catalogue(config: RunConfig) -> Catalogue:
    """The items and users ``config.input`` names; any unusable row is an error (``pivotrec index`` reads clean files)."""
    assert config.input is not None
    items = io.read_items(config.input.items)
    users = io.read_users(config.input.users) if config.input.users is not None else []
    io.check_histories(users, items, str(config.input.users))
    return items, users


@contextmanager
def writing(root: Path) -> Iterator[None]:
    """Hold ``root/.lock`` while building or updating, so two writers never race to switch ``CURRENT``.

    The lock is exclusive and released by the kernel when its holder dies, so a killed build
    never blocks the next one. Readers take no lock: ``CURRENT`` switches in one atomic rename.
    """
    with (root / LOCK).open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for another build or update of {root} to finish ...", file=sys.stderr, flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(frozen=True)
class IndexVersion:
    """Everything one version of an index holds, its rankers already indexed."""

    config: RunConfig
    fingerprint: Fingerprint
    pipeline: Pipeline
    docs: Sequence[Document]
    users: Sequence[User]
    vectors: dict[str, np.ndarray]
    #: The incremental updates applied since the last full build (kept in the manifest).
    updates: Sequence[dict[str, Any]] = ()


def write_version(root: Path, contents: IndexVersion) -> Path:
    """Write a complete new version of an index, then switch ``CURRENT`` to it.

    Older versions are removed once the switch is made.
    """
    work = root / f".building-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        work.mkdir()
        _write_files(work, contents)
        version = root / f"v-{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(4)}"
        _sync_folder(work)
        work.rename(version)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    _point_at(root, version)
    for old_version in root.glob("v-*"):
        if old_version != version:
            shutil.rmtree(old_version, ignore_errors=True)
    return version


def _write_files(work: Path, version: IndexVersion) -> None:
    config, fp, pipeline, docs, users, vectors, updates = (
        version.config, version.fingerprint, version.pipeline, version.docs, version.users, version.vectors, version.updates
    )
    _write_lines(work / "documents.jsonl", (_document_row(d) for d in docs))
    if users:
        _write_lines(work / "users.jsonl", ({"id": u.id, "text": u.text, "history": list(u.history), "lang": u.lang} for u in users))
    data = config.model_dump(mode="json", exclude={"source"})
    (work / "config.json").write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    if config.source != "<memory>" and Path(config.source).is_file():
        shutil.copyfile(config.source, work / "config.yaml")
    (work / "vectors").mkdir()
    files: dict[int, str] = {}
    rankers = []
    for n, spec in enumerate(config.rankers):
        entry: dict[str, Any] = {"label": spec.label, "plugin": spec.plugin, "vectors": None, "saved": None}
        if spec.label in vectors:
            matrix = vectors[spec.label]
            if id(matrix) not in files:  # rankers reading one view share one file
                files[id(matrix)] = f"vectors/{len(files)}.npy"
                np.save(work / files[id(matrix)], np.ascontiguousarray(matrix, dtype=np.float32), allow_pickle=False)
            entry["vectors"] = files[id(matrix)]
        ranker = pipeline.retrieve.rankers[spec.label]
        if isinstance(ranker, Persists):
            entry["saved"] = f"rankers/{n}"
            ranker.save(work / entry["saved"])
        rankers.append(entry)
    manifest = {
        "format": FORMAT,
        "fingerprint": fp.digest,
        "parts": dict(fp.parts),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "config_source": config.source,
        "config_dir": str(Path(config.source).resolve().parent) if config.source != "<memory>" else None,
        "pivot": config.pivot,
        "items": len(docs),
        "users": len(users),
        "rankers": rankers,
        "updates": list(updates),
    }
    (work / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")


def open_index(path: Path) -> StoredIndex:
    """Open ``path`` (an index folder, or one of its version folders): no pickle, no model loaded."""
    folder = path if (path / MANIFEST).is_file() else required_version(path)
    manifest = read_manifest(folder)
    try:
        return _read_version(folder, manifest)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        # A damaged or partly deleted version: which one and how to replace it, never a traceback.
        raise InputError(f"{folder}: the index cannot be read ({type(exc).__name__}: {exc}); rebuild it with 'pivotrec index CONFIG --force'") from exc


def _read_version(folder: Path, manifest: dict[str, Any]) -> StoredIndex:
    data = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    for key in _FILE_KEYS:  # the catalogue is in the index now; it may have moved or changed since
        data.pop(key, None)
    base = Path(manifest["config_dir"]) if manifest.get("config_dir") else None
    config = validate(data, source=str(folder / "config.json"), base_dir=base)
    documents = [_document(row) for row in _read_lines(folder / "documents.jsonl")]
    users = []
    if (folder / "users.jsonl").is_file():
        users = [User(r["id"], r.get("text"), tuple(r.get("history") or ()), r.get("lang")) for r in _read_lines(folder / "users.jsonl")]
    loaded: dict[str, np.ndarray] = {}
    vectors = {}
    for entry in manifest["rankers"]:
        name = entry["vectors"]
        if name:
            if name not in loaded:
                loaded[name] = np.load(folder / name, allow_pickle=False)
                if loaded[name].shape[0] != len(documents):
                    raise InputError(f"{folder / name}: {loaded[name].shape[0]} rows for {len(documents)} documents; rebuild the index")
            vectors[entry["label"]] = loaded[name]
    return StoredIndex(folder, manifest, config, documents, users, vectors)


def _document_row(doc: Document) -> dict[str, Any]:
    """``asdict(doc)`` without its recursive deep copy (10x slower over a whole catalogue): every
    field is a plain value but ``detection`` and ``translation``, records of plain values."""
    row = _fields(doc)
    row["detection"] = _fields(doc.detection) if doc.detection is not None else None
    row["translation"] = _fields(doc.translation)
    return row


def _fields(record: Any) -> dict[str, Any]:
    return {f.name: getattr(record, f.name) for f in fields(record)}


def _document(row: dict[str, Any]) -> Document:
    detection = Detection(**row["detection"]) if row.get("detection") else None
    return Document(row["id"], row["original"], row["lang"], row["pivot"], detection, Translation(**row["translation"]))


def _write_lines(path: Path, rows: Iterator[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def _read_lines(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    row = json.loads(line)
                except ValueError as exc:
                    raise InputError(f"{path}: line {number} is not JSON ({exc}); rebuild the index with 'pivotrec index CONFIG --force'") from exc
                yield row


def _sync_folder(folder: Path) -> None:
    """Flush every file of a finished version to disk before it is renamed into place."""
    for path in sorted(folder.rglob("*"), reverse=True):
        _fsync(path)
    _fsync(folder)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _point_at(root: Path, version: Path) -> None:
    """Replace ``CURRENT`` in one atomic step (write beside it, fsync, rename over it)."""
    temporary = root / f".{CURRENT}-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        with temporary.open("w", encoding="utf-8") as handle:
            handle.write(version.name + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, root / CURRENT)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise OutputError(f"{root / CURRENT}: cannot switch to the new index version: {exc}") from exc
    _fsync(root)


def _remove_abandoned_builds(root: Path) -> None:
    """Remove ``.building-<pid>-*`` folders whose process is gone: what a killed build left."""
    for folder in root.glob(".building-*"):
        pid = folder.name.split("-")[1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
