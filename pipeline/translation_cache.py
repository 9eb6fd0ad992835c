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
import sqlite3
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS translations (
    namespace TEXT NOT NULL,
    segment TEXT NOT NULL,
    translation TEXT NOT NULL,
    PRIMARY KEY (namespace, segment)
) WITHOUT ROWID
"""
#: SQLite's default limit on host parameters per statement is 32766 (999 before 3.32).
_CHUNK = 900


def normalise_segment(segment: str) -> str:
    """The cache's view of a segment: NFC, with runs of whitespace as one space."""
    return " ".join(unicodedata.normalize("NFC", segment).split())


def namespace(**parts: Any) -> str:
    """A canonical key for everything that changes a translation besides the text."""
    return json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)


class TranslationCache:
    """Segment -> translation, per namespace; counts hits and misses."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode; writes are grouped in explicit transactions.
        self._db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)
        self.hits = 0
        self.misses = 0

    def get_many(self, space: str, segments: Sequence[str]) -> dict[str, str]:
        """Cached translations of ``segments`` (keyed by the segment as given)."""
        keys = {normalise_segment(s): s for s in segments}
        found: dict[str, str] = {}
        normalised = list(keys)
        for start in range(0, len(normalised), _CHUNK):
            chunk = normalised[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT segment, translation FROM translations WHERE namespace = ? AND segment IN ({marks})",  # noqa: S608 - only '?' marks are interpolated
                [space, *chunk],
            )
            for segment, translation in rows:
                found[keys[segment]] = translation
        result = {s: found[s] for s in segments if s in found}
        self.hits += len(result)
        self.misses += len(set(segments)) - len(result)
        return result

    def put_many(self, space: str, pairs: Iterable[tuple[str, str]]) -> None:
        """Store translations in one transaction: all of the batch or none of it."""
        rows = [(space, normalise_segment(s), t) for s, t in pairs]
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO translations (namespace, segment, translation) VALUES (?, ?, ?)", rows)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> TranslationCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
