"""A persistent translation cache: SQLite in WAL mode, shared by runs.

A key is a *namespace* (translator, model, revision, decoding settings and
language pair, as one canonical JSON string) plus the normalised segment.
Each batch is committed as soon as it is translated, so a crashed or
interrupted run loses no finished translation, and rerunning it resumes where
it stopped. WAL mode lets several runs read while one writes. Every query is
parameterised; nothing is pickled.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from pivotrec.pipeline.errors import CacheError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS translations (
    namespace TEXT NOT NULL,
    segment TEXT NOT NULL,
    translation TEXT NOT NULL,
    PRIMARY KEY (namespace, segment)
) WITHOUT ROWID
"""
_COLUMNS = ["namespace", "segment", "translation"]
#: SQLite's default limit on host parameters per statement is 32766 (999 before 3.32).
_CHUNK = 900
#: The first 16 bytes of every SQLite database file.
_SQLITE_HEADER = b"SQLite format 3\x00"
#: The way out of any cache problem: the cache only saves work, so losing it loses nothing.
_FIX = "delete it (its translations are simply done again) or set translator.cache: null"


def in_chunks(keys: Sequence[Any]) -> Iterator[tuple[str, Sequence[Any]]]:
    """Keys in slices that fit one statement's host parameters, with their ``?, ?, ...`` marks."""
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        yield ",".join("?" * len(chunk)), chunk


def normalise_segment(segment: str) -> str:
    """The cache's view of a segment: NFC, with runs of whitespace as one space."""
    return " ".join(unicodedata.normalize("NFC", segment).split())


def namespace(**parts: Any) -> str:
    """A canonical key for everything that changes a translation besides the text."""
    return json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)


class TranslationCache:
    """Segment -> translation, per namespace; counts hits and misses.

    Opening checks everything a run will need (a SQLite file with this schema,
    writable), so a bad cache fails before any work rather than after it; every
    failure is a CacheError naming the file and the fix. A new cache file is
    created readable by its owner only: it holds users' query texts.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.hits = 0
        self.misses = 0
        # Ray Data calls an actor from another thread than the one that built it;
        # the lock keeps one statement at a time on the shared connection.
        self._lock = threading.Lock()
        self._refuse_what_is_not_a_cache()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            # Autocommit mode; writes are grouped in explicit transactions.
            self._db = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
            # Read before anything is written: another program's database is left as it is.
            tables = [row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            columns = [row[1] for row in self._db.execute("PRAGMA table_info(translations)")]
            if tables and columns != _COLUMNS:
                self._db.close()
                raise self._not_a_cache(f"a SQLite database with tables {tables}, not a translation cache")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(_SCHEMA)
            # A write rolled back proves the file, its folder (WAL files) and the disk are
            # writable; a read-only file opens without complaint and only fails here.
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("PRAGMA user_version = 0")
            finally:
                self._db.execute("ROLLBACK")
        except (OSError, sqlite3.Error) as exc:
            raise self._error(exc) from exc

    def _refuse_what_is_not_a_cache(self) -> None:
        """A folder, or a file that is not SQLite (a config pointing at the wrong file): never advise deleting it."""
        if self.path.is_dir():
            raise CacheError(f"translation cache {self.path} is a folder; set translator.cache to a file path, or to null")
        try:
            with self.path.open("rb") as handle:
                header = handle.read(len(_SQLITE_HEADER))
        except FileNotFoundError:
            return
        except OSError as exc:
            raise self._error(exc) from exc
        if header and header != _SQLITE_HEADER:
            raise self._not_a_cache("not a SQLite database")

    def _not_a_cache(self, what: str) -> CacheError:
        return CacheError(f"translation cache {self.path} is {what} (translator.cache names another file?); point translator.cache at a new file, or set it to null")

    def _error(self, exc: Exception) -> CacheError:
        return CacheError(f"translation cache {self.path}: {type(exc).__name__}: {exc}; {_FIX}")

    def get_many(self, space: str, segments: Sequence[str]) -> dict[str, str]:
        """Cached translations of ``segments`` (keyed by the segment as given)."""
        keys = {normalise_segment(s): s for s in segments}
        found: dict[str, str] = {}
        normalised = list(keys)
        try:
            with self._lock:
                for marks, chunk in in_chunks(normalised):
                    rows = self._db.execute(
                        f"SELECT segment, translation FROM translations WHERE namespace = ? AND segment IN ({marks})",  # noqa: S608 - only '?' marks are interpolated
                        [space, *chunk],
                    )
                    found.update((keys[segment], translation) for segment, translation in rows)
        except sqlite3.Error as exc:
            raise self._error(exc) from exc
        result = {s: found[s] for s in segments if s in found}
        self.hits += len(result)
        self.misses += len(set(segments)) - len(result)
        return result

    def put_many(self, space: str, pairs: Iterable[tuple[str, str]]) -> None:
        """Store translations in one transaction: all of the batch or none of it."""
        rows = [(space, normalise_segment(s), t) for s, t in pairs]
        try:
            with self._lock, self._db:
                self._db.execute("BEGIN")
                self._db.executemany("INSERT OR REPLACE INTO translations (namespace, segment, translation) VALUES (?, ?, ?)", rows)
        except sqlite3.Error as exc:
            raise self._error(exc) from exc

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> TranslationCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
