"""What a comparison report says, as titled sections of text and tables, independent of format.

Sections are made once here; Markdown (``report``) and HTML (``report_html``) only render
them, so both files always say the same. Texts are plain: each renderer escapes them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: Shown where a cell has no value.
MISSING = "—"
#: Control characters and line or paragraph separators: they would end a table row or
#: reach a terminal that prints the report.
_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(value: object) -> str:
    """``value`` as text on one line, every control character a space: safe in any cell or heading."""
    return _BREAKS.sub(" ", str(value))


@dataclass
class Cell:
    """One table cell: a value, an optional detail line (interval, n, p), and a heatmap shade in [0, 1]."""

    value: str
    detail: str = ""
    shade: float | None = None


@dataclass
class Table:
    header: list[str]
    rows: list[list[Cell]]
    #: Cells carry shades: the HTML colours them and adds the colour legend.
    heatmap: bool = False


@dataclass
class Section:
    title: str
    #: Paragraphs (plain text, escaped by the renderer) and tables, in order.
    blocks: list[str | Table] = field(default_factory=list)
    level: int = 2


def _number(value: float | None, digits: int) -> str:
    return MISSING if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _estimate(e: Mapping[str, Any] | None, digits: int = 3, shade: bool = False) -> Cell:
    if not e or not e["n"]:
        return Cell(MISSING)
    return Cell(_number(e["mean"], digits), f"[{_number(e['low'], digits)}, {_number(e['high'], digits)}] n={e['n']}", e["mean"] if shade else None)


def _stars(p: float | None) -> str:
    if p is None or math.isnan(p):
        return ""
    return "**" if p < 0.01 else ("*" if p < 0.05 else "")


def _language_table(columns: Mapping[str, Mapping[str, Any]], first: str = "language") -> Table:
    """Rows are languages, columns are systems; cells are estimates (language -> estimate per column)."""
    return Table([first, *columns], [[Cell(lang), *(_estimate(col.get(lang)) for col in columns.values())] for lang in _keys(columns.values())])


def _legend(data: Mapping[str, Any]) -> Section:
    b = data["bootstrap"]
    return Section("How to read this report", [
        f"value [low, high] n=N: the mean over N queries and its {b['confidence']:.0%} bootstrap confidence interval "
        f"({b['rounds']} resamples of the queries, seed {b['seed']}: the same data gives the same report).",
        f"{MISSING}: no value (no query of that language has a relevant item there, or nothing was measured).",
        f"* Holm-adjusted p < 0.05, ** Holm-adjusted p < 0.01 (paired randomisation test, {data['paired_test']['rounds']:,} sign flips).",
        "relevance -1 (examples): the item is a translation of an item in the user's history; it is excluded before scoring.",
        "pivot (examples): the text the pivot-language rankers read: machine translation, a dictionary gloss, or the original where nothing translated it.",
        "Colours (HTML heatmaps): light = low, dark = high on a fixed 0 to 1 scale, the same for every system.",
    ])


def _quality(data: Mapping[str, Any]) -> list[Section]:
    systems, metrics, primary = data["systems"], data["metrics"], data["primary_metric"]
    headline = Table(["system", *metrics], [[Cell(s["name"]), *(_estimate(s["metrics_ci"][m], 4) for m in metrics)] for s in systems])
    rows = [
        [Cell(f"{c['a']} vs {c['b']}", c["why"]), *(
            Cell(f"{r['difference']:+.4f}{_stars(r['p_holm'])}", f"p={_number(r['p'], 4)}, Holm p={_number(r['p_holm'], 4)}")
            for r in (c["metrics"][m] for m in metrics)
        )]
        for c in data["comparisons"]
    ]
    tests = Section("Paired tests", [
        "Difference of means (first arm minus second) with the raw and Holm-adjusted p-values; Holm's correction "
        "runs per metric over every pair listed. Choose pairs with --pairs 1:3,2:3 (arm numbers or names).",
        Table(["pair (why)", *metrics], rows) if rows else "One arm only: nothing to test.",
    ])
    by_language = [
        Section(f"{metric} by query language", [_language_table({s["name"]: s["by_query_language_ci"][metric] for s in systems})], 3)
        for metric in metrics
    ]
    pairs = [Section(f"{primary} by query language × item language", [
        "Each query scored against the items of one language only (a query counts in a cell where it has a relevant item of that language). "
        "Rows: query language; columns: item language.",
    ])]
    for s in systems:
        matrix = s["by_language_pair"][primary]
        item_langs = _keys(matrix.values())
        rows = [[Cell(q), *(_estimate(row.get(i), 2, shade=True) for i in item_langs)] for q, row in matrix.items()]
        pairs.append(Section(s["name"], [Table(["query \\ item", *item_langs], rows, heatmap=True)], 3))
    return [Section("Quality", [headline]), tests, Section("By query language", []), *by_language, *pairs]


def _keys(maps: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every key of ``maps``, sorted: the rows or columns of a table over several systems."""
    return sorted({key for m in maps for key in m})


