"""Translate and encode on Ray Data (``engine: ray``): actor pools that each hold one loaded model.

The driver sends rows (position, id, text, language) through
``Dataset.map_batches`` to a pool of actors. Each translation actor builds
the configured translator and translate stage once, with the same
translation cache, so a run on Ray and a run in one process give the same
documents; each encoding actor loads the encoder once. Rows carry their
position, so results come back in input order whatever order Ray finishes
them in.

Ray hides GPUs from actors that do not ask for one, so the driver asks for
them: with ``device: cuda``, or with ``device: auto`` (the default) when the
cluster has GPUs, each actor gets an equal share of the cluster's GPUs (at
most one), and ``auto`` then finds CUDA inside the actor.

On a cluster the translation cache path must be on storage every node can
reach (or be set to ``null``): SQLite in WAL mode is safe for several
processes on one machine, not across machines.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from pivotrec.pipeline.build import Builder
from pivotrec.pipeline.config import RunConfig, TranslatorSpec
from pivotrec.pipeline.errors import ConfigError, stage_errors
from pivotrec.pipeline.protocols import EncodeMode
from pivotrec.pipeline.refs import EncoderRef, PluginRef, walk
from pivotrec.pipeline.records import Translation
from pivotrec.pipeline.embedding_cache import EmbeddingCache
from pivotrec.pipeline.stages import EncodeStage
from pivotrec.pipeline.stages.encode import Encoded
from pivotrec.pipeline.stages.translate import TranslateResult
from pivotrec.pipeline.stats import TranslationStats


def configured_devices(ref: PluginRef | None) -> set[str]:
    """The ``device`` settings (defaults included) of a resolved plugin and every plugin
    below it: a router's are those of every translator it may hand a language to."""
    if ref is None:
        return set()
    return {device for resolved in walk(ref) if isinstance(device := getattr(resolved.params, "device", None), str)}


def gpus_per_actor(devices: set[str], cluster_gpus: float, actors: int, kind: str) -> float:
    """The GPU share each actor asks Ray for: the cluster's GPUs split over the actors, at most one each."""
    if "cuda" in devices and cluster_gpus <= 0:
        raise ConfigError("engine", [f"ray: the {kind} is set to device cuda, but the Ray cluster has no GPU; set device: auto or cpu"])
    if "cuda" in devices or ("auto" in devices and cluster_gpus > 0):
        return min(1.0, cluster_gpus / actors)
    return 0.0


class TranslateActor:
    """Builds, warms and holds one translate stage (translator, fallback, cache) for the life of the actor."""

    def __init__(self, spec: TranslatorSpec, pivot: str) -> None:
        builder = Builder()
        self.stage = builder.translate_stage(spec, pivot)
        builder.warm_up([spec, spec.fallback])

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, Any]:
        result = self.stage.run(list(batch["id"]), list(batch["text"]), list(batch["lang"]))
        # JSON columns: Arrow would turn None into NaN and numpy bools into other types.
        # The batch's counts travel on its first row.
        stats = np.full(len(result.translations), "", dtype=object)
        stats[0] = result.stats.to_json()
        return {
            "position": batch["position"],
            "translation": np.array([json.dumps(asdict(t)) for t in result.translations], dtype=object),
            "stats": stats,
        }


class EncodeActor:
    """Builds, warms and holds one encoder (and the embedding cache) for the life of the actor."""

    def __init__(self, encoder: EncoderRef, mode: EncodeMode, cache: Path | None) -> None:
        builder = Builder()
        self.stage = EncodeStage(builder.build(encoder), cache=EmbeddingCache(cache) if cache else None, namespace=encoder.resolved.identity)
        builder.warm_up([encoder])
        self.mode = mode

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, Any]:
        encoded = self.stage.run(list(batch["text"]), self.mode)
        # The batch's counts travel on its first row.
        counts = np.zeros((len(encoded.vectors), 2), dtype=np.int64)
        counts[0] = (encoded.from_cache, encoded.encoded)
        return {"position": batch["position"], "vector": encoded.vectors, "counts": counts}


