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
from typing import Any

import numpy as np

from pipeline.config import PluginSpec, RaySpec, TranslatorSpec
from pipeline.errors import ConfigError
from pipeline.protocols import EncodeMode
from pipeline.records import Translation
from pipeline.stages.translate import TranslateStage, TranslateStats

#: Counters of the actor's translate stage, returned per batch on the batch's first row.
_STAT_FIELDS = ("segments", "unique_segments", "cache_hits", "cache_misses", "suspicious", "oversized_sentences")


def configured_devices(plugin: Any) -> set[str]:
    """The ``device`` settings of a built plugin, defaults included; a router's are
    those of every translator it may hand a language to."""
    if hasattr(plugin, "route"):
        return {device for named in plugin.translators() for device in configured_devices(named.translator)}
    device = getattr(getattr(plugin, "params", None), "device", None)
    return {device} if isinstance(device, str) else set()


def gpus_per_actor(devices: set[str], cluster_gpus: float, actors: int, kind: str) -> float:
    """The GPU share each actor asks Ray for: the cluster's GPUs split over the actors, at most one each."""
    if "cuda" in devices and cluster_gpus <= 0:
        raise ConfigError("engine", [f"ray: the {kind} is set to device cuda, but the Ray cluster has no GPU; set device: auto or cpu"])
    if "cuda" in devices or ("auto" in devices and cluster_gpus > 0):
        return min(1.0, cluster_gpus / actors)
    return 0.0


class TranslateActor:
    """Holds one translate stage (translator, fallback, cache) for the life of the actor."""

    def __init__(self, spec_json: str, pivot: str) -> None:
        from pipeline.runner import build_translate_stage

        self.stage = build_translate_stage(TranslatorSpec.model_validate_json(spec_json), pivot)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, Any]:
        before = {name: getattr(self.stage.stats, name) for name in _STAT_FIELDS}
        failed_before = len(self.stage.stats.failed_batches)
        translations = self.stage.run(list(batch["id"]), list(batch["text"]), list(batch["lang"]))
        # JSON columns: Arrow would turn None into NaN and numpy bools into other types.
        stats = np.full(len(translations), "", dtype=object)
        stats[0] = json.dumps({
            **{name: getattr(self.stage.stats, name) - before[name] for name in _STAT_FIELDS},
            "failed_batches": self.stage.stats.failed_batches[failed_before:],
        })
        return {
            "position": batch["position"],
            "translation": np.array([json.dumps(asdict(t)) for t in translations], dtype=object),
            "stats": stats,
        }


class EncodeActor:
    """Holds one loaded encoder for the life of the actor."""

    def __init__(self, spec_json: str, mode: EncodeMode) -> None:
        from pipeline.runner import build_plugin
        from pipeline.stages import EncodeStage

        self.stage = EncodeStage(build_plugin("encoder", PluginSpec.model_validate_json(spec_json)))
        self.mode = mode

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, Any]:
        return {"position": batch["position"], "vector": self.stage.run(list(batch["text"]), self.mode)}


class RayEngine:
    """Runs the translate and encode stages of one config on Ray Data."""

    def __init__(self, settings: RaySpec, translator: TranslatorSpec | None, encoder: PluginSpec | None, pivot: str) -> None:
        from pipeline.runner import build_plugin  # building is cheap: no model loads

        try:
            import ray
        except ImportError as exc:
            raise ConfigError("engine", ["'ray' needs Ray Data: pip install 'pivotrec[ray]'"]) from exc
        self.settings = settings
        self.translator = translator
        self.encoder = encoder
        self.pivot = pivot
        self.stats = TranslateStats()
        if not ray.is_initialized():
            # No address starts a local Ray even where `ray start` has left a cluster
            # behind (Ray would join that); "auto" or "ray://host:port" joins a cluster.
            ray.init(address=self.settings.address or "local", include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
        # Decided up front, so a GPU asked of a cluster without one fails before any work.
        cluster_gpus = ray.cluster_resources().get("GPU", 0.0)
        self.translator_gpus = self.encoder_gpus = 0.0
        if translator is not None:
            devices = set().union(*(configured_devices(build_plugin("translator", spec)) for spec in (translator, translator.fallback) if spec))
            self.translator_gpus = gpus_per_actor(devices, cluster_gpus, settings.actors, "translator")
        if encoder is not None:
            self.encoder_gpus = gpus_per_actor(configured_devices(build_plugin("encoder", encoder)), cluster_gpus, settings.actors, "encoder")

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

    def translate(self, ids: Sequence[str], texts: Sequence[str], langs: Sequence[str]) -> list[Translation]:
        if not texts:
            return []
        if self.translator is None:  # the direct path: nothing to translate, no actors to start
            return TranslateStage(None, self.pivot).run(ids, texts, langs)
        rows = [{"position": n, "id": i, "text": t, "lang": lang} for n, (i, t, lang) in enumerate(zip(ids, texts, langs, strict=True))]
        results = self._map(rows, TranslateActor, {"spec_json": self.translator.model_dump_json(), "pivot": self.pivot}, self.translator_gpus)
        for row in results:
            if row["stats"]:
                stats = json.loads(row["stats"])
                for name in _STAT_FIELDS:
                    setattr(self.stats, name, getattr(self.stats, name) + stats[name])
                self.stats.failed_batches += [tuple(b) for b in stats["failed_batches"]]
        return [Translation(**json.loads(row["translation"])) for row in results]

    def encode(self, texts: Sequence[str], mode: EncodeMode) -> np.ndarray:
        assert self.encoder is not None
        rows = [{"position": n, "text": t} for n, t in enumerate(texts)]
        results = self._map(rows, EncodeActor, {"spec_json": self.encoder.model_dump_json(), "mode": mode}, self.encoder_gpus)
        return np.vstack([row["vector"] for row in results]).astype(np.float32, copy=False)


def _rows(batch: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    names = list(batch)
    return [dict(zip(names, values, strict=True)) for values in zip(*(batch[n] for n in names), strict=True)]


