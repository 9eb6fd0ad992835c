from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from pydantic import BaseModel

from pivotrec.pipeline.errors import ModelUnavailableError, StageError, TranslationError
from pivotrec.pipeline.model_store import unavailable_error
from pivotrec.pipeline.progress import track
from pivotrec.pipeline.protocols import (
    ChecksTranslationModels,
    CountsBatches,
    ExplainsMissingRoutes,
    KeysCache,
    NamesModels,
    Routes,
    TranslatedBatch,
    Translator,
    TranslatorInfo,
)
from pivotrec.pipeline.records import NOT_TEXT, Translation
from pivotrec.pipeline.segment import Piece, join_translations, split_sentences
from pivotrec.pipeline.stats import UNDETERMINED, UNTRANSLATED, TranslationStats
from pivotrec.pipeline.translation_cache import TranslationCache

MissingRoutePolicy = Literal["error", "keep", "fallback"]
#: What a translator that raises does to the run: ``stop`` it, or ``record``
#: the failed batch (its texts keep their original, flagged) and go on.
ErrorPolicy = Literal["stop", "record"]

#: Source languages whose English translation is typically ~3x longer in characters.
_DENSE_SCRIPTS = frozenset({"zh", "ja", "ko", "yue"})
#: Segments shorter than this are too short for a meaningful length ratio.
_RATIO_MIN_CHARS = 12
#: Why an undetermined text keeps its original.
_UNDETERMINED_NOTE = "language undetermined: the detector's confidence was below its threshold, so it was not translated"


