"""Run several configs (arms) on one labelled dataset and measure quality and cost.

Each arm runs in a child process of its own, so its peak memory is its own
and a crash in one arm names that arm. Results are per query, so breakdowns
by language and paired significance tests need no re-run.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import resource
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pivotrec.pipeline.config import RunConfig, load_config
from pivotrec.pipeline.errors import PivotrecError
from pivotrec.pipeline.evaluation.datasets import Dataset, load_dataset
from pivotrec.pipeline.evaluation.metrics import evaluate, mean, parse_metric, top_lists
from pivotrec.pipeline.evaluation.significance import holm, paired_randomisation_p
from pivotrec.pipeline.records import Document, Translation
from pivotrec.pipeline.stats import TranslationStats

DEFAULT_METRICS = ("ndcg@10", "map@20", "recall@100", "mrr@10", "precision@10", "hit_rate@10")
#: How many of the top results count for the language-bias, exposure and catalogue-coverage measures.
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
    #: Per catalogue language, how its items reached the pivot (see ``language_coverage``).
    coverage: dict[str, dict[str, Any]] = field(default_factory=dict)

    def score(self, metric: str) -> float:
        return mean(self.per_query[metric])


def _peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def with_caches_in(config: RunConfig, folder: Path) -> RunConfig:
    """``config`` with its translation and embedding caches moved into ``folder`` (a cache turned off stays off)."""
    update: dict[str, Any] = {}
    if config.translator is not None and config.translator.cache is not None:
        update["translator"] = config.translator.model_copy(update={"cache": folder / "translations.sqlite"})
    if config.embedding_cache is not None:
        update["embedding_cache"] = folder / "embeddings.sqlite"
    return config.model_copy(update=update)


def language_coverage(documents: Iterable[Document]) -> dict[str, dict[str, Any]]:
    """Per language of ``documents``: how many texts each translator served (now or from the
    cache), and how many were glossed, copied, kept in the original, failed, already in the
    pivot or left to a config without translator, with the characters translated now and
    served from the translation cache (the cost of MT is in characters)."""
    groups: dict[tuple[str, str, bool], list[Translation]] = defaultdict(list)
    for doc in documents:
        groups[(doc.lang, doc.translation.translator, doc.translation.cached)].append(doc.translation)
    totals: dict[str, TranslationStats] = defaultdict(TranslationStats)
    served: dict[str, Counter[str]] = defaultdict(Counter)
    chars: dict[str, Counter[str]] = defaultdict(Counter)
    for (lang, translator, cached), translations in groups.items():
        stats = TranslationStats.of_texts(translations)
        totals[lang] += stats
        served[lang][translator] += stats.texts_translated + stats.texts_from_cache
        chars[lang]["from_cache" if cached else "now"] += stats.chars_translated
    return {
        lang: {
            "texts": t.texts, "translated_by": {name: n for name, n in sorted(served[lang].items()) if n},
            "translated_now": t.texts_translated, "from_cache": t.texts_from_cache, "glossed": t.texts_glossed, "copied": t.texts_copied,
            "kept_original": t.texts_kept_original, "failed": t.texts_failed, "in_pivot": t.texts_in_pivot, "no_translator": t.texts_not_translated,
            "chars_translated_now": chars[lang]["now"], "chars_from_cache": chars[lang]["from_cache"],
        }
        for lang, t in sorted(totals.items())
    }


def run_arm(
    config_path: str, dataset_dir: str, depth: int, quiet: bool, cache_dir: str | None = None, index: str | None = None, examples: int = 3
) -> dict[str, Any]:
    """Run one arm in this process; returns plain data (ranked ids, cost, summary).

    ``cache_dir``: an empty folder for this arm's translation and embedding caches, so that it
    starts cold whatever ran before it. ``index``: a persistent index folder to answer from
    (reused when its fingerprint matches, else rebuilt); by default the config's ``index``.
    """
    from pivotrec.pipeline import progress
    from pivotrec.pipeline.index.reuse import pipeline_for

    progress.set_enabled(not quiet)
    start = time.perf_counter()
    config = load_config(config_path)
    if cache_dir is not None:
        config = with_caches_in(config, Path(cache_dir))
    recommend = config.recommend.model_copy(update={"top_k": depth, "explain": False})
    fusion = config.fusion.model_copy(update={"depth": max(config.fusion.depth, depth)})
    config = config.model_copy(update={"recommend": recommend, "fusion": fusion, "output": None})
    dataset = load_dataset(dataset_dir)
    pipeline = pipeline_for(config, index, dataset=Path(dataset_dir))
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
            "texts_not_translated": counts.texts_not_translated,
            "cache_hit_rate": counts.cache_hit_rate,
            "vectors_encoded": summary.vectors_encoded,
            "vectors_from_cache": summary.vectors_from_cache,
            "fresh_caches": cache_dir is not None,
            "peak_rss_mb": _peak_rss_mb(),
        },
        "summary": summary.lines(),
        "examples": shown,
        "coverage": language_coverage(result.documents.values()),
    }


def _run_isolated(config_path: str, dataset_dir: str, depth: int, quiet: bool, cache_dir: str | None, index: str | None) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        return pool.apply(run_arm, (config_path, dataset_dir, depth, quiet, cache_dir, index))


def arm_names(configs: Sequence[Path]) -> list[str]:
    """What the report calls each arm: its config file's name without the suffix."""
    return [Path(c).stem for c in configs]


