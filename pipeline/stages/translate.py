from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Literal

from pipeline.errors import StageError, TranslationError
from pipeline.progress import track
from pipeline.protocols import Translator
from pipeline.records import Translation

MissingRoutePolicy = Literal["error", "keep"]

#: ``Translation.translator`` for text that needed no translator.
UNTRANSLATED = "none"


def _preview(ids: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(repr(i) for i in ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


class TranslateStage:
    """Carry every non-pivot text into the pivot language.

    Pivot-language text is never sent to a translator. A language the
    translator has no route for is an error naming the language and items, or
    (``on_missing='keep'``) keeps its original text, flagged
    ``kept_original`` so the run summary counts it. With no translator at all
    (the direct path) every text keeps its original.
    """

    def __init__(
        self,
        translator: Translator | None,
        name: str,
        pivot: str,
        on_missing: MissingRoutePolicy = "error",
        batch_size: int = 64,
    ) -> None:
        self.translator = translator
        self.name = name
        self.pivot = pivot
        self.on_missing = on_missing
        self.batch_size = batch_size

    def run(self, ids: Sequence[str], texts: Sequence[str], langs: Sequence[str]) -> list[Translation]:
        results: list[Translation | None] = [None] * len(texts)
        by_lang: dict[str, list[int]] = defaultdict(list)
        for i, lang in enumerate(langs):
            if lang == self.pivot or self.translator is None:
                results[i] = Translation(texts[i], texts[i], lang, self.pivot, UNTRANSLATED)
            else:
                by_lang[lang].append(i)

        for lang, positions in sorted(by_lang.items()):
            assert self.translator is not None
            if not self.translator.supports(lang, self.pivot):
                why = self.translator.missing(lang) if hasattr(self.translator, "missing") else None
                if self.on_missing == "error":
                    raise TranslationError(
                        f"translator {self.name!r} has no route {lang}->{self.pivot} for "
                        f"{len(positions)} text(s): {_preview([ids[i] for i in positions])}"
                        + (f" ({why})" if why else "")
                        + ". Set translator.on_missing: keep to keep their original text."
                    )
                note = why or f"{self.name} has no route {lang}->{self.pivot}"
                for i in positions:
                    results[i] = Translation(texts[i], texts[i], lang, self.pivot, self.name, kept_original=True, note=note)
                continue
            name, model = self._provenance(lang)
            for i, pivot_text in zip(positions, self._translate_unique([texts[i] for i in positions], lang), strict=True):
                results[i] = Translation(texts[i], pivot_text, lang, self.pivot, name, model=model)
        assert all(r is not None for r in results), "every text gets a translation"
        return results  # type: ignore[return-value]

    def _provenance(self, lang: str) -> tuple[str, str | None]:
        """(translator, model) recorded for ``lang``; a router names the translator it chose."""
        assert self.translator is not None
        if hasattr(self.translator, "route_name"):
            return f"{self.name}:{self.translator.route_name(lang, self.pivot)}", self.translator.model_for(lang, self.pivot)
        return self.name, getattr(self.translator, "model_name", None)

    def _translate_unique(self, texts: list[str], lang: str) -> list[str]:
        """Translate each distinct text once, in batches, and map back in input order."""
        unique = list(dict.fromkeys(texts))
        translated: dict[str, str] = {}
        starts = range(0, len(unique), self.batch_size)
        assert self.translator is not None
        for start in track(starts, f"translate {lang}->{self.pivot}", total=len(starts), unit="batch"):
            batch = unique[start : start + self.batch_size]
            try:
                outputs = self.translator.translate(batch, lang, self.pivot)
            except Exception as exc:
                raise StageError(f"translate stage, translator {self.name!r} ({lang}->{self.pivot}): {type(exc).__name__}: {exc}") from exc
            if len(outputs) != len(batch):
                raise StageError(f"translate stage, translator {self.name!r} returned {len(outputs)} texts for {len(batch)}")
            translated.update(zip(batch, outputs, strict=True))
        return [translated[t] for t in texts]
