"""Why an item or user is not served as asked: texts that clean to nothing, failed or
undetermined translations, users no candidate reached. Each becomes a Problem for the
errors file."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, cast

from pivotrec.pipeline import io
from pivotrec.pipeline.errors import quoted
from pivotrec.pipeline.io import Record
from pivotrec.pipeline.records import Document, Hit, Item, Problem, User
from pivotrec.pipeline.stages import NormaliseStage
from pivotrec.pipeline.stats import UNDETERMINED


def translation_problems(docs: Sequence[Document], kind: Literal["item", "user"]) -> list[Problem]:
    """Texts whose translation failed, or whose language no detector could tell: they go on
    in their original language, and are reported."""
    return [
        Problem(kind, d.id, "translate", d.translation.note or "translation failed")
        for d in docs
        if d.translation.failed or d.lang == UNDETERMINED
    ]


def without_empty_texts(loaded: io.Loaded[Record], normalise: NormaliseStage) -> io.Loaded[Record]:
    """``loaded`` less the texts that clean to nothing (markup only: ``<b></b>``, a script),
    each recorded with its line: such an item is refused, such a user keeps its history
    (and is refused without one). Cleaning here as well as in the run costs little next
    to translation, and keeps an empty document out of every index."""
    texted = [record for record in loaded.records if record.text is not None]
    cleaned = dict(zip((r.id for r in texted), normalise.clean([r.text or "" for r in texted]), strict=True))
    kept: io.Loaded[Record] = io.Loaded(loaded.path, lines=loaded.lines, problems=list(loaded.problems))
    for record in loaded.records:
        if record.text is None or cleaned[record.id].strip():
            kept.records.append(record)
            continue
        kind: io.Kind = "item" if isinstance(record, Item) else "user"
        reason = f"{loaded.where(record.id)}: {kind} {quoted(record.id)}: text is empty once markup is removed"
        if isinstance(record, User) and record.history:
            kept.records.append(cast(Record, User(record.id, None, record.history, record.lang)))  # Record is User here
            reason += "; recommended from its history only"
        kept.problems.append(Problem(kind, record.id, "clean", reason))
    return kept


def why_unserved(fused: Sequence[Hit], translations_count_as_seen: bool) -> str:
    if fused:
        also = " or translates an item in it (recommend.translation_similarity)" if translations_count_as_seen else ""
        return f"every candidate ({len(fused)}) is already in the user's history{also}"
    return "no item matched the user's profile (no shared terms, or an empty profile)"
