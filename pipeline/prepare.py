"""``pivotrec prepare``: stream a catalogue into pivot documents and vectors, one chunk at a time.

Nothing a finished prepare wrote is touched until a new one finishes. Until
then everything goes to a work folder beside ``documents`` (the errors file's
partial copy beside the errors file), with a progress record written after
each chunk; a prepare that was interrupted or failed resumes after its last
finished chunk when run again with the same catalogue and settings. On
success the files are renamed over the old ones and a manifest is written
last: a ``documents`` file without a manifest that says ``complete`` is not a
finished one.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from pivotrec.pipeline import io, outputs
from pivotrec.pipeline.config import MANIFEST, VECTORS, WORK_FOLDER, RunConfig
from pivotrec.pipeline.errors import InputError, Interrupted
from pivotrec.pipeline.progress import track
from pivotrec.pipeline.problems import translation_problems, without_empty_texts
from pivotrec.pipeline.runner import Pipeline
from pivotrec.pipeline.stats import RunSummary, TranslationStats

_PROGRESS = "progress.json"
_DOCUMENTS = "documents.jsonl"
_VECTORS = "vectors"


@dataclass(frozen=True)
class Prepared:
    """What ``prepare_catalogue`` did."""

    summary: RunSummary
    #: Chunks an earlier, unfinished prepare had done, which this one resumed after (0: a fresh start).
    resumed_chunks: int
    documents: Path
    errors: Path
    manifest: Path


def prepare_catalogue(pipeline: Pipeline) -> Prepared:
    """Stream the catalogue into pivot documents, one chunk at a time, so memory holds one chunk.

    Each chunk is normalised, detected, translated (the translation cache
    carries repeated text across chunks) and, with a config ``encoder``,
    encoded; its documents (JSONL, the raw text beside the cleaned one) and
    its vectors (``<documents>.vectors/NNNNNN.npy``, one float32 matrix per
    chunk, rows in document order) are appended to the work folder. Rows that
    cannot be used and items whose translation failed go to the errors file.
    """
    config = pipeline.config
    if config.input is None or config.documents is None:
        raise InputError(f"{config.source}: 'input.items' and 'documents' are required to prepare a catalogue")
    planned = config.outputs("prepare")
    outputs.check_outputs(planned, config.inputs())
    paths = {out.key: out.path for out in planned}
    items_path = config.input.items
    if config.strict:
        _refuse_unusable_rows(pipeline, items_path)
    work = _Work(paths[WORK_FOLDER], paths["errors"], _fingerprint(config, items_path))
    summary = pipeline.summary
    work.restore(summary)
    encoder = config.encoder
    pipeline.warm_up()
    chunks = io.iter_item_chunks(items_path, config.chunk_size)
    total = -(-io.count_rows(items_path) // config.chunk_size)
    try:
        for number, loaded in enumerate(track(chunks, f"prepare (chunks of {config.chunk_size})", total=total, unit="chunk")):
            if number < work.chunks:
                continue  # done before the interruption; read only to check ids
            chunk = without_empty_texts(loaded, pipeline.normalise)
            items = chunk.records
            summary.items_read += len(items)
            docs = pipeline.documents([i.id for i in items], [i.text for i in items], [i.lang for i in items]) if items else []
            if encoder is not None and docs:
                vectors = pipeline.vectors(encoder, "auto", docs, "passage")
                np.save(work.vectors / f"{number:06d}.npy", vectors, allow_pickle=False)  # float32 from the encode stage
                del vectors
            outputs.write_rows(work.documents, outputs.document_rows(docs, {i.id: i.text for i in items}), "documents", config.documents)
            summary.problems += outputs.write_rows(work.errors, outputs.problem_rows(chunk.problems + translation_problems(docs, "item")), "errors", paths["errors"])
            work.chunk_done(summary)
            del docs
            _release_freed_memory()
    except KeyboardInterrupt as exc:
        raise Interrupted(
            f"prepare was interrupted with {work.chunks} of {total} chunk(s) finished; {config.documents} and the other outputs "
            f"were not replaced. Run the same command again to resume with chunk {work.chunks + 1} (progress is kept in {work.folder})"
        ) from exc
    finally:
        work.close()
    work.publish(config.documents, paths["errors"], paths.get(VECTORS), paths[MANIFEST], summary)
    summary.errors_file = str(paths["errors"])
    return Prepared(summary, work.resumed_chunks, config.documents, paths["errors"], paths[MANIFEST])


def _refuse_unusable_rows(pipeline: Pipeline, items: Path) -> None:
    """``strict: true``: a pass over the whole catalogue first, so every unusable row is listed before any work."""
    problems = [p for chunk in io.iter_item_chunks(items, pipeline.config.chunk_size) for p in without_empty_texts(chunk, pipeline.normalise).problems]
    io.refuse(problems, f"{pipeline.config.source} (strict: true)")


def _fingerprint(config: RunConfig, items: Path) -> str:
    """What the partial outputs depend on: the catalogue file as it is now, and every setting that changes a document."""
    stat = items.stat()
    settings = config.model_dump(mode="json", include={"pivot", "chunk_size", "normalise", "detector", "translator", "encoder"})
    described = json.dumps({"items": [str(items), stat.st_size, stat.st_mtime_ns], "settings": settings}, sort_keys=True, default=str)
    return hashlib.sha256(described.encode("utf-8")).hexdigest()


class _Work:
    """The partial outputs of one prepare and its progress record, resumed when the
    fingerprint matches and started afresh otherwise."""

    def __init__(self, folder: Path, errors_target: Path, fingerprint: str) -> None:
        self.folder = folder
        self.fingerprint = fingerprint
        self.vectors = folder / _VECTORS
        self._errors_path = errors_target.with_name(f".{errors_target.name}.partial")
        progress = self._progress()
        if progress.get("fingerprint") != fingerprint:
            shutil.rmtree(folder, ignore_errors=True)
            self._errors_path.unlink(missing_ok=True)
            progress = {"chunks": 0, "documents_bytes": 0, "errors_bytes": 0}
        self.vectors.mkdir(parents=True, exist_ok=True)
        self.progress = progress
        self.resumed_chunks = self.chunks = int(progress["chunks"])
        # Rows of a chunk that was cut short are dropped; that chunk is done again.
        self.documents = self._reopen(folder / _DOCUMENTS, int(progress["documents_bytes"]))
        self.errors = self._reopen(self._errors_path, int(progress["errors_bytes"]))
        for shard in self.vectors.glob("*.npy"):
            if int(shard.stem) >= self.chunks:
                shard.unlink()

    def _progress(self) -> dict[str, Any]:
        try:
            progress = json.loads((self.folder / _PROGRESS).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return progress if isinstance(progress, dict) else {}

    @staticmethod
    def _reopen(path: Path, size: int) -> IO[str]:
        with path.open("ab") as handle:
            handle.truncate(size)
        return path.open("a", encoding="utf-8")

    def restore(self, summary: RunSummary) -> None:
        """Counts of the chunks done before, so the summary covers the whole catalogue."""
        if self.chunks:
            summary.items_read = int(self.progress["items_read"])
            summary.problems = int(self.progress["problems"])
            summary.texts_low_confidence = int(self.progress.get("texts_low_confidence", 0))  # absent from older progress files
            summary.translation = TranslationStats.from_json(self.progress["translation"])

    def chunk_done(self, summary: RunSummary) -> None:
        """Record one more finished chunk, once its rows are on disk."""
        for handle in (self.documents, self.errors):
            handle.flush()
            os.fsync(handle.fileno())
        self.chunks += 1
        progress = {
            "fingerprint": self.fingerprint, "chunks": self.chunks,
            "documents_bytes": self.documents.tell(), "errors_bytes": self.errors.tell(),
            "items_read": summary.items_read, "problems": summary.problems, "translation": summary.translation.to_json(),
            "texts_low_confidence": summary.texts_low_confidence,
        }
        _write_json_atomically(self.folder / _PROGRESS, progress)

    def close(self) -> None:
        self.documents.close()
        self.errors.close()

    def publish(self, documents: Path, errors: Path, vectors: Path | None, manifest: Path, summary: RunSummary) -> None:
        """Rename the finished files over the old ones, write the manifest last, and clear the work folder."""
        manifest.unlink(missing_ok=True)  # an old manifest must not vouch for new files while they are renamed
        os.replace(self._errors_path, errors)
        os.replace(self.folder / _DOCUMENTS, documents)
        if vectors is not None:
            _replace_folder(self.vectors, vectors)
        _write_json_atomically(manifest, {
            "complete": True, "documents": documents.name, "errors": str(errors), "vectors": vectors.name if vectors else None,
            "chunks": self.chunks, "items": summary.items_read, "problems": summary.problems, "fingerprint": self.fingerprint,
        })
        shutil.rmtree(self.folder)


def _replace_folder(new: Path, old: Path) -> None:
    """Put ``new`` where ``old`` is; ``old`` is moved aside first and deleted once ``new`` is in place."""
    aside = old.with_name(f".{old.name}.old")
    shutil.rmtree(aside, ignore_errors=True)
    if old.exists():
        old.rename(aside)
    new.rename(old)
    shutil.rmtree(aside, ignore_errors=True)


def _write_json_atomically(path: Path, value: dict[str, Any]) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(value, indent=1), encoding="utf-8")
    os.replace(temporary, path)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


def _release_freed_memory() -> None:
    """Hand freed heap back to the OS between chunks: glibc keeps it, and RSS creeps up chunk after chunk."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