def _exposure(data: Mapping[str, Any]) -> Section:
    systems, mix, depth = data["systems"], data["dataset"]["item_languages"], data["depth"]
    coverage = Table(["system", "items shown", "share of catalogue"], [
        [Cell(s["name"]), Cell(str(s["catalogue_coverage"]["items"])), Cell(f"{s['catalogue_coverage']['share']:.1%}")] for s in systems
    ])
    langs = _keys([mix, *(s["exposure"] for s in systems)])
    exposure = Table(["item language", "catalogue share", *(s["name"] for s in systems)], [
        [Cell(lang), Cell(f"{mix[lang]:.3f}" if lang in mix else MISSING), *(_estimate(s["exposure"].get(lang)) for s in systems)] for lang in langs
    ])
    own = _language_table({s["name"]: s["own_language_share"] for s in systems}, "query language")
    return Section(f"Beyond accuracy (top {depth})", [
        f"Every list is cut at {depth} after dropping excluded items (relevance -1), as the metrics see it.",
        "Catalogue coverage: the share of catalogue items that appear in at least one list.", coverage,
        "Exposure: each item language's share of the top slots, per query, against its share of the catalogue "
        "(above the catalogue share: the system favours that language).", exposure,
        "Language bias: the share of each query's top results in the query's own language.", own,
    ])


def _translation_coverage(data: Mapping[str, Any]) -> list[Section]:
    intro = Section("Translation coverage per catalogue language", [
        "How each catalogue language reached the pivot, in items: translated (by which translator; now or from the "
        "translation cache), dictionary glosses (among the translated), copied unchanged (identity), kept in the original "
        "(no route), failed, already in the pivot, or read in the original because the arm has no translator. "
        "Characters are the cost driver of machine translation.",
    ])
    header = ["language", "items", "translated by", "now", "from cache", "glossed", "copied", "kept original", "failed", "in pivot", "no translator", "chars now", "chars from cache"]
    counts = ("translated_now", "from_cache", "glossed", "copied", "kept_original", "failed", "in_pivot", "no_translator", "chars_translated_now", "chars_from_cache")
    per_system = [
        Section(s["name"], [Table(header, [
            [Cell(lang), Cell(str(c["texts"])), Cell(", ".join(f"{t} {n}" for t, n in sorted(c["translated_by"].items())) or MISSING),
             *(Cell(str(c[key])) for key in counts)]
            for lang, c in s["coverage"].items()
        ])], 3)
        for s in data["systems"]
    ]
    return [intro, *per_system]


def _percent(share: float | None) -> str:
    return MISSING if share is None else f"{share:.0%}"


def _cost(data: Mapping[str, Any]) -> Section:
    systems = data["systems"]
    fresh = all(s["cost"].get("fresh_caches") for s in systems)
    work = Table(
        ["system", "texts translated now", "texts from cache", "segments (distinct)", "segments from cache", "translation cache hit rate",
         "vectors encoded now", "vectors from cache", "embedding cache hit rate"],
        [[Cell(s["name"]), *(Cell(str(v)) for v in (
            c["texts_translated"], c["texts_from_cache"], c["segments_translated"], c["segments_from_cache"], _percent(c["cache_hit_rate"]),
            c["vectors_encoded"], c["vectors_from_cache"],
            _percent(c["vectors_from_cache"] / (c["vectors_from_cache"] + c["vectors_encoded"]) if c["vectors_from_cache"] + c["vectors_encoded"] else None),
        ))] for s, c in ((s, s["cost"]) for s in systems)],
    )
    # Stages in the order they ran, not alphabetical: the arm that ran the most stages first.
    timings = sorted((s["cost"]["seconds_by_stage"] for s in systems), key=len, reverse=True)
    stages = list(dict.fromkeys(stage for timing in timings for stage in timing))
    time = Table(["system", "total s", *(f"{stage} s" for stage in stages), "peak RSS MB"], [
        [Cell(s["name"]), Cell(f"{s['cost']['seconds_total']:.1f}"), *(Cell(_number(s["cost"]["seconds_by_stage"].get(st), 1)) for st in stages),
         Cell(f"{s['cost']['peak_rss_mb']:.0f}")]
        for s in systems
    ])
    caches = ("Every arm started with empty translation and embedding caches (--fresh-caches): the work below is all cold."
              if fresh else "Arms share the translation and embedding caches of earlier arms and runs: an arm may look cheap "
              "because another cached its work. Run with --fresh-caches to start every arm cold.")
    return Section("Cost", [
        caches, f"Work done now (cold) and served from the caches; hit rate {MISSING}: no cache was used.", work,
        "Time (seconds) and memory:", time,
    ])


def sections(data: Mapping[str, Any]) -> list[Section]:
    return [_legend(data), *_quality(data), _exposure(data), *_translation_coverage(data), _cost(data)]


def title(data: Mapping[str, Any]) -> tuple[str, str]:
    d = data["dataset"]
    return f"pivotrec compare — {d['name']}", f"{d['items']} items, {d['queries']} queries ({d['judged_queries']} with relevant items)."