class RayEngine:
    """Runs the translate and encode stages of one config on Ray Data."""

    def __init__(self, config: RunConfig) -> None:
        try:
            import ray
        except ImportError as exc:
            raise ConfigError("engine", ["'ray' needs Ray Data: pip install 'pivotrec[ray]'"]) from exc
        self.settings = config.ray
        self.embedding_cache = config.embedding_cache
        self.translator = config.translator
        self.pivot = config.pivot
        if not ray.is_initialized():
            # No address starts a local Ray even where `ray start` has left a cluster
            # behind (Ray would join that); "auto" or "ray://host:port" joins a cluster.
            ray.init(address=self.settings.address or "local", include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
        # Decided up front, so a GPU asked of a cluster without one fails before any work.
        cluster_gpus = ray.cluster_resources().get("GPU", 0.0)
        actors = self.settings.actors
        translator_devices = configured_devices(self.translator) | configured_devices(self.translator.fallback if self.translator else None)
        self.translator_gpus = gpus_per_actor(translator_devices, cluster_gpus, actors, "translator")
        self.encoder_gpus = {
            ref.resolved.identity: gpus_per_actor(configured_devices(ref), cluster_gpus, actors, "encoder") for ref in config.encoders()
        }

    def warm_up(self, every_model: bool = False) -> None:
        """Nothing here: each actor builds and warms its own plugins."""

    def _map(self, rows: list[dict[str, Any]], actor: type, constructor: dict[str, Any], gpus: float) -> list[dict[str, Any]]:
        import ray.data

        dataset = ray.data.from_items(rows, override_num_blocks=max(1, -(-len(rows) // self.settings.batch_size)))
        mapped = dataset.map_batches(
            actor,
            fn_constructor_kwargs=constructor,
            batch_size=self.settings.batch_size,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=self.settings.actors),
            num_gpus=gpus,
        )
        out = [row for batch in mapped.iter_batches(batch_size=None, batch_format="numpy") for row in _rows(batch)]
        out.sort(key=lambda row: row["position"])
        return out

    def translate(self, ids: Sequence[str], texts: Sequence[str], langs: Sequence[str]) -> TranslateResult:
        if self.translator is None or not texts:  # the direct path: nothing to translate, no actors to start
            return Builder().translate_stage(None, self.pivot).run(ids, texts, langs)
        rows = [{"position": n, "id": i, "text": t, "lang": lang} for n, (i, t, lang) in enumerate(zip(ids, texts, langs, strict=True))]
        with stage_errors("translate", f"translator {self.translator.plugin!r} on Ray"):
            results = self._map(rows, TranslateActor, {"spec": self.translator, "pivot": self.pivot}, self.translator_gpus)
        stats = sum((TranslationStats.from_json(row["stats"]) for row in results if row["stats"]), TranslationStats())
        return TranslateResult([Translation(**json.loads(row["translation"])) for row in results], stats)

    def encode(self, encoder: EncoderRef, texts: Sequence[str], mode: EncodeMode) -> Encoded:
        rows = [{"position": n, "text": t} for n, t in enumerate(texts)]
        constructor = {"encoder": encoder, "mode": mode, "cache": self.embedding_cache}
        with stage_errors("encode", f"encoder {encoder.plugin!r} on Ray"):
            results = self._map(rows, EncodeActor, constructor, self.encoder_gpus[encoder.resolved.identity])
        counts = np.vstack([row["counts"] for row in results]).sum(axis=0)
        return Encoded(np.vstack([row["vector"] for row in results]).astype(np.float32, copy=False), int(counts[0]), int(counts[1]))


def _rows(batch: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    names = list(batch)
    return [dict(zip(names, values, strict=True)) for values in zip(*(batch[n] for n in names), strict=True)]
