"""A comparison as data (``build``, also the JSON output), written as Markdown, HTML and JSON."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pivotrec.pipeline.evaluation.compare import (
    ASKED, BIAS_DEPTH, ArmResult, by_language_pair, by_query_language, default_pairs, own_language_share, paired_tests, uses_translation,
)
from pivotrec.pipeline.evaluation.datasets import Dataset
from pivotrec.pipeline.evaluation.metrics import catalogue_coverage, exposure_by_language, language_mix, top_lists
from pivotrec.pipeline.evaluation.report_html import to_html
from pivotrec.pipeline.evaluation.report_sections import Table, one_line, sections, title
from pivotrec.pipeline.evaluation.significance import BOOTSTRAP_ROUNDS, CONFIDENCE, PERMUTATION_ROUNDS, SEED, bootstrap


def _estimates(groups: Mapping[str, Sequence[float]]) -> dict[str, dict[str, float | int | None]]:
    return {key: bootstrap(values).as_dict() for key, values in groups.items()}


def build(dataset: Dataset, arms: Sequence[ArmResult], metrics: Sequence[str], pairs: Sequence[tuple[int, int]] | None = None) -> dict[str, Any]:
    """Everything the report shows, as plain data (this is also the JSON output).

    ``pairs``: (a, b) arm indexes to test; default: each arm against the first, and the best
    translating arm against the best direct one (``compare.default_pairs``).
    """
    primary = metrics[0]
    item_langs = dataset.item_langs()
    systems = []
    for arm in arms:
        lists = top_lists(arm.run, dataset.qrels, BIAS_DEPTH)
        shown, share = catalogue_coverage(lists, len(dataset.items))
        by_language = {m: _estimates(by_query_language(dataset, arm, m)) for m in metrics}
        systems.append({
            "name": arm.name,
            "config": arm.config,
            "uses_translation": uses_translation(arm.cost),
            # Plain means, as scripts read them; the *_ci keys add the interval and n.
            "metrics": {m: arm.score(m) for m in metrics},
            "metrics_ci": {m: bootstrap(list(arm.per_query[m].values())).as_dict() for m in metrics},
            "by_query_language": {m: {lang: e["mean"] for lang, e in by_language[m].items()} for m in metrics},
            "by_query_language_ci": by_language,
            "by_language_pair": {primary: {q: _estimates(row) for q, row in by_language_pair(dataset, arm, primary).items()}},
            "own_language_share": _estimates(own_language_share(dataset, arm)),
            "exposure": _estimates(exposure_by_language(lists, item_langs)),
            "catalogue_coverage": {"items": shown, "share": share},
            "cost": arm.cost,
            "coverage": arm.coverage,
            "summary": arm.summary,
            "examples": arm.examples,
        })
    tested = default_pairs(arms, primary) if pairs is None else [(a, b, ASKED) for a, b in pairs]
    return {
        "dataset": {
            "name": dataset.name, "items": len(dataset.items), "queries": len(dataset.queries),
            "judged_queries": len(next(iter(arms[0].per_query.values()), {})), "item_languages": language_mix(item_langs),
        },
        "metrics": list(metrics),
        "primary_metric": primary,
        "depth": BIAS_DEPTH,
        "bootstrap": {"rounds": BOOTSTRAP_ROUNDS, "confidence": CONFIDENCE, "seed": SEED},
        "paired_test": {"rounds": PERMUTATION_ROUNDS, "seed": SEED, "correction": "holm"},
        "systems": systems,
        "comparisons": paired_tests(arms, metrics, tested),
    }


# --- Markdown -----------------------------------------------------------------------------------

#: Characters that make Markdown or HTML of plain text: emphasis, code, links, tables,
#: strikethrough, raw HTML and entities. CommonMark takes any of them backslash-escaped as itself.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>&|~#])")


def _md(value: object) -> str:
    """``value`` as literal Markdown text on one line: no markup, links, HTML or table breaks."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", one_line(value))


def _code_lines(text: str) -> list[str]:
    """``text`` as lines of an indented code block, where Markdown and HTML are shown, not read."""
    return [f"    {one_line(line)}" for line in text.splitlines()]


def _md_table(table: Table) -> list[str]:
    """A pipe table; a cell's detail (interval, n, p) follows its value."""
    rows = [[f"{c.value} {c.detail}".strip() for c in row] for row in table.rows]
    return [f"| {' | '.join(map(_md, cells))} |" for cells in (table.header, ["---"] * len(table.header), *rows)]


def to_markdown(data: Mapping[str, Any]) -> str:
    """The report as Markdown; every text from the data (names, languages, metrics, run
    summaries) arrives as literal text, never as markup or HTML."""
    heading, intro = title(data)
    lines = [f"# {_md(heading)}", "", _md(intro), ""]
    for section in sections(data):
        lines += [f"{'#' * section.level} {_md(section.title)}", ""]
        for block in section.blocks:
            lines += [*(_md_table(block) if isinstance(block, Table) else [_md(block)]), ""]
    lines += ["## Run summaries", ""]
    for s in data["systems"]:
        lines += [f"### {_md(s['name'])}", "", *[code for line in s["summary"] for code in _code_lines(line)], ""]
    return "\n".join(lines)


def write_report(out_dir: Path, data: dict[str, Any]) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": out_dir / "report.md", "html": out_dir / "report.html", "json": out_dir / "report.json"}
    paths["markdown"].write_text(to_markdown(data), encoding="utf-8")
    paths["html"].write_text(to_html(data), encoding="utf-8")
    paths["json"].write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    return paths
