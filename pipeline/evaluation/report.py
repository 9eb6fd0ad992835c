"""Write a comparison as Markdown, self-contained HTML (plots inline) and JSON."""

from __future__ import annotations

import base64
import html
import io
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pivotrec.pipeline.evaluation.compare import ArmResult, by_language_pair, by_query_language, own_language_share, paired_randomisation_p
from pivotrec.pipeline.evaluation.datasets import Dataset
from pivotrec.pipeline.evaluation.metrics import mean


def build(dataset: Dataset, arms: Sequence[ArmResult], metrics: Sequence[str]) -> dict[str, Any]:
    """Everything the report shows, as plain data (this is also the JSON output)."""
    primary = metrics[0]
    baseline = arms[0]
    systems = []
    for arm in arms:
        systems.append({
            "name": arm.name,
            "config": arm.config,
            "metrics": {m: mean(arm.per_query[m]) for m in metrics},
            "p_value_vs_first": {m: (None if arm is baseline else paired_randomisation_p(arm.per_query[m], baseline.per_query[m])) for m in metrics},
            "by_query_language": {m: by_query_language(dataset, arm, m) for m in metrics},
            "by_language_pair": {primary: by_language_pair(dataset, arm, primary)},
            "own_language_share_top10": own_language_share(dataset, arm),
            "cost": arm.cost,
            "summary": arm.summary,
            "examples": arm.examples,
        })
    return {
        "dataset": {"name": dataset.name, "items": len(dataset.items), "queries": len(dataset.queries), "judged_queries": len(next(iter(arms[0].per_query.values()), {}))},
        "metrics": list(metrics),
        "primary_metric": primary,
        "systems": systems,
    }


