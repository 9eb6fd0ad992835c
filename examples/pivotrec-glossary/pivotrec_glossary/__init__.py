"""A glossary translator: each word found in a per-language word list is replaced.

It is deliberately simple, to show the plugin contract, yet it is useful for
small closed vocabularies (product categories, tags) in a language no MT model
covers.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

_WORD = re.compile(r"\w+|\W+")


class GlossaryTranslator:
    class Params(BaseModel):
        """Options, checked by pivotrec before anything loads."""

        model_config = ConfigDict(extra="forbid")
        #: Source language (ISO 639-1) -> {word: translation}.
        entries: dict[str, dict[str, str]] = Field(default_factory=dict)
        #: Optional TSV files with columns lang, word, translation.
        files: list[Path] = Field(default_factory=list)

        @model_validator(mode="after")
        def _not_empty(self) -> "GlossaryTranslator.Params":
            if not self.entries and not self.files:
                raise ValueError("give 'entries' or 'files'")
            return self

    def __init__(self, params: Params) -> None:
        # Cheap: pivotrec builds plugins to validate configs. Files are read in warm_up().
        self.params = params
        self.glossary: dict[str, dict[str, str]] = {lang: {w.lower(): t for w, t in words.items()} for lang, words in params.entries.items()}

    def warm_up(self) -> None:
        """Called once by pivotrec before the first batch."""
        for path in self.params.files:
            with path.open(encoding="utf-8", newline="") as handle:
                for row in csv.DictReader(handle, delimiter="\t"):
                    self.glossary.setdefault(row["lang"], {})[row["word"].lower()] = row["translation"]

    def model_for(self, src: str, tgt: str) -> str:
        """Recorded in each Translation as the model that produced it."""
        return "glossary"

    def supports(self, src: str, tgt: str) -> bool:
        return tgt == "en" and src in self.glossary

    def translate(self, texts: Sequence[str], src: str, tgt: str) -> list[str]:
        words = self.glossary[src]
        return ["".join(words.get(part.lower(), part) for part in _WORD.findall(text)) for text in texts]
