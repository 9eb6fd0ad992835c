"""Build a pipeline from a validated config and run it over items and users.

The runner is the only place that knows the order of stages. Building
instantiates plugins (cheap); weights load on first use.
"""

from __future__ import annotations

import ctypes
import functools
import shutil
import time
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Iterator, Literal

import numpy as np

from pipeline import io, registry
from pipeline.config import PluginSpec, RunConfig, TranslatorSpec
from pipeline.errors import InputError
from pipeline.progress import track
from pipeline.protocols import Detector, Encoder, EncodeMode, Ranker
from pipeline.records import Document, Hit, Item, Problem, Recommendation, Translation, User
from pipeline.stages import (
    DetectStage,
    EncodeStage,
    FuseStage,
    NormaliseStage,
    ProfileStage,
    RecommendStage,
    RetrieveStage,
    TranslateStage,
)
from pipeline.stages.translate import UNTRANSLATED, NamedTranslator
from pipeline.translation_cache import TranslationCache

if TYPE_CHECKING:
    from pipeline.distributed import RayEngine


def build_plugin(kind: registry.PluginKind, spec: PluginSpec) -> Any:
    cls = registry.load(kind, spec.plugin)
    return cls(cls.Params.model_validate(spec.params))


def build_translator(spec: PluginSpec) -> NamedTranslator:
    """A translator with the settings that key its cache entries."""
    return NamedTranslator.with_settings(spec.plugin, build_plugin("translator", spec), spec.params)


def build_translate_stage(spec: TranslatorSpec | None, pivot: str) -> TranslateStage:
    """The translate stage a translator spec describes (None: the direct path, nothing translated)."""
    return TranslateStage(
        build_translator(spec) if spec else None,
        pivot,
        spec.on_missing if spec else "error",
        fallback=build_translator(spec.fallback) if spec and spec.fallback else None,
        cache=TranslationCache(spec.cache) if spec and spec.cache else None,
        on_error=spec.on_error if spec else "stop",
    )


