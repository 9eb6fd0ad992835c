"""Ranking metrics with graded relevance, per query.

Definitions follow trec_eval (and so pytrec_eval, which the tests check
against): gains are the grades themselves (nDCG), a document is relevant
for the binary metrics when its grade is at least ``relevance_level``
(trec_eval's ``-l``, default 1), and MAP@k divides by all relevant documents
of the query, not by k.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence

Run = Mapping[str, Sequence[str]]
Qrels = Mapping[str, Mapping[str, int]]

METRICS = ("ndcg", "recall", "mrr", "map", "precision", "hit_rate")
_NAME = re.compile(r"^(ndcg|recall|mrr|map|precision|hit_rate)@(\d+)$")


def parse_metric(name: str) -> tuple[str, int]:
    """``"ndcg@10"`` -> ("ndcg", 10); raises ValueError listing the valid forms."""
    match = _NAME.match(name)
    if not match or int(match.group(2)) < 1:
        raise ValueError(f"unknown metric {name!r}: use NAME@K with NAME one of {', '.join(METRICS)} and K >= 1")
    return match.group(1), int(match.group(2))


def _dcg(gains: Sequence[float]) -> float:
    return sum(g / math.log2(rank + 2) for rank, g in enumerate(gains))


def score_query(metric: str, k: int, ranked: Sequence[str], grades: Mapping[str, int], relevance_level: int = 1) -> float:
    """One metric for one query: ``ranked`` best first, ``grades`` item -> grade (0 = not relevant)."""
    top = list(ranked[:k])
    relevant = {item for item, grade in grades.items() if grade >= relevance_level}
    hits = [item in relevant for item in top]
    if metric == "ndcg":
        ideal = _dcg(sorted((g for g in grades.values() if g > 0), reverse=True)[:k])
        return _dcg([max(grades.get(item, 0), 0) for item in top]) / ideal if ideal > 0 else 0.0
    if metric == "recall":
        return sum(hits) / len(relevant) if relevant else 0.0
    if metric == "precision":
        return sum(hits) / k
    if metric == "hit_rate":
        return 1.0 if any(hits) else 0.0
    if metric == "mrr":
        return next((1.0 / (rank + 1) for rank, hit in enumerate(hits) if hit), 0.0)
    if metric == "map":
        found, total = 0, 0.0
        for rank, hit in enumerate(hits):
            if hit:
                found += 1
                total += found / (rank + 1)
        return total / len(relevant) if relevant else 0.0
    raise ValueError(f"unknown metric {metric!r}")


def evaluate(run: Run, qrels: Qrels, metrics: Sequence[str], relevance_level: int = 1) -> dict[str, dict[str, float]]:
    """metric name -> query id -> value, over the queries that have at least one relevant item.

    Items graded below zero are judged "excluded" (e.g. a translation of a
    history item): they are removed from the ranking before scoring. A query
    with no ranking scores zero; nothing is skipped silently.
    """
    parsed = [(name, *parse_metric(name)) for name in metrics]
    out: dict[str, dict[str, float]] = {name: {} for name in metrics}
    for query_id, grades in qrels.items():
        if not any(g >= relevance_level for g in grades.values()):
            continue
        ranked = without_excluded(run.get(query_id, ()), grades)
        for name, metric, k in parsed:
            out[name][query_id] = score_query(metric, k, ranked, grades, relevance_level)
    return out


def without_excluded(ranked: Sequence[str], grades: Mapping[str, int]) -> list[str]:
    """``ranked`` less the items graded below zero for this query: what the metrics score."""
    return [item for item in ranked if grades.get(item, 0) >= 0]


def mean(values: Mapping[str, float]) -> float:
    return sum(values.values()) / len(values) if values else 0.0


# --- recommendation measures beyond accuracy: they need no relevance labels -----------------


def top_lists(run: Run, qrels: Qrels, k: int) -> dict[str, list[str]]:
    """Every query's top ``k`` as the metrics see it (excluded items dropped first); empty lists left out."""
    lists = {query_id: without_excluded(ranked, qrels.get(query_id, {}))[:k] for query_id, ranked in run.items()}
    return {query_id: top for query_id, top in lists.items() if top}


def catalogue_coverage(lists: Mapping[str, Sequence[str]], catalogue_size: int) -> tuple[int, float]:
    """How many catalogue items appear in at least one list, and their share of the catalogue."""
    shown = len({item for top in lists.values() for item in top})
    return shown, (shown / catalogue_size if catalogue_size else 0.0)


def exposure_by_language(lists: Mapping[str, Sequence[str]], item_langs: Mapping[str, str]) -> dict[str, list[float]]:
    """Item language -> per query, the share of that query's list in the language (0 where absent).

    The mean over queries is the language's share of all top-k slots when lists are full.
    """
    langs = sorted({item_langs[item] for top in lists.values() for item in top})
    shares: dict[str, list[float]] = {lang: [] for lang in langs}
    for top in lists.values():
        for lang in langs:
            shares[lang].append(sum(item_langs[item] == lang for item in top) / len(top))
    return shares


def language_mix(item_langs: Mapping[str, str]) -> dict[str, float]:
    """Each language's share of the catalogue: what an unbiased exposure would match."""
    counts = Counter(item_langs.values())
    return {lang: n / len(item_langs) for lang, n in sorted(counts.items())}
