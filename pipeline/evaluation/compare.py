"""Run several configs (arms) on one labelled dataset and measure quality and cost.

Each arm runs in a child process of its own, so its peak memory is its own
and a crash in one arm names that arm. Results are per query, so breakdowns
by language and paired significance tests need no re-run.
"""

from __future__ import annotations

import multiprocessing
import resource
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pivotrec.pipeline.config import load_config
from pivotrec.pipeline.errors import PivotrecError
from pivotrec.pipeline.evaluation.datasets import Dataset, load_dataset
from pivotrec.pipeline.evaluation.metrics import evaluate, mean, parse_metric

DEFAULT_METRICS = ("ndcg@10", "map@20", "recall@100", "mrr@10", "precision@10", "hit_rate@10")
#: How many of the top results count for the language-bias diagnostic.
BIAS_DEPTH = 10


@dataclass
class ArmResult:
    """One config's outcome on one dataset."""

    name: str
    config: str
    run: dict[str, list[str]]
    per_query: dict[str, dict[str, float]]
    cost: dict[str, Any]
    summary: list[str]
    #: A few queries with their top hits (original and pivot text), for the report.
    examples: list[dict[str, Any]] = field(default_factory=list)

    def score(self, metric: str) -> float:
        return mean(self.per_query[metric])


