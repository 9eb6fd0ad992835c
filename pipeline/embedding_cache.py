"""A persistent embedding cache: SQLite in WAL mode, shared by runs and by ``compare`` arms.

A vector is keyed by a *namespace* (the encoder plugin, every setting that
changes its vectors, and the mode, query or passage) and a 16-byte BLAKE2b
digest of the exact text encoded. Vectors are stored as raw float32 bytes:
nothing is pickled. Each batch is committed as soon as it is encoded, so an
interrupted run loses no finished batch.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pivotrec.pipeline.errors import CacheError
from pivotrec.pipeline.translation_cache import in_chunks

_SCHEMA = """
CREATE TABLE IF NOT EXISTS vectors (
    namespace TEXT NOT NULL,
    digest BLOB NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (namespace, digest)
) WITHOUT ROWID
"""


def digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


class EmbeddingCache:
    """Text -> unit vector, per namespace."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fresh = not self.path.exists()
            # check_same_thread=False: Ray and progress bars may call from another thread;
            # every call is short and serialised by SQLite itself.
            self._db = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
            if fresh:
                os.chmod(self.path, 0o600)  # it holds users' query texts' vectors
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise CacheError(f"embedding cache {self.path}: {exc}; delete it, or set embedding_cache: null to run without it") from exc

    def get_many(self, namespace: str, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Cached vectors of ``texts``, by text."""
        by_digest = {digest(t): t for t in texts}
        keys = list(by_digest)
        found: dict[str, np.ndarray] = {}
        for marks, chunk in in_chunks(keys):
            rows = self._db.execute(
                f"SELECT digest, vector FROM vectors WHERE namespace = ? AND digest IN ({marks})",  # noqa: S608 - only '?' marks are interpolated
                [namespace, *chunk],
            )
            found.update((by_digest[key], np.frombuffer(blob, dtype=np.float32)) for key, blob in rows)
        return found

    def put_many(self, namespace: str, texts: Sequence[str], vectors: np.ndarray) -> None:
        """Store one batch in one transaction: all of it or none of it."""
        rows = [(namespace, digest(t), np.ascontiguousarray(v, dtype=np.float32).tobytes()) for t, v in zip(texts, vectors, strict=True)]
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO vectors (namespace, digest, vector) VALUES (?, ?, ?)", rows)

    def close(self) -> None:
        self._db.close()
