from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from pipeline.errors import StageError, TranslationError
from pipeline.model_store import ModelUnavailableError
from pipeline.progress import track
from pipeline.protocols import Translator
from pipeline.records import Translation
from pipeline.segment import Piece, join_translations, split_sentences
from pipeline.translation_cache import TranslationCache

MissingRoutePolicy = Literal["error", "keep", "fallback"]
#: What a translator that raises does to the run: ``stop`` it, or ``record``
#: the failed batch (its texts keep their original, flagged) and go on.
ErrorPolicy = Literal["stop", "record"]

#: ``Translation.translator`` for text that needed no translator.
UNTRANSLATED = "none"

#: Source languages whose English translation is typically ~3x longer in characters.
_DENSE_SCRIPTS = frozenset({"zh", "ja", "ko", "yue"})
#: Segments shorter than this are too short for a meaningful length ratio.
_RATIO_MIN_CHARS = 12


def _preview(ids: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(repr(i) for i in ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


@dataclass
class NamedTranslator:
    """A translator and what it is called in provenance, errors and cache keys."""

    name: str
    translator: Translator
    #: Identity of its settings for the cache (model, revision, decoding...).
    settings: str = ""

    @classmethod
    def with_settings(cls, name: str, translator: Translator, params: Any = None) -> NamedTranslator:
        """Named, keyed for the cache by ``cache_settings()`` if the plugin offers it
        (leaving out options such as batch size that do not change a translation),
        otherwise by all its params."""
        if hasattr(translator, "cache_settings"):
            settings = translator.cache_settings()
        else:
            own = getattr(translator, "params", None)
            settings = own.model_dump(mode="json") if hasattr(own, "model_dump") else params
        return cls(name, translator, json.dumps(settings, sort_keys=True, default=str))


@dataclass
class TranslateStats:
    segments: int = 0
    unique_segments: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    #: Translated texts whose output/input length ratio looks degenerate.
    suspicious: int = 0
    #: Sentences longer than the model's input limit, cut into parts to translate.
    oversized_sentences: int = 0
    #: Batches whose translator raised (``on_error='record'``): (language, segments, error).
    failed_batches: list[tuple[str, int, str]] = field(default_factory=list)


class TranslateStage:
    """Carry every non-pivot text into the pivot language.

    Pivot-language text is never sent to a translator. Translators that
    declare ``translates_sentences`` get one sentence at a time (split
    language-aware, paragraph breaks kept); each distinct segment is
    translated once, looked up in the persistent cache first, and stored as
    soon as its batch is done.

    A language the translator has no route for follows ``on_missing``: an
    error naming the language and items; ``keep`` (original text, flagged
    ``kept_original`` and counted); or ``fallback`` (the fallback translator
    takes it, and it is an error if that has no route either). With no
    translator at all (the direct path) every text keeps its original.

    A translator that raises stops the run (``on_error='stop'``) or, by
    default, fails only its batch: those texts keep their original text,
    flagged ``failed`` with the error, and the batch is recorded in ``stats``.
    A model that is not available stops the run either way.
    """

    def __init__(
        self,
        translator: NamedTranslator | None,
        pivot: str,
        on_missing: MissingRoutePolicy = "error",
        batch_size: int = 64,
        fallback: NamedTranslator | None = None,
        cache: TranslationCache | None = None,
        ratio_limit: float = 3.0,
        on_error: ErrorPolicy = "record",
    ) -> None:
        if on_missing == "fallback" and fallback is None:
            raise ValueError("on_missing='fallback' needs a fallback translator")
        self.translator = translator
        self.pivot = pivot
        self.on_missing = on_missing
        self.batch_size = batch_size
        self.fallback = fallback
        self.cache = cache
        self.ratio_limit = ratio_limit
        self.on_error = on_error
        self.stats = TranslateStats()

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
            chosen = self._translator_for(lang, [ids[i] for i in positions])
            if chosen is None:
                note = self._why_missing(self.translator, lang)
                for i in positions:
                    results[i] = Translation(texts[i], texts[i], lang, self.pivot, self.translator.name, kept_original=True, note=note)
                continue
            chosen = self._routed(chosen, lang)
            model = self._model_name(chosen.translator, lang)
            for i, translation in zip(positions, self._translate([texts[i] for i in positions], lang, chosen), strict=True):
                results[i] = replace(translation, model=model)
        assert all(r is not None for r in results), "every text gets a translation"
        return results  # type: ignore[return-value]

    def _why_missing(self, named: NamedTranslator, lang: str) -> str:
        translator = named.translator
        why = translator.missing(lang) if hasattr(translator, "missing") else None
        return why or f"{named.name} has no route {lang}->{self.pivot}"

    def _translator_for(self, lang: str, ids: list[str]) -> NamedTranslator | None:
        """The translator that serves ``lang``; None to keep the original; raises per policy."""
        assert self.translator is not None
        if self.translator.translator.supports(lang, self.pivot):
            return self.translator
        why = self._why_missing(self.translator, lang)
        if self.on_missing == "keep":
            return None
        if self.on_missing == "fallback":
            assert self.fallback is not None
            if self.fallback.translator.supports(lang, self.pivot):
                return self.fallback
            why += f"; fallback {self.fallback.name!r}: {self._why_missing(self.fallback, lang)}"
        raise TranslationError(
            f"translator {self.translator.name!r} has no route {lang}->{self.pivot} for "
            f"{len(ids)} text(s): {_preview(ids)} ({why})."
            + (" Set translator.on_missing: keep to keep their original text, or fallback with translator.fallback." if self.on_missing == "error" else "")
        )

    def _routed(self, named: NamedTranslator, lang: str) -> NamedTranslator:
        """The translator that does the work for ``lang``: a router hands over the one it chose,
        so its sentence splitting, batching and caching apply, named ``router:<chosen>``."""
        if not hasattr(named.translator, "route"):
            return named
        chosen = named.translator.route(lang, self.pivot)
        assert chosen is not None, "supports() said a route exists"
        return NamedTranslator(f"{named.name}:{chosen.name}", chosen.translator, chosen.settings)

    def _model_name(self, translator: Translator, lang: str) -> str | None:
        if hasattr(translator, "model_for"):
            return translator.model_for(lang, self.pivot)
        return getattr(translator, "model_name", None)

    def _translate(self, texts: list[str], lang: str, named: NamedTranslator) -> list[Translation]:
        """Translate texts, sentence by sentence if the translator wants it, each distinct segment once."""
        by_sentence = getattr(named.translator, "translates_sentences", False)
        layouts: list[list[Piece]] = [split_sentences(t, lang) if by_sentence else [Piece(t, "")] for t in texts]
        segments = [p.text for pieces in layouts for p in pieces if p.text.strip()]
        translated, from_cache, failed = self._translate_segments(segments, lang, named)
        out = []
        for text, pieces in zip(texts, layouts, strict=True):
            sentences = [p.text for p in pieces if p.text.strip()]
            errors = [failed[s] for s in sentences if s in failed]
            if errors:
                out.append(Translation(text, text, lang, self.pivot, named.name, kept_original=True, failed=True, note=f"translation failed: {errors[0]}"))
                continue
            outputs = [translated[p.text] if p.text.strip() else p.text for p in pieces]
            pivot = join_translations(pieces, outputs) if by_sentence else outputs[0]
            ratio_note = self._ratio_note(text, pivot, lang)
            out.append(
                Translation(
                    text, pivot, lang, self.pivot, named.name,
                    split=len(sentences) > 1,
                    cached=bool(sentences) and all(s in from_cache for s in sentences),
                    note=ratio_note, suspicious=ratio_note is not None,
                )
            )
        self.stats.suspicious += sum(t.suspicious for t in out)
        return out

    def _ratio_note(self, source: str, pivot: str, lang: str) -> str | None:
        if len(source.strip()) < _RATIO_MIN_CHARS:
            return None
        expected = 3.0 if lang in _DENSE_SCRIPTS else 1.0
        ratio = len(pivot) / len(source) / expected
        if ratio > self.ratio_limit or ratio < 1 / self.ratio_limit:
            return f"suspicious translation: output/input length ratio {len(pivot) / len(source):.2f} (expected about {expected:g})"
        return None

    def _translate_segments(
        self, segments: list[str], lang: str, named: NamedTranslator
    ) -> tuple[dict[str, str], set[str], dict[str, str]]:
        """(translations, segments served from the cache, failed segment -> error)."""
        unique = list(dict.fromkeys(segments))
        self.stats.segments += len(segments)
        self.stats.unique_segments += len(unique)
        space = f"{named.name}|{named.settings}|{lang}->{self.pivot}"
        use_cache = self.cache is not None and getattr(named.translator, "cacheable", True)
        translated: dict[str, str] = {}
        failed: dict[str, str] = {}
        if use_cache:
            assert self.cache is not None
            translated = self.cache.get_many(space, unique)
            self.stats.cache_hits += len(translated)
            self.stats.cache_misses += len(unique) - len(translated)
        from_cache = set(translated)
        # Length-sorted chunks keep padding low; translators with their own
        # token-budget batching ask for bigger chunks (``chunk_size``).
        todo = sorted((s for s in unique if s not in translated), key=len)
        size = getattr(named.translator, "chunk_size", self.batch_size)
        starts = range(0, len(todo), size)
        for start in track(starts, f"translate {lang}->{self.pivot}", total=len(starts), unit="batch"):
            batch = todo[start : start + size]
            cut_before = getattr(named.translator, "oversized_splits", 0)
            try:
                outputs = named.translator.translate(batch, lang, self.pivot)
            except ModelUnavailableError:
                raise  # every batch of this language would fail alike: stop and say how to provide the model
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                if self.on_error == "stop":
                    raise StageError(f"translate stage, translator {named.name!r} ({lang}->{self.pivot}): {error}") from exc
                self.stats.failed_batches.append((lang, len(batch), error))
                failed.update((segment, error) for segment in batch)
                continue
            self.stats.oversized_sentences += getattr(named.translator, "oversized_splits", 0) - cut_before
            if len(outputs) != len(batch):
                raise StageError(f"translate stage, translator {named.name!r} returned {len(outputs)} texts for {len(batch)}")
            if use_cache:
                assert self.cache is not None
                self.cache.put_many(space, zip(batch, outputs, strict=True))
            translated.update(zip(batch, outputs, strict=True))
        return translated, from_cache, failed
