"""Run a resolved config over items and users: the only place that knows the order of stages.

clean → detect → punctuate → translate → encode → index → profile → retrieve
→ fuse → recommend → explain. Plugins are built once by the builder and
warmed up before the first batch; the engine (local or Ray) runs translate
and encode; every stage call is timed and any failure names the stage and
the plugin.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import numpy as np

from pivotrec.pipeline import batch
from pivotrec.pipeline.build import Builder
from pivotrec.pipeline.config import RunConfig
from pivotrec.pipeline.engines import make_engine
from pivotrec.pipeline.errors import stage_errors
from pivotrec.pipeline.progress import track
from pivotrec.pipeline.protocols import EncodeMode, Encoder, Ranker
from pivotrec.pipeline.refs import EncoderRef
from pivotrec.pipeline.problems import translation_problems, why_unserved
from pivotrec.pipeline.records import Document, Item, Problem, Recommendation, User
from pivotrec.pipeline.stages import DetectStage, FuseStage, NormaliseStage, ProfileStage, RecommendStage, RetrieveStage
from pivotrec.pipeline.stages.encode import VectorText, mean_of_unit, texts_to_read
from pivotrec.pipeline.stats import RunSummary


@dataclass
class RunResult:
    recommendations: list[Recommendation]
    documents: dict[str, Document]
    summary: RunSummary
    #: Items and users not served as asked, with the reason: rows skipped on reading
    #: (``run_files``), failed translations, users who got no recommendation.
    problems: list[Problem] = field(default_factory=list)


class Pipeline:
    """The stages of one config, wired in order; call ``run`` with records or ``run_files``."""

    def __init__(self, config: RunConfig) -> None:
        self.config = config
        self.builder = Builder()
        self.engine = make_engine(config, self.builder)
        self.normalise = NormaliseStage(config.normalise.html, config.normalise.moses_punctuation)
        self.detect = DetectStage(self.builder.build(config.detector))
        rankers: dict[str, Ranker] = {spec.label: self.builder.build(spec) for spec in config.rankers}
        #: Rankers that score with vectors, and the encoder and text each reads.
        self.readers: dict[str, tuple[EncoderRef, VectorText]] = {}
        for spec in config.rankers:
            encoder = config.encoder_for(spec)
            if rankers[spec.label].needs_vectors and encoder is not None:
                self.readers[spec.label] = (encoder, spec.reads)
        self.retrieve = RetrieveStage(rankers)
        self.fuse = FuseStage(config.fusion.method, config.fusion.k, {s.label: s.weight for s in config.rankers})
        self.profile = ProfileStage(config.recommend.profile, config.recommend.recency_decay)
        recommend = config.recommend
        self.recommend = RecommendStage(recommend.top_k, recommend.exclude_seen, recommend.translation_similarity, recommend.one_per_translation_group)
        # Said in the summary: a language left untranslated is still matched across languages there.
        reading_originals = tuple(label for label, (encoder, reads) in self.readers.items() if reads != "pivot" and self.builder.build(encoder).multilingual)
        self.summary = RunSummary(originals_read_by=reading_originals)

    def warm_up(self, every_model: bool = False) -> None:
        """Load the models once, before the first batch (idempotent). An encoder loads before the
        first text its embedding cache lacks, so a fully cached run loads none; ``every_model``
        loads them now too (a service, whose first request must not wait for a model)."""
        with self._step("warm-up"):
            self.builder.warm_up([self.config.detector, *self.config.rankers])
            self.engine.warm_up(every_model)

    @contextmanager
    def _step(self, stage: str, plugin: str | None = None) -> Iterator[None]:
        start = time.perf_counter()
        try:
            with stage_errors(stage, plugin or "pivotrec"):
                yield
        finally:
            self.summary.seconds[stage] = self.summary.seconds.get(stage, 0.0) + time.perf_counter() - start

    def documents(self, ids: Sequence[str], texts: Sequence[str], declared: Sequence[str | None]) -> list[Document]:
        """Clean, detect, punctuate and translate texts into Documents (original and pivot side by side)."""
        with self._step("normalise"):
            cleaned = self.normalise.clean(texts)
        with self._step("detect", f"detector {self.config.detector.plugin!r}"):
            detections = self.detect.run(cleaned, declared)
        self.summary.texts_low_confidence += sum(d.low_confidence for d in detections)
        langs = [d.lang for d in detections]
        with self._step("normalise"):
            # Punctuation rules are per language, known only once detected.
            cleaned = self.normalise.punctuate(cleaned, langs)
        with self._step("translate"):
            result = self.engine.translate(ids, cleaned, langs)
        self.summary.translation += result.stats
        return [
            Document(id=i, original=text, lang=d.lang, pivot=t.pivot, detection=d, translation=t)
            for i, text, d, t in zip(ids, cleaned, detections, result.translations, strict=True)
        ]

    def vectors(self, encoder_ref: EncoderRef, reads: VectorText, docs: Sequence[Document], mode: EncodeMode) -> np.ndarray:
        """``docs`` encoded by one encoder, reading the text ``reads`` asks for."""
        # Built in the driver on Ray too (cheap): whether it is multilingual decides what it reads.
        encoder: Encoder = self.builder.build(encoder_ref)
        first, second = texts_to_read(docs, reads, encoder.multilingual)
        with self._step("encode"):
            encoded = [self.engine.encode(encoder_ref, texts, mode) for texts in (first, second) if texts is not None]
        self.summary.vectors_from_cache += sum(e.from_cache for e in encoded)
        self.summary.vectors_encoded += sum(e.encoded for e in encoded)
        return encoded[0].vectors if len(encoded) == 1 else mean_of_unit(encoded[0].vectors, encoded[1].vectors)

    def ranker_vectors(self, docs: Sequence[Document], mode: EncodeMode) -> dict[str, np.ndarray]:
        """Per ranker that needs vectors, its vectors of ``docs``; each (encoder, text) pair encoded once."""
        by_view: dict[tuple[str, str], np.ndarray] = {}
        out = {}
        for name, (encoder_ref, reads) in self.readers.items():
            view = (encoder_ref.resolved.identity, reads)
            if view not in by_view:
                by_view[view] = self.vectors(encoder_ref, reads, docs, mode)
            out[name] = by_view[view]
        return out

    def catalogue(self, items: Sequence[Item], users: Sequence[User]) -> tuple[list[Document], dict[str, np.ndarray]]:
        """The items' documents and vectors, every ranker indexed over them (``index.reuse`` reads them from an index)."""
        docs = self.documents([i.id for i in items], [i.text for i in items], [i.lang for i in items])
        vectors = self.ranker_vectors(docs, "passage")
        with self._step("index"):
            self.retrieve.index(docs, vectors, [u.history for u in users if u.history])
        return docs, vectors

    def run(self, items: Sequence[Item], users: Sequence[User]) -> RunResult:
        self.warm_up()
        self.summary.items_read, self.summary.users_read = len(items), len(users)
        item_docs, item_vectors = self.catalogue(items, users)
        texted = [u for u in users if u.text is not None]
        user_docs = self.documents([u.id for u in texted], [u.text or "" for u in texted], [u.lang for u in texted]) if texted else []
        by_id = {d.id: d for d in item_docs}
        rows = {d.id: row for row, d in enumerate(item_docs)}
        user_vectors = self.ranker_vectors(user_docs, "query") if user_docs else {}
        with self._step("profile"):
            queries = self.profile.queries(users, {d.id: d for d in user_docs}, by_id)
            profile_vectors = {
                name: self.profile.vectors(users, rows, matrix, {d.id: user_vectors[name][row] for row, d in enumerate(user_docs)})
                for name, matrix in item_vectors.items()
            }

        # Each user's own depth: enough to skip its seen items, so a long history deepens no one else's search.
        depths = [max(self.config.fusion.depth, self.config.recommend.top_k + len(u.history)) for u in users]
        with self._step("retrieve"):
            per_ranker = self.retrieve.run(queries, profile_vectors, depths)
        recommendations: list[Recommendation] = []
        problems = translation_problems(item_docs, "item") + translation_problems(user_docs, "user")
        # Translations of seen items are found in the first dense ranker's space.
        seen_vectors = (rows, next(iter(item_vectors.values()))) if item_vectors else None
        with self._step("rank"):
            for row, user in enumerate(track(users, "rank", total=len(users), unit="user")):
                lists = {name: hits[row] for name, hits in per_ranker.items()}
                fused = self.fuse.run(lists)
                chosen = self.recommend.run(user, fused, lists, by_id, seen_vectors)
                if not chosen:
                    problems.append(Problem("user", user.id, "recommend", why_unserved(fused, self.recommend.translation_similarity is not None)))
                if self.config.recommend.explain and chosen:
                    reasons = self.retrieve.explain(queries[row], [r.item_id for r in chosen])
                    chosen = [replace(r, explanations=why) for r, why in zip(chosen, reasons, strict=True)]
                recommendations += chosen
        self.summary.recommendations = len(recommendations)
        self.summary.users_unserved = sum(p.kind == "user" and p.stage == "recommend" for p in problems)
        self.summary.problems = len(problems)
        return RunResult(recommendations, by_id, self.summary, problems)

    def run_files(self) -> RunResult:
        """Read the config's input files, run, and write the config's output files (see ``batch.run_files``)."""
        return batch.run_files(self)