#: Characters that make Markdown or HTML of plain text: emphasis, code, links, tables,
#: strikethrough, raw HTML and entities. CommonMark takes any of them backslash-escaped as itself.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>&|~#])")
#: Control characters and line or paragraph separators: they would end a table row or
#: reach a terminal that prints the report.
_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _md(value: object) -> str:
    """``value`` as literal Markdown text on one line: no markup, links, HTML or table breaks."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", _BREAKS.sub(" ", str(value)))


def _code_lines(text: str) -> list[str]:
    """``text`` as lines of an indented code block, where Markdown and HTML are shown, not read."""
    return [f"    {_BREAKS.sub(' ', line)}" for line in text.splitlines()]


def _fmt(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _stars(p: float | None) -> str:
    if p is None:
        return ""
    return " **" if p < 0.01 else (" *" if p < 0.05 else "")


def to_markdown(data: dict[str, Any]) -> str:
    """The report as Markdown; every text from the data (names, languages, metrics, run
    summaries) arrives as literal text, never as markup or HTML."""
    metrics, systems, primary = data["metrics"], data["systems"], data["primary_metric"]
    d = data["dataset"]
    names = [_md(s["name"]) for s in systems]
    lines = [f"# pivotrec compare — {_md(d['name'])}", "", f"{d['items']} items, {d['queries']} queries ({d['judged_queries']} with relevant items).", ""]
    lines += ["## Quality", "", f"`*` p < 0.05, `**` p < 0.01: paired randomisation test against the first system ({names[0]}).", ""]
    lines.append("| system | " + " | ".join(map(_md, metrics)) + " |")
    lines.append("|---|" + "---|" * len(metrics))
    for name, s in zip(names, systems, strict=True):
        cells = [f"{_fmt(s['metrics'][m])}{_stars(s['p_value_vs_first'][m])}" for m in metrics]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    langs = sorted({lang for s in systems for lang in s["by_query_language"][primary]})
    lang_header = ["| system | " + " | ".join(map(_md, langs)) + " |", "|---|" + "---|" * len(langs)]
    lines += ["", f"## {_md(primary)} by query language", "", *lang_header]
    for name, s in zip(names, systems, strict=True):
        lines.append(f"| {name} | " + " | ".join(_fmt(s["by_query_language"][primary].get(lang), 3) for lang in langs) + " |")
    lines += ["", f"## Language bias: share of the top {10} in the query's own language", "", *lang_header]
    for name, s in zip(names, systems, strict=True):
        lines.append(f"| {name} | " + " | ".join(_fmt(s["own_language_share_top10"].get(lang), 2) for lang in langs) + " |")
    lines += ["", "## Cost", "", "| system | total s | stages (s) | texts translated | texts from cache | chars translated | segments (distinct) | segments from cache | kept original | cache hit rate | peak RSS MB |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, s in zip(names, systems, strict=True):
        c = s["cost"]
        stages = ", ".join(f"{_md(k)} {v:.1f}" for k, v in c["seconds_by_stage"].items())
        lines.append(f"| {name} | {c['seconds_total']:.1f} | {stages} | {c['texts_translated']} | {c['texts_from_cache']} | {c['chars_translated']} | {c['segments_translated']} | {c['segments_from_cache']} | {c['texts_kept_original']} | {_fmt(c['cache_hit_rate'], 2)} | {c['peak_rss_mb']:.0f} |")
    for name, s in zip(names, systems, strict=True):
        pairs = s["by_language_pair"][primary]
        item_langs = sorted({lang for row in pairs.values() for lang in row})
        lines += ["", f"## {name}: {_md(primary)} by (query language → item language)", "", "| query \\ item | " + " | ".join(map(_md, item_langs)) + " |", "|---|" + "---|" * len(item_langs)]
        for query_lang, row in pairs.items():
            lines.append(f"| {_md(query_lang)} | " + " | ".join(_fmt(row.get(lang), 3) for lang in item_langs) + " |")
        lines += ["", "Run summary:", "", *[code for line in s["summary"] for code in _code_lines(line)]]
    return "\n".join(lines) + "\n"


def _plot_png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _plots(data: dict[str, Any]) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    systems, primary = data["systems"], data["primary_metric"]
    plots = []
    for metric in data["metrics"]:
        langs = sorted({lang for s in systems for lang in s["by_query_language"][metric]})
        figure, axes = plt.subplots(figsize=(max(6, len(langs) * 0.8), 3.6))
        width = 0.8 / len(systems)
        for n, s in enumerate(systems):
            values = [s["by_query_language"][metric].get(lang, 0.0) for lang in langs]
            axes.bar([x + n * width for x in range(len(langs))], values, width, label=s["name"])
        axes.set_xticks([x + width * (len(systems) - 1) / 2 for x in range(len(langs))], langs)
        axes.set_ylabel(metric)
        axes.set_title(f"{metric} by query language")
        # Beside the bars, not over them: many arms make a tall legend.
        axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
        plots.append((f"{metric} by query language", _plot_png(figure)))
        plt.close(figure)
    figure, axes = plt.subplots(figsize=(6, 4))
    for s in systems:
        axes.scatter(s["cost"]["seconds_total"], s["metrics"][primary])
        axes.annotate(s["name"], (s["cost"]["seconds_total"], s["metrics"][primary]), fontsize=8)
    axes.set_xlabel("wall time (s)")
    axes.set_ylabel(primary)
    axes.set_title("quality against cost")
    plots.append(("quality against cost", _plot_png(figure)))
    plt.close(figure)
    return plots


def to_html(data: dict[str, Any], markdown: str) -> str:
    """Self-contained page: tables, inline PNG plots, examples. Every text from the data is escaped."""
    e = html.escape
    systems, metrics = data["systems"], data["metrics"]
    rows = "".join(
        f"<tr><td>{e(s['name'])}</td>" + "".join(f"<td>{_fmt(s['metrics'][m])}{e(_stars(s['p_value_vs_first'][m]))}</td>" for m in metrics) + "</tr>"
        for s in systems
    )
    plots = "".join(f'<figure><img alt="{e(title)}" src="data:image/png;base64,{png}"><figcaption>{e(title)}</figcaption></figure>' for title, png in _plots(data))
    examples = ""
    for s in systems:
        examples += f"<h3>{e(s['name'])}</h3>"
        for ex in s["examples"]:
            hits = "".join(
                f"<li>[{e(str(h['lang']))}] {e(h['original'])}<br><small>pivot: {e(h['pivot'])} · relevance {e(str(h['relevant']))}</small></li>" for h in ex["hits"]
            )
            examples += f"<p><b>{e(str(ex['query']))}</b> [{e(str(ex['lang']))}] {e(ex['text'])}</p><ol>{hits}</ol>"
    d = data["dataset"]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>pivotrec compare — {e(d['name'])}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}td:first-child{{text-align:left}}figure{{display:inline-block;margin:1em}}img{{max-width:100%}}pre{{white-space:pre-wrap;background:#f6f6f6;padding:1em}}</style>
</head><body>
<h1>pivotrec compare — {e(d['name'])}</h1>
<p>{d['items']} items, {d['queries']} queries. * p&lt;0.05, ** p&lt;0.01 against {e(systems[0]['name'])} (paired randomisation).</p>
<table><tr><th>system</th>{''.join(f'<th>{e(m)}</th>' for m in metrics)}</tr>{rows}</table>
<h2>Plots</h2>{plots}
<h2>Examples</h2>{examples}
<h2>Full tables</h2><pre>{e(markdown)}</pre>
</body></html>
"""


def write_report(out_dir: Path, data: dict[str, Any]) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    markdown = to_markdown(data)
    paths = {"markdown": out_dir / "report.md", "html": out_dir / "report.html", "json": out_dir / "report.json"}
    paths["markdown"].write_text(markdown, encoding="utf-8")
    paths["html"].write_text(to_html(data, markdown), encoding="utf-8")
    paths["json"].write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    return paths
