"""Translations from a table: human or pre-computed translations as a translator."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from pivotrec.pipeline.errors import TranslationError
from pivotrec.pipeline.protocols import TranslatorInfo
from pivotrec.pipeline.text import normalise


class LookupTranslator:
    """Looks each text up in a JSONL table of ``{"lang", "source", "target"}`` rows.

    Use it for human translations (the XQuAD-R upper bound) or translations
    made elsewhere. Sources are matched after the same normalisation the
    pipeline applies (with and without Moses punctuation), so a table written
    from raw data still matches.
    """

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        #: JSONL table; a relative path resolves against the config file.
        table: Path
        #: A text missing from the table: ``error`` names it; ``keep`` keeps the original.
        on_missing_text: Literal["error", "keep"] = "error"

    #: The table is already a cache; copying it into the translation cache saves nothing.
    info = TranslatorInfo(cacheable=False, method="table")

    def __init__(self, params: Params) -> None:
        self.params = params
        self._table: dict[tuple[str, str], str] = {}
        self._languages: frozenset[str] | None = None

    def warm_up(self) -> None:
        """Read the table (once)."""
        self._table = self._read_table()
        self._languages = frozenset(lang for lang, _ in self._table)

    def _read_table(self) -> dict[tuple[str, str], str]:
        if not self.params.table.is_file():
            raise TranslationError(f"translation table not found: {self.params.table}")
        table: dict[tuple[str, str], str] = {}
        with self.params.table.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                try:
                    row = json.loads(line)
                    lang, source, target = row["lang"], row["source"], row["target"]
                except (json.JSONDecodeError, KeyError, TypeError) as exc:
                    raise TranslationError(f"{self.params.table}:{number}: expected a JSON object with lang, source, target") from exc
                for key in {normalise(source, lang), normalise(source, None)}:
                    table.setdefault((lang, key), target)
        return table

    def model_for(self, src: str, tgt: str) -> str:
        return f"lookup:{self.params.table.name}"

    def supports(self, src: str, tgt: str) -> bool:
        # Before warm-up the table is unread: any language may be in it (``validate`` asks then).
        return self._languages is None or src in self._languages

    def translate(self, texts: Sequence[str], src: str, tgt: str) -> list[str]:
        out = []
        for text in texts:
            found = self._table.get((src, text)) or self._table.get((src, normalise(text, None)))
            if found is None:
                if self.params.on_missing_text == "error":
                    raise TranslationError(f"{self.params.table}: no {src} entry for {text[:80]!r}")
                found = text
            out.append(found)
        return out