def _peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_arm(config_path: str, dataset_dir: str, depth: int, quiet: bool, examples: int = 3) -> dict[str, Any]:
    """Run one arm in this process; returns plain data (ranked ids, cost, summary)."""
    from pivotrec.pipeline import progress
    from pivotrec.pipeline.runner import Pipeline

    progress.set_enabled(not quiet)
    start = time.perf_counter()
    config = load_config(config_path)
    recommend = config.recommend.model_copy(update={"top_k": depth, "explain": False})
    fusion = config.fusion.model_copy(update={"depth": max(config.fusion.depth, depth)})
    config = config.model_copy(update={"recommend": recommend, "fusion": fusion, "output": None})
    dataset = load_dataset(dataset_dir)
    pipeline = Pipeline(config)
    result = pipeline.run(dataset.items, dataset.queries)
    run: dict[str, list[str]] = defaultdict(list)
    for rec in result.recommendations:
        run[rec.user_id].append(rec.item_id)
    shown = []
    for query in dataset.queries[:: max(len(dataset.queries) // examples, 1)][:examples]:
        hits = [r for r in result.recommendations if r.user_id == query.id][:3]
        shown.append({
            "query": query.id, "text": query.text or "", "lang": query.lang,
            "hits": [{"item": r.item_id, "lang": r.lang, "original": r.original, "pivot": r.pivot, "relevant": dataset.qrels.get(query.id, {}).get(r.item_id, 0)} for r in hits],
        })
    summary = result.summary
    counts = summary.translation
    return {
        "run": dict(run),
        "cost": {
            "seconds_total": time.perf_counter() - start,
            "seconds_by_stage": dict(summary.seconds),
            "texts_translated": counts.texts_translated,
            "texts_from_cache": counts.texts_from_cache,
            "texts_copied": counts.texts_copied,
            "texts_glossed": counts.texts_glossed,
            "chars_translated": counts.chars_translated,
            "segments_translated": counts.segments,
            "segments_from_cache": counts.cache_hits,
            "texts_kept_original": counts.texts_kept_original,
            "cache_hit_rate": counts.cache_hit_rate,
            "vectors_encoded": summary.vectors_encoded,
            "vectors_from_cache": summary.vectors_from_cache,
            "peak_rss_mb": _peak_rss_mb(),
        },
        "summary": summary.lines(),
        "examples": shown,
    }


def _run_isolated(config_path: str, dataset_dir: str, depth: int, quiet: bool) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        return pool.apply(run_arm, (config_path, dataset_dir, depth, quiet))


def compare(configs: Sequence[Path], dataset_dir: Path, metrics: Sequence[str] = DEFAULT_METRICS, quiet: bool = False, isolate: bool = True) -> tuple[Dataset, list[ArmResult]]:
    """Validate every config first (fail before any arm runs), then run each arm."""
    for metric in metrics:
        parse_metric(metric)
    for path in configs:
        load_config(path)
    dataset = load_dataset(dataset_dir)
    # Items graded -1 (translations of a user's history) are dropped before scoring, so the
    # lists must be long enough to hold them and still fill the deepest cut-off.
    excluded = max((sum(g < 0 for g in grades.values()) for grades in dataset.qrels.values()), default=0)
    depth = max(parse_metric(m)[1] for m in metrics) + excluded
    arms = []
    names = [Path(c).stem for c in configs]
    for config, name in zip(configs, names):
        try:
            raw = (_run_isolated if isolate else run_arm)(str(config), str(dataset_dir), depth, quiet)
        except PivotrecError:
            raise
        except Exception as exc:
            raise PivotrecError(f"arm {name!r} ({config}) failed: {type(exc).__name__}: {exc}") from exc
        per_query = evaluate(raw["run"], dataset.qrels, metrics, dataset.relevance_level)
        arms.append(ArmResult(name, str(config), raw["run"], per_query, raw["cost"], raw["summary"], raw["examples"]))
    return dataset, arms


# --- analysis ------------------------------------------------------------------


def by_query_language(dataset: Dataset, arm: ArmResult, metric: str) -> dict[str, float]:
    langs = dataset.query_langs()
    groups: dict[str, list[float]] = defaultdict(list)
    for query_id, value in arm.per_query[metric].items():
        groups[langs[query_id]].append(value)
    return {lang: float(np.mean(values)) for lang, values in sorted(groups.items())}


def by_language_pair(dataset: Dataset, arm: ArmResult, metric: str) -> dict[str, dict[str, float]]:
    """query language -> item language -> metric, scoring each query against one item language only."""
    query_langs, item_langs = dataset.query_langs(), dataset.item_langs()
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for item_lang in sorted(set(item_langs.values())):
        run = {q: [i for i in ranked if item_langs[i] == item_lang] for q, ranked in arm.run.items()}
        qrels = {q: {i: g for i, g in grades.items() if item_langs[i] == item_lang} for q, grades in dataset.qrels.items()}
        scores = evaluate(run, qrels, [metric], dataset.relevance_level)[metric]
        groups: dict[str, list[float]] = defaultdict(list)
        for query_id, value in scores.items():
            groups[query_langs[query_id]].append(value)
        for query_lang, values in groups.items():
            out[query_lang][item_lang] = float(np.mean(values))
    return {q: dict(sorted(v.items())) for q, v in sorted(out.items())}


def own_language_share(dataset: Dataset, arm: ArmResult, depth: int = BIAS_DEPTH) -> dict[str, float]:
    """Per query language, the share of the top ``depth`` results in the query's own language."""
    query_langs, item_langs = dataset.query_langs(), dataset.item_langs()
    groups: dict[str, list[float]] = defaultdict(list)
    for query_id, ranked in arm.run.items():
        top = ranked[:depth]
        if top:
            groups[query_langs[query_id]].append(sum(item_langs[i] == query_langs[query_id] for i in top) / len(top))
    return {lang: float(np.mean(v)) for lang, v in sorted(groups.items())}


def paired_randomisation_p(a: dict[str, float], b: dict[str, float], rounds: int = 10_000, seed: int = 0) -> float:
    """Two-sided p-value that systems a and b have the same mean, by sign flipping per-query differences."""
    shared = sorted(set(a) & set(b))
    if not shared:
        return float("nan")
    diffs = np.array([a[q] - b[q] for q in shared])
    observed = abs(diffs.mean())
    if observed == 0:
        return 1.0
    rng = np.random.default_rng(seed)
    extreme = 0
    chunk = max(1, 2_000_000 // len(diffs))
    for start in range(0, rounds, chunk):
        signs = rng.choice((-1.0, 1.0), size=(min(chunk, rounds - start), len(diffs)))
        extreme += int((np.abs((signs * diffs).mean(axis=1)) >= observed - 1e-12).sum())
    return (extreme + 1) / (rounds + 1)