def _preview(ids: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(repr(i) for i in ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def _without_noncharacters(text: str) -> tuple[str, str | None]:
    """``text`` without Unicode noncharacters and lone surrogates, and what was removed (None: nothing)."""
    found = NOT_TEXT.findall(text)
    if not found:
        return text, None
    code_points = ", ".join(sorted({f"U+{ord(c):04X}" for c in found}))
    return NOT_TEXT.sub("", text), f"removed {len(found)} Unicode noncharacter(s) or lone surrogate(s) ({code_points})"


def _noted(translation: Translation, removed: str | None) -> Translation:
    """``translation`` whose note also says what was removed from its text before translating."""
    if removed is None:
        return translation
    return replace(translation, note="; ".join(n for n in (removed, translation.note) if n))


@dataclass(frozen=True)
class NamedTranslator:
    """A translator as the stage uses it: its name in provenance, errors and cache
    keys, and its optional abilities (``protocols.py``), looked up once here."""

    name: str
    translator: Translator
    #: Identity of its settings for the cache; default: ``cache_settings()`` if the
    #: plugin has it (options such as batch size that do not change a translation
    #: left out), otherwise all its params.
    settings: str | None = None
    params: BaseModel | None = None
    info: TranslatorInfo = field(init=False, default=TranslatorInfo())

    def __post_init__(self) -> None:
        declared = getattr(self.translator, "info", None)
        if declared is not None and not isinstance(declared, TranslatorInfo):
            raise TypeError(f"translator {self.name!r}: 'info' must be a TranslatorInfo, got {type(declared).__name__}")
        object.__setattr__(self, "info", declared or TranslatorInfo())
        if self.settings is None:
            own = self.translator.cache_settings() if isinstance(self.translator, KeysCache) else self._params_json()
            object.__setattr__(self, "settings", json.dumps(own, sort_keys=True, default=str))

    def _params_json(self) -> Any:
        params = self.params if self.params is not None else getattr(self.translator, "params", None)
        return params.model_dump(mode="json") if isinstance(params, BaseModel) else None

    def missing(self, src: str, pivot: str) -> str:
        why = self.translator.missing(src) if isinstance(self.translator, ExplainsMissingRoutes) else None
        return why or f"{self.name} has no route {src}->{pivot}"

    def model_for(self, src: str, tgt: str) -> str | None:
        if isinstance(self.translator, NamesModels):
            return self.translator.model_for(src, tgt)
        return None

    def unavailable_models(self, languages: Sequence[str], tgt: str) -> list[str]:
        if isinstance(self.translator, ChecksTranslationModels):
            return [f"translator {self.name!r}: {problem}" for problem in self.translator.unavailable_models(languages, tgt)]
        return []

    def routed(self, src: str, tgt: str) -> NamedTranslator:
        """The translator that does the work for ``src``: a router hands over the child it
        chose, so the child's sentence splitting, batching and caching apply (``router:child``)."""
        if not isinstance(self.translator, Routes):
            return self
        chosen = self.translator.route(src, tgt)
        assert chosen is not None, "supports() said a route exists"
        return NamedTranslator(f"{self.name}:{chosen.name}", chosen.translator, params=chosen.params)

    def translate(self, texts: list[str], src: str, tgt: str) -> TranslatedBatch:
        if isinstance(self.translator, CountsBatches):
            return self.translator.translate_batch(texts, src, tgt)
        return TranslatedBatch(list(self.translator.translate(texts, src, tgt)))


@dataclass(frozen=True)
class TranslateResult:
    """One call's translations, in input order, and what it took."""

    translations: list[Translation]
    stats: TranslationStats


class TranslateStage:
    """Carry every non-pivot text into the pivot language.

    Pivot-language text is never sent to a translator. Translators whose
    ``info`` says ``sentence_level`` get one sentence at a time (split
    language-aware, paragraph breaks kept); each distinct segment is
    translated once, looked up in the persistent cache first, and stored as
    soon as its batch is done.

    A language the translator has no route for follows ``on_missing``: an
    error naming the language and items; ``keep`` (original text, flagged
    ``kept_original`` and counted); or ``fallback`` (the fallback translator
    takes it, and it is an error if that has no route either). With no
    translator at all (the direct path) every text keeps its original. A
    text whose language is undetermined (``und``) is never sent: it keeps
    its original, with a note, and is counted.

    Unicode noncharacters and lone surrogates are removed from every text
    first, and its note says so; a text of nothing else fails.

    A translator that raises (or answers with the wrong number of texts)
    stops the run (``on_error='stop'``) or, by default, fails only the
    segments it cannot translate: a failing batch is cut in half until each
    failing segment stands alone. Their texts keep their original text,
    flagged ``failed`` with the error, and each is recorded in the result's
    stats. A model that is not available stops the run either way.
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

    def run(self, ids: Sequence[str], texts: Sequence[str], langs: Sequence[str]) -> TranslateResult:
        results: list[Translation | None] = [None] * len(texts)
        by_lang: dict[str, list[int]] = defaultdict(list)
        sanitised = [_without_noncharacters(text) for text in texts]
        cleaned = [text for text, _ in sanitised]
        removals = [removed for _, removed in sanitised]
        name = self.translator.name if self.translator is not None else UNTRANSLATED
        for i, (text, lang, removed) in enumerate(zip(cleaned, langs, removals, strict=True)):
            if removed is not None and not text.strip():
                results[i] = Translation(text, text, lang, self.pivot, name, kept_original=True, failed=True, note="translation failed: nothing is left to translate")
            elif lang == self.pivot or self.translator is None:
                results[i] = Translation(text, text, lang, self.pivot, UNTRANSLATED)
            elif lang == UNDETERMINED:
                results[i] = Translation(text, text, lang, self.pivot, name, kept_original=True, note=_UNDETERMINED_NOTE)
            else:
                by_lang[lang].append(i)

        stats = TranslationStats(texts_noncharacters_removed=sum(r is not None for r in removals))
        translators = self._translators_for({lang: [ids[i] for i in positions] for lang, positions in sorted(by_lang.items())})
        for lang, positions in sorted(by_lang.items()):
            assert self.translator is not None
            chosen = translators[lang]
            if chosen is None:
                note = self.translator.missing(lang, self.pivot)
                for i in positions:
                    results[i] = Translation(cleaned[i], cleaned[i], lang, self.pivot, name, kept_original=True, note=note)
                continue
            model, method = chosen.model_for(lang, self.pivot), chosen.info.method
            translated, segment_stats = self._translate([cleaned[i] for i in positions], lang, chosen)
            stats += segment_stats
            for i, translation in zip(positions, translated, strict=True):
                results[i] = replace(translation, model=model, method=method)
        done = [r for r in results if r is not None]
        assert len(done) == len(results), "every text gets a translation"
        done = [_noted(t, removed) for t, removed in zip(done, removals, strict=True)]
        return TranslateResult(done, stats + TranslationStats.of_texts(done))

    def _translators_for(self, ids_by_lang: dict[str, list[str]]) -> dict[str, NamedTranslator | None]:
        """The translator that does the work for each language (a router's child), None to keep
        the original. Before any text is translated, every language without a route (per
        ``on_missing``) is named in one error, and every model the chosen ones lack in another."""
        if not ids_by_lang:  # every text is in the pivot, or there is no translator
            return {}
        assert self.translator is not None
        chosen = {lang: self._translator_for(lang, ids) for lang, ids in ids_by_lang.items()}
        no_route = [why for why in chosen.values() if isinstance(why, str)]
        if no_route:
            listing = "\n".join(f"  - {why}" for why in no_route)
            raise TranslationError(
                f"translator {self.translator.name!r} has no route into {self.pivot} for {len(no_route)} language(s):\n{listing}"
                + ("\nSet translator.on_missing: keep to keep their original text, or fallback with translator.fallback." if self.on_missing == "error" else "")
            )
        routed = {lang: named.routed(lang, self.pivot) for lang, named in chosen.items() if isinstance(named, NamedTranslator)}
        langs_by_translator: dict[str, tuple[NamedTranslator, list[str]]] = {}
        for lang, named in routed.items():
            langs_by_translator.setdefault(named.name, (named, []))[1].append(lang)
        missing = [problem for named, langs in langs_by_translator.values() for problem in named.unavailable_models(langs, self.pivot)]
        if missing:
            raise unavailable_error(missing)
        return {lang: routed.get(lang) for lang in ids_by_lang}

    def _translator_for(self, lang: str, ids: list[str]) -> NamedTranslator | str | None:
        """The translator that serves ``lang``; None to keep the original; why not, when the policy allows neither."""
        assert self.translator is not None
        if self.translator.translator.supports(lang, self.pivot):
            return self.translator
        why = self.translator.missing(lang, self.pivot)
        if self.on_missing == "keep":
            return None
        if self.on_missing == "fallback":
            assert self.fallback is not None
            if self.fallback.translator.supports(lang, self.pivot):
                return self.fallback
            why += f"; fallback {self.fallback.name!r}: {self.fallback.missing(lang, self.pivot)}"
        return f"no route {lang}->{self.pivot} for {len(ids)} text(s): {_preview(ids)} ({why})"

    def _translate(self, texts: list[str], lang: str, named: NamedTranslator) -> tuple[list[Translation], TranslationStats]:
        """Translate texts, sentence by sentence if the translator wants it, each distinct segment once."""
        by_sentence = named.info.sentence_level
        layouts: list[list[Piece]] = [split_sentences(t, lang) if by_sentence else [Piece(t, "")] for t in texts]
        segments = [p.text for pieces in layouts for p in pieces if p.text.strip()]
        translated, from_cache, failed, stats = self._translate_segments(segments, lang, named)
        out = []
        for text, pieces in zip(texts, layouts, strict=True):
            sentences = [p.text for p in pieces if p.text.strip()]
            errors = [failed[s] for s in sentences if s in failed]
            if errors:
                out.append(Translation(text, text, lang, self.pivot, named.name, kept_original=True, failed=True, note=f"translation failed: {errors[0]}"))
                continue
            outputs = [translated[p.text] if p.text.strip() else p.text for p in pieces]
            pivot = join_translations(pieces, outputs) if by_sentence else outputs[0]
            # A gloss or a copy has no meaningful length ratio.
            ratio_note = self._ratio_note(text, pivot, lang) if named.info.method == "mt" else None
            out.append(
                Translation(
                    text, pivot, lang, self.pivot, named.name,
                    split=len(sentences) > 1,
                    cached=bool(sentences) and all(s in from_cache for s in sentences),
                    note=ratio_note, suspicious=ratio_note is not None,
                )
            )
        return out, replace(stats, suspicious=sum(t.suspicious for t in out))

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
    ) -> tuple[dict[str, str], set[str], dict[str, str], TranslationStats]:
        """(translations, segments served from the cache, failed segment -> error, counts)."""
        unique = list(dict.fromkeys(segments))
        space = f"{named.name}|{named.settings}|{lang}->{self.pivot}"
        cache = self.cache if named.info.cacheable else None
        translated: dict[str, str] = cache.get_many(space, unique) if cache is not None else {}
        from_cache = set(translated)
        batches = _Batches(translated, cache, space)
        # Length-sorted chunks keep padding low; translators with their own
        # token-budget batching ask for bigger chunks (``info.batch_size``).
        todo = sorted((s for s in unique if s not in translated), key=len)
        size = named.info.batch_size or self.batch_size
        starts = range(0, len(todo), size)
        for start in track(starts, f"translate {lang}->{self.pivot}", total=len(starts), unit="batch"):
            self._translate_batch(todo[start : start + size], lang, named, batches)
        stats = TranslationStats(
            segments=len(unique),
            cache_hits=len(from_cache) if cache is not None else 0,
            cache_misses=len(unique) - len(from_cache) if cache is not None else 0,
            cut_sentences=batches.cut_sentences,
            failed_batches=tuple((lang, 1, error) for error in batches.failed.values()),
        )
        return translated, from_cache, batches.failed, stats

    def _translate_batch(self, batch: list[str], lang: str, named: NamedTranslator, batches: _Batches) -> None:
        """Translate ``batch`` into ``batches``; a batch that fails is cut in half until each
        failing segment stands alone, so one bad segment fails only itself."""
        try:
            result = named.translate(batch, lang, self.pivot)
            if len(result.texts) != len(batch):  # as much a failure of the batch as raising
                raise TranslationError(f"translator returned {len(result.texts)} texts for {len(batch)}")
        except ModelUnavailableError:
            raise  # every batch of this language would fail alike: stop and say how to provide the model
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            if self.on_error == "stop":
                raise StageError(f"translate stage, translator {named.name!r} ({lang}->{self.pivot}): {error}") from exc
            if len(batch) == 1:
                batches.failed[batch[0]] = error
                return
            half = len(batch) // 2
            self._translate_batch(batch[:half], lang, named, batches)
            self._translate_batch(batch[half:], lang, named, batches)
            return
        batches.add(batch, result)


@dataclass
class _Batches:
    """What the batches of one language have given so far; each batch's translations
    go to the cache as soon as it is done, so an interrupted run keeps them."""

    translated: dict[str, str]
    cache: TranslationCache | None
    space: str
    #: Segment -> the error of the smallest batch that held it and failed (itself alone).
    failed: dict[str, str] = field(default_factory=dict)
    cut_sentences: int = 0

    def add(self, batch: list[str], result: TranslatedBatch) -> None:
        if self.cache is not None:
            self.cache.put_many(self.space, zip(batch, result.texts, strict=True))
        self.translated.update(zip(batch, result.texts, strict=True))
        self.cut_sentences += result.cut_sentences
