"""Leave-last-out: a labelled dataset from interactions whose histories have an order.

Each user's newest history item is held out as the one relevant item and the
rest stays as the history, the usual protocol for sequential recommendation:
the system sees what the user read before and must rank what they read next.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pivotrec.pipeline.errors import InputError
from pivotrec.pipeline.evaluation.datasets import write_dataset
from pivotrec.pipeline.io import check_histories, read_items, read_users
from pivotrec.pipeline.records import Item

PROTOCOL = "leave-last-out"
PROTOCOL_RULE = "each user's last (newest) history item is the one relevant item (grade 1); the items before it are the history"
#: A user needs one item to hold out and at least one to keep as a history.
MIN_HISTORY = 2
#: Written beside the dataset: the ids of the users left out, one per line.
DROPPED_FILE = "dropped_users.txt"


@dataclass(frozen=True)
class HeldOut:
    """What ``leave_last_out`` wrote: the folder, how many users it kept, and the users it dropped."""

    out: Path
    users: int
    dropped: list[str]


def _item_row(item: Item) -> dict[str, object]:
    row: dict[str, object] = {"id": item.id, "text": item.text}
    if item.lang is not None:
        row["lang"] = item.lang
    return row | dict(item.fields)


def leave_last_out(source: Path, out: Path) -> HeldOut:
    """Turn ``source/items.jsonl`` and ``source/users.jsonl`` (histories oldest first) into the
    generic layout in ``out``, holding out each user's last history item (``PROTOCOL_RULE``).

    Users with fewer than ``MIN_HISTORY`` history items cannot be split and are dropped; their
    ids go to ``out/dropped_users.txt`` and their count to ``dataset.json``. A user's own text and
    language are kept. An item the user also read earlier stays in the history, so a system that
    drops seen items cannot recommend it again: a repeat is no discovery.
    """
    items = read_items(source / "items.jsonl")
    users = read_users(source / "users.jsonl")
    check_histories(users, items, str(source / "users.jsonl"))
    if not any(len(user.history) >= MIN_HISTORY for user in users):
        raise InputError(f"{source / 'users.jsonl'}: no user has {MIN_HISTORY} or more history items; {PROTOCOL} needs one to hold out and one to keep")
    queries: list[dict[str, object]] = []
    qrels: dict[str, dict[str, int]] = {}
    dropped: list[str] = []
    for user in users:
        if len(user.history) < MIN_HISTORY:
            dropped.append(user.id)
            continue
        query: dict[str, object] = {"id": user.id, "history": list(user.history[:-1])}
        if user.text is not None:
            query["text"] = user.text
        if user.lang is not None:
            query["lang"] = user.lang
        queries.append(query)
        qrels[user.id] = {user.history[-1]: 1}
    write_dataset(
        out, f"{source.name} ({PROTOCOL})", [_item_row(item) for item in items], queries, qrels,
        f"{source.name}: {len(queries)} users' last history items held out; {len(dropped)} users with fewer than {MIN_HISTORY} history items dropped.",
        split="test", split_rule=PROTOCOL_RULE, notes={"protocol": PROTOCOL, "dropped_users": len(dropped)},
    )
    (out / DROPPED_FILE).write_text("".join(f"{user_id}\n" for user_id in dropped), encoding="utf-8")
    return HeldOut(out, len(queries), dropped)
