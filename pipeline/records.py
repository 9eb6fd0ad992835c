"""Typed records that flow between stages.

Records are small frozen dataclasses validated on construction, so a bad
value is caught where it is made, not three stages later. Stages return new
records (``dataclasses.replace``) rather than mutating old ones.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Item", "User", "Detection", "Translation", "Hit", "Document", "Query", "Recommendation", "NOT_TEXT", "escape_not_text"]

#: Code points that are not text: lone surrogates (half of a UTF-16 pair, which no UTF-8 file
#: can hold) and Unicode noncharacters (U+FDD0..U+FDEF and the last two code points of every
#: plane, reserved for a program's own use: U+FFFF ends Apertium's input).
NOT_TEXT = re.compile(
    "[\ufdd0-\ufdef\ud800-\udfff" + "".join(chr(plane << 16 | 0xFFFE) + chr(plane << 16 | 0xFFFF) for plane in range(17)) + "]"
)


def escape_not_text(value: str) -> str:
    """``value`` with every code point of ``NOT_TEXT`` written as its escape (``\\ud800``), so it
    can be printed and written as UTF-8; other text is left as it is."""
    return NOT_TEXT.sub(lambda found: found.group().encode("unicode_escape").decode("ascii"), value)


def _require_id(kind: str, value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{kind} id must be a non-empty string, got {value!r}")
    # An id is written to every output: one that UTF-8 cannot hold would fail the writer
    # after all the work, and a noncharacter is no part of any real id.
    found = sorted({f"U+{ord(c):04X}" for c in NOT_TEXT.findall(value)})
    if found:
        raise ValueError(
            f"{kind} id {value!r} holds {', '.join(found)}, which is not text (a lone surrogate or"
            " Unicode noncharacter); fix the id in the file"
        )


@dataclass(frozen=True)
class Item:
    """One catalogue entry: the text to recommend, in any language.

    ``lang`` is the declared ISO 639-1 code, if the catalogue knows it; a
    declared language wins over detection. ``fields`` keeps any other columns
    (title, category, ...) untouched all the way to the output.
    """

    id: str
    text: str
    lang: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _require_id("item", self.id)
        if not isinstance(self.text, str) or not self.text.strip():
            raise ValueError(f"item {self.id!r}: text is empty or whitespace only")


@dataclass(frozen=True)
class User:
    """A user or a query: free text, a history of item ids, or both.

    A query is a user with text and no history. ``history`` is ordered from
    oldest to newest, which recency weighting relies on.
    """

    id: str
    text: str | None = None
    history: tuple[str, ...] = ()
    lang: str | None = None

    def __post_init__(self) -> None:
        _require_id("user", self.id)
        if self.text is not None and not self.text.strip():
            raise ValueError(f"user {self.id!r}: text is empty or whitespace only")
        if self.text is None and not self.history:
            raise ValueError(f"user {self.id!r}: needs a text, a history, or both")


@dataclass(frozen=True)
class Detection:
    """A language detected for one text, with the detector's confidence in [0, 1].

    ``low_confidence`` flags a language the detector accepted (its confidence is
    above its ``min_confidence``, below which the text is ``und``) but is unsure
    of (below its ``low_confidence``): often a short text. A declared language
    is never low-confidence.
    """

    lang: str
    confidence: float
    detector: str
    low_confidence: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence must be in [0, 1], got {self.confidence}")


@dataclass(frozen=True)
class Translation:
    """A text carried into the pivot language, with its provenance.

    ``split`` says the text was cut into segments for the model and joined
    back; ``kept_original`` says no translator served the language and the
    pivot text is the original (a policy decision, never a silent one), and
    ``note`` says why. ``cached`` says every segment came from the
    translation cache; ``suspicious`` flags a degenerate-looking output.
    """

    source: str
    pivot: str
    src_lang: str
    tgt_lang: str
    translator: str
    model: str | None = None
    #: How the translator works: ``mt``, ``gloss`` (word by word from a dictionary),
    #: ``table`` (known translations) or ``copy``; None when no translator ran.
    method: str | None = None
    split: bool = False
    cached: bool = False
    kept_original: bool = False
    note: str | None = None
    #: The output/input length ratio looks degenerate (see ``note``).
    suspicious: bool = False
    #: The translator raised on this text's batch; the pivot is the original (see ``note``).
    failed: bool = False


@dataclass(frozen=True)
class Document:
    """A text after normalise, detect and translate: what rankers index or query with."""

    id: str
    original: str
    lang: str
    pivot: str
    detection: Detection | None
    translation: Translation


@dataclass(frozen=True)
class Query:
    """What a ranker is asked: a user's profile or a search query.

    ``text`` is pivot text (for lexical rankers), ``history`` the item ids the
    user interacted with, oldest first (for collaborative rankers and
    explanations), ``original`` the same profile in its original languages
    (for lexical rankers that read originals). Vectors travel beside queries
    as one matrix, not here.
    """

    id: str
    text: str
    history: tuple[str, ...] = ()
    original: str = ""


@dataclass(frozen=True)
class Hit:
    """One scored candidate from one ranker (or from fusion, ``ranker='fusion'``)."""

    item_id: str
    score: float
    ranker: str
    explanation: str | None = None


@dataclass(frozen=True)
class Recommendation:
    """One recommended item for one user, with everything needed to read it."""

    user_id: str
    rank: int
    item_id: str
    score: float
    lang: str
    original: str
    pivot: str
    ranker_scores: Mapping[str, float]
    explanations: tuple[str, ...] = ()


@dataclass(frozen=True)
class Problem:
    """An item or user the run could not serve as asked, and why (written to the errors file)."""

    kind: Literal["item", "user"]
    id: str
    stage: str
    reason: str
