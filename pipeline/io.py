"""Read catalogues and users from JSONL, CSV/TSV or Parquet (outputs: see outputs.py).

A row that cannot be read as a record at all (malformed JSON, no id, a
duplicate id) stops the read with an InputError naming the file and line. A
row that is a record with an unusable value (an empty text, an unknown
language code, an id that is not text) becomes a Problem naming the file and
line, so a run can skip it, write it to the errors file and go on, or refuse
(``strict: true``). A text's lone surrogates are removed, with a Problem too.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

import numpy as np

from pivotrec.pipeline.errors import InputError, quoted
from pivotrec.pipeline.languages import normalise_language
from pivotrec.pipeline.records import Item, Problem, User, escape_not_text

Record = TypeVar("Record", Item, User)
Kind = Literal["item", "user"]

_ITEM_KEYS = {"id", "text", "lang"}
_USER_KEYS = {"id", "text", "history", "lang"}
#: Problems listed in one error message; the errors file (strict: false) holds them all.
_LISTED = 50
#: Half of a UTF-16 pair: a JSON file can spell one (``"\ud83d"``), no UTF-8 file can hold one.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass
class Loaded(Generic[Record]):
    """What a file (or one chunk of it) gave: usable records, the line of every row
    by id, and a Problem (file and line in its reason) for every row refused."""

    path: Path
    records: list[Record] = field(default_factory=list)
    lines: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def where(self, record_id: str) -> str:
        return f"{self.path}:{self.lines[record_id]}"


@dataclass(frozen=True)
class _Row(Generic[Record]):
    """One row read: its line or row number, its id (escaped where it is not text, so that
    the errors file can hold it), its record (None when refused) and the problems found."""

    number: int
    id: str
    record: Record | None
    problems: tuple[Problem, ...] = ()


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line or row number, raw mapping) from any supported format."""
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        yield from _parquet_rows(path)
        return
    if suffix not in (".csv", ".tsv", ".jsonl", ".ndjson", ".json"):
        raise InputError(f"{path}: unsupported format {suffix!r}; use .jsonl, .csv, .tsv or .parquet")
    try:
        # utf-8-sig reads a byte-order mark (every Excel export starts with one)
        # instead of making it part of the first column's name.
        with path.open(encoding="utf-8-sig", newline="") as handle:
            if suffix in (".csv", ".tsv"):
                reader = csv.DictReader(handle, delimiter="\t" if suffix == ".tsv" else ",")
                for row in reader:
                    # reader.line_num is the physical line of the row's end.
                    yield reader.line_num, {k: v for k, v in row.items() if k is not None and v != ""}
            else:
                for number, line in enumerate(handle, start=1):
                    if line.strip():
                        yield number, _json_object(path, number, line)
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}:{_first_bad_utf8(path)}: not UTF-8 text; re-save the file as UTF-8") from exc


