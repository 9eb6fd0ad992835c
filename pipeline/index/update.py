"""Incremental updates: upsert and delete items in an index without translating or encoding the rest.

Only the upserted texts go through normalise → detect → translate → encode;
every other item keeps its document and vectors from the index. A ranker
that ``Updates`` follows the change from the index it holds (bm25-fast
tokenizes only the new texts, then recomputes its statistics); any other is
indexed again over the final documents and vectors, which costs no model
time. The result is written as a new version and switched to atomically,
like a build: a killed update leaves the previous index usable.

After an update the index no longer matches the catalogue file, and its
fingerprint says so: ``pivotrec index CONFIG`` rebuilds it from the file.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pivotrec.pipeline.errors import InputError, stage_errors
from pivotrec.pipeline.index.fingerprint import Fingerprint
from pivotrec.pipeline.index.search import IndexSearcher, restore_rankers
from pivotrec.pipeline.index.store import IndexVersion, StoredIndex, open_index, read_manifest, required_version, write_version, writing
from pivotrec.pipeline.protocols import Updates
from pivotrec.pipeline.records import Document, Item, User


@dataclass(frozen=True)
class UpdateResult:
    folder: Path
    added: int
    changed: int
    unchanged: int
    deleted: int


def read_ids(path: Path) -> list[str]:
    """One item id per line; blank lines and ``#`` comments are skipped."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def update_index(root: Path, upserts: Sequence[Item] = (), deletes: Sequence[str] = (), searcher: IndexSearcher | None = None) -> UpdateResult:
    """Upsert ``upserts`` and delete ``deletes`` (ids) in the index at ``root``; returns what changed.

    With ``searcher`` (the service's, warm and over this index) its models are
    reused and it serves the updated catalogue once the new version is in
    place; without, the index's config is built and warmed up here.
    """
    with writing(root):
        if searcher is None:
            searcher = IndexSearcher(open_index(root))
            searcher.pipeline.warm_up()
            # Only the rankers that update from what they hold are restored: the others are indexed anew.
            restore_rankers(searcher.pipeline, searcher.stored, lambda ranker: isinstance(ranker, Updates))
        elif searcher.stored.folder.resolve() != required_version(root).resolve():
            raise InputError(f"{root}: another process rebuilt or updated the index since this service opened it; restart the service to serve it")
        else:
            searcher.warm_up()
        # A service's searcher holds the current version: it is not read again.
        stored = searcher.stored
        with searcher.lock:
            try:
                return _update(root, stored, searcher, upserts, deletes)
            except BaseException:
                searcher.restore_rankers()  # the rankers may hold the unfinished catalogue
                raise


def _update(root: Path, stored: StoredIndex, searcher: IndexSearcher, upserts: Sequence[Item], deletes: Sequence[str]) -> UpdateResult:
    known = {d.id: d for d in stored.documents}
    missing = [item_id for item_id in deletes if item_id not in known]
    if missing:
        raise InputError(f"delete: {len(missing)} id(s) not in the index: {missing[:10]}")
    upserted = {item.id: item for item in upserts}  # the last of repeated ids wins
    both = sorted(set(upserted) & set(deletes))
    if both:
        raise InputError(f"upsert and delete both name {both[:10]}: do one or the other")
    # Items whose text and declared language are unchanged keep their document and vectors.
    fresh = [i for i in upserted.values() if i.id not in known or not _same(known[i.id], i)]
    pipeline = searcher.pipeline
    new_docs = pipeline.documents([i.id for i in fresh], [i.text for i in fresh], [i.lang for i in fresh]) if fresh else []
    new_vectors = pipeline.ranker_vectors(new_docs, "passage") if new_docs else {}

    deleted = set(deletes)
    replaced = {d.id: row for row, d in enumerate(new_docs)}
    docs: list[Document] = []
    old_rows: list[int] = []  # row in the old index, or -1 - row in new_docs
    for row, doc in enumerate(stored.documents):
        if doc.id in deleted:
            continue
        if doc.id in replaced:
            docs.append(new_docs[replaced[doc.id]])
            old_rows.append(-1 - replaced[doc.id])
        else:
            docs.append(doc)
            old_rows.append(row)
    for row, doc in enumerate(new_docs):
        if doc.id not in known:
            docs.append(doc)
            old_rows.append(-1 - row)

    vectors: dict[str, np.ndarray] = {}
    merged: dict[int, np.ndarray] = {}  # rankers that shared one matrix share the merged one
    for label, matrix in stored.vectors.items():
        if id(matrix) not in merged:
            merged[id(matrix)] = _merge(matrix, new_vectors.get(label), old_rows)
        vectors[label] = merged[id(matrix)]

    remaining = {d.id for d in docs}
    users = [kept for u in stored.users if (kept := _without(u, remaining)) is not None]
    histories = [u.history for u in users if u.history]
    held = [max(row, -1) for row in old_rows]
    for label, ranker in pipeline.retrieve.rankers.items():
        with stage_errors("index", f"ranker {label!r}"):
            if isinstance(ranker, Updates):
                ranker.update(docs, held, vectors.get(label), histories)
            else:
                ranker.index(docs, vectors.get(label), histories)

    manifest = stored.manifest
    digest = hashlib.sha256("\n".join(f"{d.id}\t{d.lang}\t{d.original}" for d in docs).encode("utf-8")).hexdigest()
    fp = Fingerprint.of({**manifest["parts"], "input.items": f"updated {digest}"})
    changed = sum(i.id in known for i in fresh)
    record = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "added": len(fresh) - changed, "changed": changed, "deleted": len(deleted)}
    folder = write_version(root, IndexVersion(searcher.config, fp, pipeline, docs, users, vectors, [*manifest.get("updates", []), record]))
    # The new version as written, from memory: reading it back would cost as much as writing it.
    searcher.replace_catalogue(StoredIndex(folder, read_manifest(folder), searcher.config, docs, users, vectors))
    return UpdateResult(folder, len(fresh) - changed, changed, len(upserted) - len(fresh), len(deleted))


def _same(doc: Document, item: Item) -> bool:
    """Whether an upserted item is what the index already holds (same text, same declared language)."""
    declared_same = item.lang is None or item.lang == doc.lang
    return declared_same and (doc.translation.source == item.text or doc.original == item.text)


def _merge(old: np.ndarray, new: np.ndarray | None, rows: Sequence[int]) -> np.ndarray:
    """Rows of ``old`` (row >= 0) and of ``new`` (row = -1 - n), in the order ``rows`` gives."""
    if new is None:
        new = np.zeros((0, old.shape[1]), dtype=np.float32)
    table = np.vstack([old, new]).astype(np.float32, copy=False)
    index = np.array([r if r >= 0 else old.shape[0] + (-1 - r) for r in rows], dtype=np.int64)
    return np.ascontiguousarray(table[index]) if len(index) else np.zeros((0, old.shape[1]), dtype=np.float32)


def _without(user: User, remaining: set[str]) -> User | None:
    """A user with deleted items dropped from the history (None when nothing is left)."""
    history = tuple(h for h in user.history if h in remaining)
    if history == user.history:
        return user
    if not history and user.text is None:
        return None
    return User(user.id, user.text, history, user.lang)
