"""What the ``pivotrec`` command prints: data-bearing text made safe for a terminal, and the
recommendations of ``run --show`` with how each text reached the pivot and why it was chosen."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from pivotrec.pipeline.config import RunConfig
from pivotrec.pipeline.records import Document, Recommendation, User
from pivotrec.pipeline.stats import UNDETERMINED, UNTRANSLATED

console = Console()
errors = Console(stderr=True)

#: C0 and C1 control characters (newline and tab aside) and the bidirectional overrides and
#: isolates. Printed raw, a catalogue's text or id could clear the screen, retitle the
#: terminal, plant hyperlinks or reorder what is shown.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

#: Characters of a history item's text shown on a user's line.
_TITLE_CHARS = 40
#: History items shown on a user's line (the newest; the rest are counted).
_HISTORY_SHOWN = 3
#: How each translation method marks the pivot text it wrote, so machine output is never
#: mistaken for the catalogue's own text, and what the legend says of the mark.
_PIVOT_MARKS = {"mt": "MT", "gloss": "gloss", "table": "table"}
_MARK_MEANINGS = {
    "mt": "MT: machine translation",
    "gloss": "gloss: a word-by-word dictionary gloss",
    "table": "table: a known translation from a lookup table",
}
_METHOD_VERBS = {"mt": "machine-translated", "gloss": "glossed", "table": "looked up", "copy": "copied unchanged"}


def printable(text: str) -> str:
    """``text`` with every control character shown as its escape (ESC as ``\\x1b``)."""
    return _CONTROL.sub(lambda found: ascii(found.group())[1:-1], text)


def say(line: str) -> None:
    """Print one line of data-bearing text: control characters escaped, no markup read from it."""
    console.print(Text(printable(line)), highlight=False, soft_wrap=True)


def shortened(text: str, limit: int = _TITLE_CHARS) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def provenance(doc: Document, pivot: str) -> str:
    """How ``doc``'s text reached the pivot language, in words: already in it, kept in the
    original (and why), or which translator carried it and how."""
    t = doc.translation
    if t.failed:
        return "kept in the original: translation failed"
    if t.translator == UNTRANSLATED:
        return f"already in {pivot}" if doc.lang == pivot else "kept in the original: no translator"
    if t.kept_original:
        return "kept in the original: language undetermined" if doc.lang == UNDETERMINED else "kept in the original: no route"
    # A router's child does the work: "router:apertium" reads as "apertium".
    by = t.translator.rsplit(":", 1)[-1]
    model = t.model or ""
    if model.startswith(by):  # "apertium spa-eng" by apertium, "lookup:table.jsonl" by lookup
        model = model[len(by) :].lstrip(" :")
    return f"{_METHOD_VERBS.get(t.method or '', 'translated')} by {by}" + (f" ({model})" if model and model != by else "")


def score_label(rankers: Sequence[str], fusion: str) -> str:
    """What a recommendation's score is: one ranker's own score, or the fused one."""
    if len(rankers) == 1:
        return f"{rankers[0]} score"
    return "RRF score" if fusion == "rrf" else "weighted score"


def legend(rankers: Sequence[str], fusion: str, fusion_k: int, pivot: str, methods: set[str]) -> str:
    """The line under the tables that says what the marks of the pivot texts shown (their
    translation ``methods``) and the score mean."""
    names = ", ".join(rankers)
    if len(rankers) == 1:
        score = f"{rankers[0]} score: the ranker's own score"
    elif fusion == "rrf":
        score = f"RRF score: reciprocal-rank fusion, the sum of weight / ({fusion_k} + rank) over {names}"
    else:
        score = f"weighted score: the sum of weight x min-max normalised score over {names}"
    marks = [meaning for method, meaning in _MARK_MEANINGS.items() if method in methods]
    machine = "mt" in methods or "gloss" in methods
    said = f"{pivot} text marked {'; '.join(marks)}" + ("; written by a machine, not reviewed by a person. " if machine else ". ") if marks else ""
    return said + f"{score}."


def _title(item_id: str, documents: Mapping[str, Document]) -> str:
    """A history item as its shortened text and language (its id, if it is not in the catalogue)."""
    doc = documents.get(item_id)
    return f"{shortened(doc.original)} ({doc.lang})" if doc is not None else item_id


def _user_line(user: User | None, user_id: str, shown: int, total: int, documents: Mapping[str, Document]) -> Text:
    parts = [user_id]
    if user is not None and user.history:
        newest = user.history[-_HISTORY_SHOWN:]
        titles = [_title(item_id, documents) for item_id in newest]
        more = len(user.history) - len(newest)
        parts.append("history: " + "; ".join(titles) + (f"; and {more} older" if more else ""))
    if user is not None and user.text is not None:
        parts.append(f"interest: {shortened(user.text, 2 * _TITLE_CHARS)}")
    if total == 0:
        parts.append("no recommendation (the errors file says why)")
    else:
        parts.append(f"top {shown} of {total}" if shown < total else f"{total} recommendation(s)")
    return Text(printable(" · ".join(parts)), style="bold")


def _pivot_method(rec: Recommendation, doc: Document | None) -> str | None:
    """How the pivot text shown under the original was written; None when none is shown."""
    if rec.pivot == rec.original:
        return None
    return doc.translation.method if doc is not None and doc.translation.method else "mt"


def _text_cell(rec: Recommendation, method: str | None) -> Text:
    cell = Text(printable(rec.original))
    if method is not None:
        cell.append("\n")
        cell.append(f"{_PIVOT_MARKS.get(method, method)}: ", style="bold yellow")
        cell.append(printable(rec.pivot), style="italic")
    return cell


def recommendation_tables(
    recommendations: Sequence[Recommendation], documents: Mapping[str, Document], users: Sequence[User], config: RunConfig, per_user: int
) -> Group:
    """Per user: a line with its history or interest text and how many rows are shown, then
    its top ``per_user`` recommendations: the text and its pivot text (marked when a machine
    wrote it), how it reached the pivot, the score (labelled) and the rankers' reasons."""
    by_user: dict[str, list[Recommendation]] = defaultdict(list)
    for rec in recommendations:
        by_user[rec.user_id].append(rec)
    known = {user.id: user for user in users}
    rankers, pivot = [spec.label for spec in config.rankers], config.pivot
    score = score_label(rankers, config.fusion.method)
    methods: set[str] = set()
    parts: list[Text | Table] = [Text("Recommendations", style="bold underline")]
    for user_id in dict.fromkeys([*known, *by_user]):
        recs = by_user.get(user_id, [])
        shown = [rec for rec in recs if rec.rank <= per_user]
        parts.append(_user_line(known.get(user_id), user_id, len(shown), len(recs), documents))
        if not recs:
            continue
        table = Table(show_lines=True, expand=False)
        table.add_column("#", justify="right")
        table.add_column(f"item, language: how it reached {pivot}", overflow="fold", ratio=2)
        table.add_column(score, justify="right")
        table.add_column(f"text, then its {pivot} text", overflow="fold", ratio=4)
        table.add_column("why", overflow="fold", ratio=3)
        for rec in shown:
            doc = documents.get(rec.item_id)
            how = provenance(doc, pivot) if doc is not None else ""
            item = Text(printable(rec.item_id))
            item.append(printable(f"\n{rec.lang}: {how}"), style="dim")
            method = _pivot_method(rec, doc)
            if method is not None:
                methods.add(method)
            why = Text(printable("\n".join(rec.explanations)) or "(no ranker gave a reason)")
            table.add_row(str(rec.rank), item, f"{rec.score:.4g}", _text_cell(rec, method), why)
        parts.append(table)
    parts.append(Text(printable(legend(rankers, config.fusion.method, config.fusion.k, pivot, methods)), style="dim"))
    return Group(*parts)