def compare(
    configs: Sequence[Path], dataset_dir: Path, metrics: Sequence[str] = DEFAULT_METRICS, quiet: bool = False, isolate: bool = True,
    fresh_caches: bool = False, index: str | None = None,
) -> tuple[Dataset, list[ArmResult]]:
    """Validate every config first (fail before any arm runs), then run each arm.

    ``fresh_caches``: every arm gets its own empty translation and embedding caches, so no arm
    reads what an earlier arm (or run) cached and arm order cannot change the cost.
    ``index``: for one arm (``eval --index``), the persistent index folder it answers from.
    """
    for metric in metrics:
        parse_metric(metric)
    for path in configs:
        load_config(path)
    dataset = load_dataset(dataset_dir)
    # Items graded -1 (translations of a user's history) are dropped before scoring, so the
    # lists must be long enough to hold them and still fill the deepest cut-off (and the
    # top lists of the exposure and bias measures).
    excluded = max((sum(g < 0 for g in grades.values()) for grades in dataset.qrels.values()), default=0)
    depth = max(BIAS_DEPTH, *(parse_metric(m)[1] for m in metrics)) + excluded
    arms = []
    for config, name in zip(configs, arm_names(configs)):
        fresh = tempfile.TemporaryDirectory(prefix="pivotrec-arm-caches-") if fresh_caches else contextlib.nullcontext()
        with fresh as caches:
            try:
                raw = (_run_isolated if isolate else run_arm)(str(config), str(dataset_dir), depth, quiet, caches, index)
            except PivotrecError:
                raise
            except Exception as exc:
                raise PivotrecError(f"arm {name!r} ({config}) failed: {type(exc).__name__}: {exc}") from exc
        per_query = evaluate(raw["run"], dataset.qrels, metrics, dataset.relevance_level)
        arms.append(ArmResult(name, str(config), raw["run"], per_query, raw["cost"], raw["summary"], raw["examples"], raw["coverage"]))
    return dataset, arms


# --- analysis: per-query values grouped, so that the report can give each mean its interval ---


def uses_translation(cost: Mapping[str, Any]) -> bool:
    """Whether an arm put text through a translator or a dictionary (copying does not count)."""
    return (cost.get("texts_translated", 0) + cost.get("texts_glossed", 0) + cost.get("texts_from_cache", 0)) > 0


