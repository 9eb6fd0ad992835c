"""``pivotrec prepare``: stream a catalogue into pivot documents and vectors, one chunk at a time."""

from __future__ import annotations

import ctypes
import functools
import shutil
from collections.abc import Callable

import numpy as np

from pivotrec.pipeline import io
from pivotrec.pipeline.errors import InputError
from pivotrec.pipeline.progress import track
from pivotrec.pipeline.runner import Pipeline, translation_problems
from pivotrec.pipeline.stats import RunSummary


def prepare_catalogue(pipeline: Pipeline) -> RunSummary:
    """Stream the catalogue into pivot documents, one chunk at a time, so memory holds one chunk.

    Each chunk is normalised, detected, translated (the translation cache
    carries repeated text across chunks, and a restarted run resumes from
    it) and, with a config ``encoder``, encoded, then appended to
    ``documents`` (JSONL) and to ``<documents>.vectors/NNNNNN.npy`` (one
    float32 matrix per chunk, rows in document order). Items whose
    translation failed are also written to the errors file.
    """
    config = pipeline.config
    summary = pipeline.summary
    if config.input is None or config.documents is None:
        raise InputError(f"{config.source}: 'input.items' and 'documents' are required to prepare a catalogue")
    errors_path = config.errors_path
    assert errors_path is not None  # documents is set
    encoder = config.encoder
    vectors_dir = config.documents.with_suffix(".vectors") if encoder is not None else None
    for path in (config.documents, errors_path):
        path.parent.mkdir(parents=True, exist_ok=True)
    if vectors_dir is not None:
        shutil.rmtree(vectors_dir, ignore_errors=True)
        vectors_dir.mkdir(parents=True)
    pipeline.warm_up()
    with config.documents.open("w", encoding="utf-8") as documents, errors_path.open("w", encoding="utf-8") as errors:
        chunks = io.iter_item_chunks(config.input.items, config.chunk_size)
        total = -(-io.count_rows(config.input.items) // config.chunk_size)
        for number, chunk in enumerate(track(chunks, f"prepare (chunks of {config.chunk_size})", total=total, unit="chunk")):
            summary.items_read += len(chunk)
            docs = pipeline.documents([i.id for i in chunk], [i.text for i in chunk], [i.lang for i in chunk])
            if encoder is not None and vectors_dir is not None:
                vectors = pipeline.vectors(encoder, "auto", docs, "passage")
                np.save(vectors_dir / f"{number:06d}.npy", vectors, allow_pickle=False)  # float32 from the encode stage
                del vectors
            io.write_rows(documents, docs)
            summary.problems += io.write_rows(errors, translation_problems(docs, "item"))
            del docs
            _release_freed_memory()
    summary.errors_file = str(errors_path)
    return summary


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