def _json_object(path: Path, number: int, line: str) -> dict[str, Any]:
    try:
        value = json.loads(line, object_pairs_hook=_refuse_duplicate_keys, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{number}: malformed JSON: {exc.msg} (column {exc.colno})") from exc
    except ValueError as exc:
        raise InputError(f"{path}:{number}: {exc}") from exc
    if not isinstance(value, dict):
        raise InputError(f"{path}:{number}: expected a JSON object, got {_kind(value)}")
    return value


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Plain json.loads keeps the last of two equal keys: one of the values would vanish unseen.
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise ValueError(f"duplicate key {quoted(key)} in one JSON object")
        found[key] = value
    return found


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (Python writes it for a missing or infinite number); write null or a number")


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
    import pyarrow as pa
    import pyarrow.parquet as pq

    number = 0
    try:
        # Batch by batch, so a catalogue larger than memory streams.
        for batch in pq.ParquetFile(path).iter_batches(batch_size=10_000):
            for row in batch.to_pylist():
                number += 1
                yield number, {k: v for k, v in row.items() if v is not None}
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{path}: not a readable Parquet file (after {number} rows: {exc}); write it again") from exc


def _kind(value: Any) -> str:
    """A value's type as a JSON reader names it: ``a number (7)``, ``a list``."""
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list", dict: "an object"}
    name = next((n for t, n in names.items() if type(value) is t), f"a {type(value).__name__}")
    return f"{name} ({quoted(value)})" if isinstance(value, (int, float)) else name


def _records(path: Path, kind: Kind, build: Callable[[dict[str, Any]], Record]) -> Iterator[_Row[Record]]:
    """Every row: its record or the Problem that refused it, and a Problem for what was removed from its text."""
    for number, raw in _rows(path):
        where = f"{path}:{number}"
        if raw.get("id") in ("", None):
            raise InputError(f"{where}: {kind} has no 'id'")
        if type(raw["id"]) not in (str, int):
            raise InputError(f"{where}: {kind} id must be a string or a whole number, got {_kind(raw['id'])}")
        raw = {**raw, "id": str(raw["id"])}
        row_id = escape_not_text(raw["id"])  # an id that is not text is refused, and written escaped
        raw, removed = _without_lone_surrogates(raw)
        problems: list[Problem] = [Problem(kind, row_id, "read", f"{where}: {kind} {quoted(raw['id'])}: {removed}")] if removed else []
        try:
            record = build(raw)
        except (ValueError, TypeError) as exc:
            yield _Row(number, row_id, None, (*problems, Problem(kind, row_id, "read", f"{where}: {exc}")))
            continue
        yield _Row(number, row_id, record, tuple(problems))


def _without_lone_surrogates(raw: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """``raw`` without the lone surrogates of its text, and what was removed (None: nothing).

    Such a text is usually a string cut in the middle of a character (an emoji) by the
    program that wrote it: the rest is served, and no output is left unwritable.
    """
    text = raw.get("text")
    if not isinstance(text, str) or not _LONE_SURROGATE.search(text):
        return raw, None
    found = _LONE_SURROGATE.findall(text)
    code_points = ", ".join(sorted({f"U+{ord(c):04X}" for c in found}))
    return {**raw, "text": _LONE_SURROGATE.sub("", text)}, f"removed {len(found)} lone surrogate(s) ({code_points}) from its text: half of a character, which is not text"


def _load(path: Path, kind: Kind, build: Callable[[dict[str, Any]], Record]) -> Loaded[Record]:
    loaded: Loaded[Record] = Loaded(path)
    for row in _records(path, kind, build):
        if row.id in loaded.lines:
            raise _duplicate_id(path, row.number, kind, row.id, loaded.lines[row.id])
        loaded.lines[row.id] = row.number
        loaded.problems += row.problems
        if row.record is not None:
            loaded.records.append(row.record)
    if not loaded.lines:
        raise InputError(f"{path}: no {kind}s found")
    return loaded


def _duplicate_id(path: Path, number: int, kind: str, record_id: str, first: int) -> InputError:
    return InputError(f"{path}:{number}: duplicate {kind} id {quoted(record_id)} (first at line {first})")


def refuse(problems: Sequence[Problem], what: str) -> None:
    """Raise one InputError listing every problem (up to ``_LISTED`` of them), if there are any."""
    if not problems:
        return
    listing = "\n".join(f"  {p.reason}" for p in problems[:_LISTED])
    more = f"\n  ... and {len(problems) - _LISTED} more" if len(problems) > _LISTED else ""
    raise InputError(f"{what}: {len(problems)} unusable row(s):\n{listing}{more}")


def _id_hash(item_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(item_id.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little", signed=True)


def iter_item_chunks(path: str | Path, chunk_size: int) -> Iterator[Loaded[Item]]:
    """The catalogue in chunks of ``chunk_size`` usable items (and the rows refused among
    them), for catalogues larger than memory.

    Duplicate ids are still refused, as ``load_items`` does, but checked by
    8-byte id hashes (8 MB per million items rather than every id string);
    a hash collision is confirmed on the ids themselves before it is reported.
    """
    path = Path(path)
    seen = _SortedHashes()
    chunk: Loaded[Item] = Loaded(path)
    rows: list[tuple[str, int]] = []  # (id, line) of every row of the chunk, in order
    for row in _records(path, "item", _build_item):
        chunk.lines[row.id] = row.number
        rows.append((row.id, row.number))
        chunk.problems += row.problems
        if row.record is None:
            continue
        chunk.records.append(row.record)
        if len(chunk.records) == chunk_size:
            _check_new_ids(path, rows, seen)
            yield chunk
            chunk, rows = Loaded(path), []
    if rows:
        _check_new_ids(path, rows, seen)
        yield chunk
    if not seen.count:
        raise InputError(f"{path}: no items found")


def count_rows(path: str | Path) -> int:
    """Rows in a catalogue file, cheaply, for a progress bar's total (CSV rows that span
    lines count once per line, so it can overshoot there)."""
    path = Path(path)
    if path.suffix.lower() == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            return int(pq.ParquetFile(path).metadata.num_rows)
        except (pa.ArrowException, OSError) as exc:
            raise InputError(f"{path}: not a readable Parquet file ({exc}); write it again") from exc
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


def _check_new_ids(path: Path, rows: list[tuple[str, int]], seen: _SortedHashes) -> None:
    hashes = np.fromiter((_id_hash(record_id) for record_id, _ in rows), dtype=np.int64, count=len(rows))
    repeated = seen.contains(hashes) | _repeats_within(hashes)
    if repeated.any():
        suspects = {rows[row][0] for row in np.flatnonzero(repeated)}
        first = _first_lines(path, suspects)
        for record_id, number in rows:
            if record_id in suspects and first.get(record_id, number) != number:
                raise _duplicate_id(path, number, "item", record_id, first[record_id])
    seen.add(hashes)


def _repeats_within(hashes: np.ndarray) -> np.ndarray:
    _, first_index = np.unique(hashes, return_index=True)
    repeated = np.ones(len(hashes), dtype=bool)
    repeated[first_index] = False
    return repeated


def _first_lines(path: Path, ids: set[str]) -> dict[str, int]:
    """Line of the first occurrence of each id (a second pass, only when a duplicate is suspected)."""
    first: dict[str, int] = {}
    for row in _records(path, "item", _build_item):
        if row.id in ids:
            first.setdefault(row.id, row.number)
    return first


def _text(raw: dict[str, Any], kind: Kind) -> str | None:
    text = raw.get("text")
    if text is not None and not isinstance(text, str):
        raise ValueError(f"{kind} {quoted(raw['id'])}: 'text' must be a string, got {_kind(text)}")
    return text


def _lang(raw: dict[str, Any], kind: Kind) -> str | None:
    lang = raw.get("lang")
    if lang is None or lang == "":
        return None
    if not isinstance(lang, str):
        raise ValueError(f"{kind} {quoted(raw['id'])}: 'lang' must be a language code such as 'es', got {_kind(lang)}")
    try:
        return normalise_language(lang)
    except ValueError as exc:
        raise ValueError(f"{kind} {quoted(raw['id'])}: {exc}") from None


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    return True


def _build_item(raw: dict[str, Any]) -> Item:
    text = _text(raw, "item")
    if text is None:
        raise ValueError(f"item {quoted(raw['id'])} has no 'text'")
    fields = {k: v for k, v in raw.items() if k not in _ITEM_KEYS}
    non_finite = [name for name, value in fields.items() if not _finite(value)]
    if non_finite:
        raise ValueError(f"item {quoted(raw['id'])}: field(s) {non_finite} hold NaN or infinity, which JSON cannot write; use null")
    return Item(id=raw["id"], text=text, lang=_lang(raw, "item"), fields=fields)


def _history(value: Any) -> tuple[str, ...]:
    # CSV cells hold a history as "a|b|c"; JSON and Parquet hold a list.
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split("|") if part.strip())
    if isinstance(value, list) and all(type(v) in (str, int) for v in value):
        return tuple(str(v) for v in value)
    raise ValueError(f"'history' must be a list of item ids, got {_kind(value)}")


def _build_user(raw: dict[str, Any]) -> User:
    unknown = set(raw) - _USER_KEYS
    if unknown:
        raise ValueError(f"user {quoted(raw['id'])}: unknown field(s) {sorted(unknown)}; expected id, text, history, lang")
    return User(id=raw["id"], text=_text(raw, "user"), history=_history(raw.get("history", [])), lang=_lang(raw, "user"))


def load_items(path: str | Path) -> Loaded[Item]:
    """Catalogue items (``id`` and ``text`` required, ``lang`` optional, other columns kept as
    fields) and a Problem for each row that has no usable text or language."""
    return _load(Path(path), "item", _build_item)


def load_users(path: str | Path) -> Loaded[User]:
    """Users or queries (``id`` plus ``text`` and/or ``history``, item ids oldest first)
    and a Problem for each row that cannot be used."""
    return _load(Path(path), "user", _build_user)


def read_items(path: str | Path) -> list[Item]:
    """Every item of a file that must be clean (a dataset): any unusable row is an InputError listing them all."""
    loaded = load_items(path)
    refuse(loaded.problems, str(path))
    return loaded.records


def read_users(path: str | Path) -> list[User]:
    """Every user of a file that must be clean (a dataset): any unusable row is an InputError listing them all."""
    loaded = load_users(path)
    refuse(loaded.problems, str(path))
    return loaded.records


def prune_histories(users: Loaded[User], catalogue: set[str]) -> Loaded[User]:
    """Users whose history names items not in the catalogue (deleted since, usually) keep the
    rest of it, with a Problem naming the line and the items skipped; a user left with
    neither a history nor a text is refused."""
    pruned: Loaded[User] = Loaded(users.path, lines=users.lines, problems=list(users.problems))
    for user in users.records:
        unknown = [i for i in user.history if i not in catalogue]
        if not unknown:
            pruned.records.append(user)
            continue
        known = tuple(i for i in user.history if i in catalogue)
        where = f"{users.where(user.id)}: user {quoted(user.id)}"
        if known or user.text is not None:
            pruned.records.append(User(user.id, user.text, known, user.lang))
            reason = f"{where}: history item(s) not in the catalogue skipped: {quoted(unknown)}"
        else:
            reason = f"{where}: no history item is in the catalogue ({quoted(unknown)}) and there is no text: nothing to recommend from"
        pruned.problems.append(Problem("user", user.id, "read", reason))
    return pruned


def check_histories(users: Sequence[User], items: Sequence[Item], source: str) -> None:
    """Refuse users whose history names items that are not in the catalogue (datasets, whose qrels need them all)."""
    known = {item.id for item in items}
    for user in users:
        missing = [i for i in user.history if i not in known]
        if missing:
            raise InputError(f"{source}: user {user.id!r} has history item(s) not in the catalogue: {missing}")
