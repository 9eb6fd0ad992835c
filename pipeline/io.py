"""Read catalogues and users from JSONL, CSV/TSV or Parquet; write recommendations.

Readers never skip a bad record: they raise InputError naming the file, the
line (or row) and the field, so nothing is dropped without the user knowing.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO, TypeVar

import numpy as np

from pivotrec.pipeline.errors import InputError
from pivotrec.pipeline.records import Document, Item, Problem, Recommendation, User

Record = TypeVar("Record", Item, User)

_ITEM_KEYS = {"id", "text", "lang"}


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line or row number, raw mapping) from any supported format."""
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        yield from _parquet_rows(path)
        return
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            if suffix in (".csv", ".tsv"):
                reader = csv.DictReader(handle, delimiter="\t" if suffix == ".tsv" else ",")
                for row in reader:
                    # reader.line_num is the physical line of the row's end.
                    yield reader.line_num, {k: v for k, v in row.items() if k is not None and v != ""}
            elif suffix in (".jsonl", ".ndjson", ".json"):
                for number, line in enumerate(handle, start=1):
                    if not line.strip():
                        continue
                    try:
                        value = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise InputError(f"{path}:{number}: malformed JSON: {exc.msg} (column {exc.colno})") from exc
                    if not isinstance(value, dict):
                        raise InputError(f"{path}:{number}: expected a JSON object, got {type(value).__name__}")
                    yield number, value
            else:
                raise InputError(f"{path}: unsupported format {suffix!r}; use .jsonl, .csv, .tsv or .parquet")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}:{_first_bad_utf8(path)}: not UTF-8 text; re-save the file as UTF-8") from exc