@dataclass
class RunSummary:
    """Counts that add up: every text read (items, and users with text) is already in
    the pivot, translated now, served from the translation cache, kept in its
    original language, or failed to translate."""

    items_read: int = 0
    users_read: int = 0
    texts_read: int = 0
    texts_in_pivot: int = 0
    #: Texts translated in this run (at least one segment was not in the cache).
    texts_translated: int = 0
    #: Texts whose every segment came from the translation cache.
    texts_from_cache: int = 0
    #: Characters sent to translators (before de-duplication): the cost driver of MT.
    chars_translated: int = 0
    #: Distinct segments sent for translation, and how many the cache served.
    segments_translated: int = 0
    segments_from_cache: int = 0
    #: Share of translated segments served from the translation cache; None without a cache.
    cache_hit_rate: float | None = None
    #: Translations flagged for a degenerate output/input length ratio.
    translations_suspicious: int = 0
    #: Sentences longer than the model's input limit, cut into parts (nothing dropped).
    oversized_sentences: int = 0
    texts_kept_original: int = 0
    #: Texts whose translation batch raised; they keep their original text.
    texts_failed: int = 0
    failed_batches: list[tuple[str, int, str]] = field(default_factory=list)
    languages: Counter[str] = field(default_factory=Counter)
    #: Language -> (texts kept in the original, why no translator served it).
    kept: dict[str, tuple[int, str]] = field(default_factory=dict)
    recommendations: int = 0
    #: Users with no recommendation at all (each is in the errors file with the reason).
    users_unserved: int = 0
    #: Rows written to the errors file, and where.
    problems: int = 0
    errors_file: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    def count(self, translations: Sequence[Translation]) -> None:
        """Add a batch of translations to the counts."""
        for t in translations:
            self.texts_read += 1
            self.languages[t.src_lang] += 1
            if t.failed:
                self.texts_failed += 1
            elif t.kept_original:
                self.texts_kept_original += 1
                count, _ = self.kept.get(t.src_lang, (0, ""))
                self.kept[t.src_lang] = (count + 1, t.note or "no route")
            elif t.translator == UNTRANSLATED:
                self.texts_in_pivot += 1
            else:
                self.texts_translated += not t.cached
                self.texts_from_cache += t.cached
                self.chars_translated += len(t.source)
        parts = (self.texts_in_pivot, self.texts_translated, self.texts_from_cache, self.texts_kept_original, self.texts_failed)
        assert sum(parts) == self.texts_read, "every text is counted exactly once"

    def lines(self) -> list[str]:
        langs = ", ".join(f"{lang} {n}" for lang, n in self.languages.most_common())
        timing = ", ".join(f"{stage} {secs:.2f}s" for stage, secs in self.seconds.items())
        return [
            f"read {self.items_read} items and {self.users_read} users; languages: {langs}",
            f"texts: {self.texts_read} read = {self.texts_in_pivot} already in pivot + {self.texts_translated} translated"
            f" + {self.texts_from_cache} served from the cache + {self.texts_kept_original} kept in original language (no route)"
            f" + {self.texts_failed} failed to translate",
            *(f"  failed batch {lang}: {n} segment(s): {error}" for lang, n, error in self.failed_batches),
            f"segments: {self.segments_translated} distinct, {self.segments_from_cache} from the translation cache"
            + (f" (hit rate {self.cache_hit_rate:.0%})" if self.cache_hit_rate is not None else " (no cache)")
            + (f"; {self.translations_suspicious} suspicious translation(s) flagged" if self.translations_suspicious else "")
            + (f"; {self.oversized_sentences} sentence(s) over the model's input limit cut into parts" if self.oversized_sentences else ""),
            *(f"  {lang}: {n} text(s) kept in the original: {why}" for lang, (n, why) in sorted(self.kept.items())),
            f"wrote {self.recommendations} recommendations"
            + (f"; {self.users_unserved} user(s) got none" if self.users_unserved else ""),
            *([f"{self.problems} problem(s) written to {self.errors_file}"] if self.errors_file else []),
            f"time: {timing}",
        ]


@dataclass
class RunResult:
    recommendations: list[Recommendation]
    documents: dict[str, Document]
    summary: RunSummary
    #: Items and users not served as asked, with the reason.
    problems: list[Problem] = field(default_factory=list)


def translation_problems(docs: Sequence[Document], kind: Literal["item", "user"]) -> list[Problem]:
    """Texts whose translation failed: they go on in their original language, and are reported."""
    return [Problem(kind, d.id, "translate", d.translation.note or "translation failed") for d in docs if d.translation.failed]