def group_by_language(values: Mapping[str, float], langs: Mapping[str, str]) -> dict[str, list[float]]:
    """Per-query values -> language -> the values of that language's queries."""
    groups: dict[str, list[float]] = defaultdict(list)
    for query_id, value in values.items():
        groups[langs[query_id]].append(value)
    return dict(sorted(groups.items()))


def by_query_language(dataset: Dataset, arm: ArmResult, metric: str) -> dict[str, list[float]]:
    return group_by_language(arm.per_query[metric], dataset.query_langs())


def by_language_pair(dataset: Dataset, arm: ArmResult, metric: str) -> dict[str, dict[str, list[float]]]:
    """query language -> item language -> per-query metric, scoring each query against one item language only
    (a query counts in a cell only where it has a relevant item of that language)."""
    query_langs, item_langs = dataset.query_langs(), dataset.item_langs()
    out: dict[str, dict[str, list[float]]] = defaultdict(dict)
    for item_lang in sorted(set(item_langs.values())):
        run = {q: [i for i in ranked if item_langs[i] == item_lang] for q, ranked in arm.run.items()}
        qrels = {q: {i: g for i, g in grades.items() if item_langs[i] == item_lang} for q, grades in dataset.qrels.items()}
        scores = evaluate(run, qrels, [metric], dataset.relevance_level)[metric]
        for query_lang, values in group_by_language(scores, query_langs).items():
            out[query_lang][item_lang] = values
    return {q: dict(sorted(v.items())) for q, v in sorted(out.items())}


def own_language_share(dataset: Dataset, arm: ArmResult, depth: int = BIAS_DEPTH) -> dict[str, list[float]]:
    """Per query language, each query's share of its top ``depth`` in its own language."""
    query_langs, item_langs = dataset.query_langs(), dataset.item_langs()
    lists = top_lists(arm.run, dataset.qrels, depth)
    shares = {q: sum(item_langs[i] == query_langs[q] for i in top) / len(top) for q, top in lists.items()}
    return group_by_language(shares, query_langs)


#: Why a pair of arms is tested.
AGAINST_FIRST = "against the first arm"
TRANSLATION_VS_DIRECT = "best translating arm against best direct arm"
ASKED = "asked for (--pairs)"


def default_pairs(arms: Sequence[ArmResult], metric: str) -> list[tuple[int, int, str]]:
    """Each arm against the first, and the best arm that translates (by ``metric``) against the
    best that does not, where both kinds ran: (index a, index b, why), a's mean minus b's."""
    pairs = {(n, 0): AGAINST_FIRST for n in range(1, len(arms))}
    translating = [n for n, arm in enumerate(arms) if uses_translation(arm.cost)]
    direct = [n for n, arm in enumerate(arms) if not uses_translation(arm.cost)]
    if translating and direct:
        best_translating = max(translating, key=lambda n: arms[n].score(metric))
        best_direct = max(direct, key=lambda n: arms[n].score(metric))
        pair = next((p for p in pairs if set(p) == {best_translating, best_direct}), (best_translating, best_direct))
        pairs[pair] = f"{pairs[pair]}; {TRANSLATION_VS_DIRECT}" if pair in pairs else TRANSLATION_VS_DIRECT
    return [(a, b, why) for (a, b), why in pairs.items()]


def paired_tests(arms: Sequence[ArmResult], metrics: Sequence[str], pairs: Sequence[tuple[int, int, str]]) -> list[dict[str, Any]]:
    """A paired randomisation test per pair and metric; Holm's correction runs per metric over all pairs."""
    raw = {m: [paired_randomisation_p(arms[a].per_query[m], arms[b].per_query[m]) for a, b, _ in pairs] for m in metrics}
    adjusted = {m: holm(raw[m]) for m in metrics}
    return [
        {
            "a": arms[a].name, "b": arms[b].name, "why": why,
            "metrics": {
                m: {"difference": arms[a].score(m) - arms[b].score(m), "p": raw[m][n], "p_holm": adjusted[m][n]} for m in metrics
            },
        }
        for n, (a, b, why) in enumerate(pairs)
    ]