def _first_bad_utf8(path: Path) -> str:
    """``line N, byte M`` of the first invalid UTF-8 sequence (the decoder's offset is per chunk)."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                return f"{number}: byte {exc.start + 1} of the line ({raw[exc.start:exc.start + 1]!r})"
    return "?"


def _parquet_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:  # pragma: no cover - pyarrow is a dependency
        raise InputError(f"{path}: reading Parquet needs pyarrow (pip install pyarrow)") from exc
    table = pq.read_table(path)
    for number, row in enumerate(table.to_pylist(), start=1):
        yield number, {k: v for k, v in row.items() if v is not None}


def _records(path: Path, kind: str, build: Callable[[dict[str, Any]], Record]) -> Iterator[tuple[int, Record]]:
    """(line or row number, record) for every row; a bad row raises naming file and line."""
    for number, raw in _rows(path):
        where = f"{path}:{number}"
        if "id" not in raw or raw["id"] in ("", None):
            raise InputError(f"{where}: {kind} has no 'id'")
        raw = {**raw, "id": str(raw["id"])}
        try:
            yield number, build(raw)
        except (ValueError, TypeError) as exc:
            raise InputError(f"{where}: {exc}") from exc


def _read(path: Path, kind: str, build: Callable[[dict[str, Any]], Record]) -> list[Record]:
    records: list[Record] = []
    first_seen: dict[str, int] = {}
    for number, record in _records(path, kind, build):
        if record.id in first_seen:
            raise _duplicate_id(path, number, kind, record.id, first_seen[record.id])
        first_seen[record.id] = number
        records.append(record)
    if not records:
        raise InputError(f"{path}: no {kind}s found")
    return records


def _duplicate_id(path: Path, number: int, kind: str, record_id: str, first: int) -> InputError:
    return InputError(f"{path}:{number}: duplicate {kind} id {record_id!r} (first at line {first})")


def _id_hash(item_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(item_id.encode("utf-8"), digest_size=8).digest(), "little", signed=True)


def iter_item_chunks(path: str | Path, chunk_size: int) -> Iterator[list[Item]]:
    """The catalogue in chunks of ``chunk_size`` items, for catalogues larger than memory.

    Duplicate ids are still refused, as ``read_items`` does, but checked by
    8-byte id hashes (8 MB per million items rather than every id string);
    a hash collision is confirmed on the ids themselves before it is reported.
    """
    path = Path(path)
    seen = _SortedHashes()
    chunk: list[Item] = []
    numbers: list[int] = []
    for number, item in _records(path, "item", _build_item):
        chunk.append(item)
        numbers.append(number)
        if len(chunk) == chunk_size:
            _check_new_ids(path, chunk, numbers, seen)
            yield chunk
            chunk, numbers = [], []
    if chunk:
        _check_new_ids(path, chunk, numbers, seen)
        yield chunk
    if not seen.count:
        raise InputError(f"{path}: no items found")


def count_rows(path: str | Path) -> int:
    """Rows in a catalogue file, cheaply, for a progress bar's total (CSV rows that span
    lines count once per line, so it can overshoot there)."""
    path = Path(path)
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    with path.open("rb") as handle:
        lines = sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))
    return lines - 1 if path.suffix.lower() in (".csv", ".tsv") else lines


class _SortedHashes:
    """A sorted int64 array grown in place (capacity doubles), so a long stream does not
    leave a trail of freed arrays behind: allocating a new array per chunk fragments the
    heap, and RSS then grows far faster than the 8 bytes per item kept."""

    def __init__(self) -> None:
        self.values = np.empty(1024, dtype=np.int64)
        self.count = 0

    def contains(self, hashes: np.ndarray) -> np.ndarray:
        if not self.count:
            return np.zeros(len(hashes), dtype=bool)
        known = self.values[: self.count]
        at = np.minimum(np.searchsorted(known, hashes), self.count - 1)
        return known[at] == hashes

    def add(self, hashes: np.ndarray) -> None:
        needed = self.count + len(hashes)
        if needed > len(self.values):
            grown = np.empty(max(needed, 2 * len(self.values)), dtype=np.int64)
            grown[: self.count] = self.values[: self.count]
            self.values = grown
        self.values[self.count : needed] = hashes
        self.count = needed
        self.values[: self.count].sort()  # in place


def _check_new_ids(path: Path, chunk: list[Item], numbers: list[int], seen: _SortedHashes) -> None:
    hashes = np.fromiter((_id_hash(i.id) for i in chunk), dtype=np.int64, count=len(chunk))
    repeated = seen.contains(hashes) | _repeats_within(hashes)
    if repeated.any():
        suspects = {chunk[row].id for row in np.flatnonzero(repeated)}
        first = _first_lines(path, suspects)
        for item, number in zip(chunk, numbers, strict=True):
            if item.id in suspects and first.get(item.id, number) != number:
                raise _duplicate_id(path, number, "item", item.id, first[item.id])
    seen.add(hashes)


def _repeats_within(hashes: np.ndarray) -> np.ndarray:
    _, first_index = np.unique(hashes, return_index=True)
    repeated = np.ones(len(hashes), dtype=bool)
    repeated[first_index] = False
    return repeated


def _first_lines(path: Path, ids: set[str]) -> dict[str, int]:
    """Line of the first occurrence of each id (a second pass, only when a duplicate is suspected)."""
    first: dict[str, int] = {}
    for number, item in _records(path, "item", _build_item):
        if item.id in ids:
            first.setdefault(item.id, number)
    return first


def _build_item(raw: dict[str, Any]) -> Item:
    if "text" not in raw:
        raise ValueError(f"item {raw['id']!r} has no 'text'")
    fields = {k: v for k, v in raw.items() if k not in _ITEM_KEYS}
    return Item(id=raw["id"], text=raw["text"], lang=raw.get("lang"), fields=fields)


def _history(value: Any) -> tuple[str, ...]:
    # CSV cells hold a history as "a|b|c"; JSON and Parquet hold a list.
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split("|") if part.strip())
    if isinstance(value, Iterable):
        return tuple(str(v) for v in value)
    raise ValueError(f"'history' must be a list of item ids, got {value!r}")


def _build_user(raw: dict[str, Any]) -> User:
    unknown = set(raw) - {"id", "text", "history", "lang"}
    if unknown:
        raise ValueError(f"user {raw['id']!r}: unknown field(s) {sorted(unknown)}; expected id, text, history, lang")
    return User(id=raw["id"], text=raw.get("text"), history=_history(raw.get("history", ())), lang=raw.get("lang"))


def read_items(path: str | Path) -> list[Item]:
    """Catalogue items: ``id`` and ``text`` required, ``lang`` optional, other columns kept as fields."""
    return _read(Path(path), "item", _build_item)


def read_users(path: str | Path) -> list[User]:
    """Users or queries: ``id`` plus ``text`` and/or ``history`` (item ids, oldest first)."""
    return _read(Path(path), "user", _build_user)


def check_histories(users: Sequence[User], items: Sequence[Item], source: str) -> None:
    """Refuse users whose history names items that are not in the catalogue."""
    known = {item.id for item in items}
    for user in users:
        missing = [i for i in user.history if i not in known]
        if missing:
            raise InputError(f"{source}: user {user.id!r} has history item(s) not in the catalogue: {missing}")


def _row(record: Recommendation | Document | Problem) -> dict[str, Any]:
    if isinstance(record, Document):
        t = record.translation
        return {
            "id": record.id, "lang": record.lang, "original": record.original, "pivot": record.pivot,
            "detection_confidence": record.detection.confidence if record.detection else None,
            "translator": t.translator, "model": t.model, "from_cache": t.cached, "kept_original": t.kept_original,
            "failed": t.failed, "suspicious": t.suspicious, "note": t.note,
        }
    row = asdict(record)
    if isinstance(record, Recommendation):
        row["explanations"] = list(record.explanations)
    return row


def write_rows(handle: TextIO, records: Iterable[Recommendation | Document | Problem]) -> int:
    """Append one JSON object per record to an open file; returns the count written."""
    count = 0
    for record in records:
        handle.write(json.dumps(_row(record), ensure_ascii=False) + "\n")
        count += 1
    return count


def write_jsonl(path: str | Path, records: Iterable[Recommendation | Document | Problem]) -> int:
    """Write recommendations, documents or problems as JSONL; returns the count written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        return write_rows(handle, records)