class Pipeline:
    """The stages of one config, wired in order; call ``run`` with records or ``run_files``."""

    def __init__(self, config: RunConfig) -> None:
        self.config = config
        detector: Detector = build_plugin("detector", config.detector)
        spec = config.translator
        self.encoder: Encoder | None = build_plugin("encoder", config.encoder) if config.encoder else None
        rankers: dict[str, Ranker] = {spec.label: build_plugin("ranker", spec) for spec in config.rankers}

        self.normalise = NormaliseStage(config.normalise.html, config.normalise.moses_punctuation)
        self.detect = DetectStage(detector)
        # No translator is the direct path: pivot text stays the original text.
        self.translate = build_translate_stage(spec, config.pivot)
        self.encode = EncodeStage(self.encoder) if self.encoder else None
        self.ray: RayEngine | None = None
        if config.engine == "ray":
            from pipeline.distributed import RayEngine

            self.ray = RayEngine(config.ray, spec, config.encoder, config.pivot)
        self.retrieve = RetrieveStage(rankers)
        self.fuse = FuseStage(config.fusion.method, config.fusion.k, {s.label: s.weight for s in config.rankers})
        self.profile = ProfileStage(config.recommend.profile, config.recommend.recency_decay)
        self.recommend = RecommendStage(config.recommend.top_k, config.recommend.exclude_seen)
        self.summary = RunSummary()

    @contextmanager
    def _timed(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.summary.seconds[stage] = self.summary.seconds.get(stage, 0.0) + time.perf_counter() - start

    def prepare(self, ids: Sequence[str], texts: Sequence[str], declared: Sequence[str | None]) -> list[Document]:
        """Normalise, detect and translate texts into Documents (original and pivot side by side)."""
        with self._timed("normalise"):
            cleaned = self.normalise.run(texts, declared)
        with self._timed("detect"):
            detections = self.detect.run(cleaned, declared)
        langs = [d.lang for d in detections]
        if self.config.normalise.moses_punctuation:
            # Punctuation rules are per language, known only once detected.
            with self._timed("normalise"):
                cleaned = [
                    self.normalise.run([t], [lang])[0] if not declared[i] else t
                    for i, (t, lang) in enumerate(zip(cleaned, langs, strict=True))
                ]
        with self._timed("translate"):
            translations = self.ray.translate(ids, cleaned, langs) if self.ray else self.translate.run(ids, cleaned, langs)
        stats = self.ray.stats if self.ray else self.translate.stats
        self.summary.segments_translated = stats.unique_segments
        self.summary.segments_from_cache = stats.cache_hits
        self.summary.translations_suspicious = stats.suspicious
        self.summary.oversized_sentences = stats.oversized_sentences
        looked_up = stats.cache_hits + stats.cache_misses
        self.summary.cache_hit_rate = stats.cache_hits / looked_up if looked_up else None
        self.summary.failed_batches = list(stats.failed_batches)
        self.summary.count(translations)
        return [
            Document(id=i, original=text, lang=d.lang, pivot=t.pivot, detection=d, translation=t)
            for i, text, d, t in zip(ids, cleaned, detections, translations, strict=True)
        ]

    def _vectors(self, docs: Sequence[Document], mode: EncodeMode) -> np.ndarray | None:
        if self.encode is None:
            return None
        assert self.encoder is not None
        texts = [d.original if self.encoder.multilingual else d.pivot for d in docs]
        with self._timed("encode"):
            return self.ray.encode(texts, mode) if self.ray else self.encode.run(texts, mode)

    def run(self, items: Sequence[Item], users: Sequence[User]) -> RunResult:
        self.summary.items_read, self.summary.users_read = len(items), len(users)
        item_docs = self.prepare([i.id for i in items], [i.text for i in items], [i.lang for i in items])
        texted = [u for u in users if u.text is not None]
        user_docs = self.prepare([u.id for u in texted], [u.text or "" for u in texted], [u.lang for u in texted]) if texted else []

        item_vectors = self._vectors(item_docs, "passage")
        user_text_vectors = self._vectors(user_docs, "query") if user_docs else None
        with self._timed("index"):
            self.retrieve.index(item_docs, item_vectors, [u.history for u in users if u.history])

        by_id = {d.id: d for d in item_docs}
        rows = {d.id: row for row, d in enumerate(item_docs)}
        own_vectors = {d.id: user_text_vectors[row] for row, d in enumerate(user_docs)} if user_text_vectors is not None else {}
        profiles = self.profile.run(users, {d.id: d for d in user_docs}, by_id, rows, item_vectors, own_vectors)

        depth = max(self.config.fusion.depth, self.config.recommend.top_k + max((len(u.history) for u in users), default=0))
        with self._timed("retrieve"):
            per_ranker = self.retrieve.run(profiles.queries, profiles.vectors, depth)
        recommendations: list[Recommendation] = []
        problems = translation_problems(item_docs, "item") + translation_problems(user_docs, "user")
        with self._timed("rank"):
            for row, user in enumerate(track(users, "rank", total=len(users), unit="user")):
                lists = {name: hits[row] for name, hits in per_ranker.items()}
                fused = self.fuse.run(lists)
                chosen = self.recommend.run(user, fused, lists, by_id)
                if not chosen:
                    problems.append(Problem("user", user.id, "recommend", _why_unserved(user, fused)))
                if self.config.recommend.explain and chosen:
                    reasons = self.retrieve.explain(profiles.queries[row], [r.item_id for r in chosen])
                    chosen = [replace(r, explanations=why) for r, why in zip(chosen, reasons, strict=True)]
                recommendations += chosen
        self.summary.recommendations = len(recommendations)
        self.summary.users_unserved = sum(p.kind == "user" and p.stage == "recommend" for p in problems)
        self.summary.problems = len(problems)
        return RunResult(recommendations, by_id, self.summary, problems)

    def run_files(self) -> RunResult:
        """Read the config's input files, run, and write the config's output file if set."""
        if self.config.input is None or self.config.input.users is None:
            raise InputError(f"{self.config.source}: 'input.items' and 'input.users' are required to run")
        items = io.read_items(self.config.input.items)
        users = io.read_users(self.config.input.users)
        io.check_histories(users, items, str(self.config.input.users))
        result = self.run(items, users)
        if self.config.output is not None:
            io.write_jsonl(self.config.output, result.recommendations)
        documents_path = self.config.documents_path
        if documents_path is not None:
            io.write_jsonl(documents_path, result.documents.values())
        errors_path = self.config.errors_path
        if errors_path is not None:
            io.write_jsonl(errors_path, result.problems)
            self.summary.errors_file = str(errors_path)
        return result

    def prepare_files(self) -> RunSummary:
        """Stream the catalogue into pivot documents, one chunk at a time, so memory holds one chunk.

        Each chunk is normalised, detected, translated (the translation cache
        carries repeated text across chunks, and a restarted run resumes from
        it) and encoded, then appended to ``documents`` (JSONL) and, with an
        encoder, to ``<documents>.vectors/NNNNNN.npy`` (one float32 matrix
        per chunk, rows in document order). Items whose translation failed are
        also written to the errors file.
        """
        config = self.config
        if config.input is None or config.documents is None:
            raise InputError(f"{config.source}: 'input.items' and 'documents' are required to prepare a catalogue")
        errors_path = config.errors_path
        assert errors_path is not None  # documents is set
        vectors_dir = config.documents.with_suffix(".vectors") if self.encode else None
        for path in (config.documents, errors_path):
            path.parent.mkdir(parents=True, exist_ok=True)
        if vectors_dir is not None:
            shutil.rmtree(vectors_dir, ignore_errors=True)
            vectors_dir.mkdir(parents=True)
        with config.documents.open("w", encoding="utf-8") as documents, errors_path.open("w", encoding="utf-8") as errors:
            chunks = io.iter_item_chunks(config.input.items, config.chunk_size)
            total = -(-io.count_rows(config.input.items) // config.chunk_size)
            for number, chunk in enumerate(track(chunks, f"prepare (chunks of {config.chunk_size})", total=total, unit="chunk")):
                self.summary.items_read += len(chunk)
                docs = self.prepare([i.id for i in chunk], [i.text for i in chunk], [i.lang for i in chunk])
                vectors = self._vectors(docs, "passage")
                if vectors is not None and vectors_dir is not None:
                    np.save(vectors_dir / f"{number:06d}.npy", vectors, allow_pickle=False)  # float32 from the encode stage
                io.write_rows(documents, docs)
                self.summary.problems += io.write_rows(errors, translation_problems(docs, "item"))
                del docs, vectors
                _release_freed_memory()
        self.summary.errors_file = str(errors_path)
        return self.summary


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim  # type: ignore[no-any-return]
    except (OSError, AttributeError):  # not glibc
        return None


def _release_freed_memory() -> None:
    """Hand freed heap back to the OS between chunks: glibc keeps it, and RSS creeps up chunk after chunk."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _why_unserved(user: User, fused: Sequence[Hit]) -> str:
    if fused:
        return f"every candidate ({len(fused)}) is already in the user's history"
    return "no item matched the user's profile (no shared terms, or an empty profile)"
