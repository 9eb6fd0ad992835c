"""The report as one self-contained HTML page: real tables, heatmaps with a colour legend,
inline PNG plots, examples and run summaries. Every text from the data is escaped."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from pivotrec.pipeline.evaluation.plots import plots
from pivotrec.pipeline.evaluation.report_sections import Cell, Section, Table, one_line, sections, title

#: Latin first, then CJK faces (Simplified and Traditional Chinese, Japanese, Korean) where the
#: system has them, so that CJK text is drawn in a real font, not as boxes.
FONT_STACK = (
    '"Noto Sans", "Noto Sans CJK SC", "Noto Sans CJK TC", "Noto Sans CJK JP", "Noto Sans CJK KR", "Source Han Sans SC", '
    '"PingFang SC", "Hiragino Sans", "Microsoft YaHei", "Malgun Gothic", "DejaVu Sans", sans-serif'
)
STYLE = f"""
body{{font-family:{FONT_STACK};max-width:1400px;margin:2em auto;padding:0 1em;color:#222}}
.scroll{{overflow-x:auto;margin:0.5em 0 1em}}
table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ccc;padding:3px 7px;text-align:right;vertical-align:top}}
th{{background:#f2f2f2}}
td:first-child,th:first-child{{text-align:left}}
td small{{display:block;color:inherit;opacity:0.75;font-size:11px;white-space:nowrap}}
table.heatmap td{{text-align:center;min-width:56px;padding:3px 4px}}
table.heatmap td small{{font-size:10px}}
table.heatmap td:first-child{{text-align:left;font-weight:600}}
table.legend td{{min-width:48px;text-align:center;font-size:11px}}
figure{{display:inline-block;margin:1em;vertical-align:top}}
section.panel{{display:inline-block;vertical-align:top;margin-right:1.5em;max-width:100%}}
img{{max-width:100%}}
pre{{white-space:pre-wrap;background:#f6f6f6;padding:1em}}
"""
#: ColorBrewer "Blues": light is low, dark is high, readable in grey print too.
_SCALE = ["#f7fbff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#08519c", "#08306b"]
#: Above this shade the background is dark enough for white text.
_LIGHT_TEXT_FROM = 0.6


def _text(value: object) -> str:
    """Data as HTML text: escaped, control characters and line breaks made spaces."""
    return html.escape(one_line(value))


def shade_colour(shade: float) -> str:
    """The background colour of a heatmap cell for a value in [0, 1] (clipped), as #rrggbb."""
    position = min(max(shade, 0.0), 1.0) * (len(_SCALE) - 1)
    low = int(position)
    high = min(low + 1, len(_SCALE) - 1)
    mix = position - low
    rgb = [round(int(_SCALE[low][i : i + 2], 16) * (1 - mix) + int(_SCALE[high][i : i + 2], 16) * mix) for i in (1, 3, 5)]
    return "#" + "".join(f"{c:02x}" for c in rgb)


def _cell(cell: Cell, tag: str = "td") -> str:
    style = ""
    if cell.shade is not None:
        style = f' style="background:{shade_colour(cell.shade)};color:{"#fff" if cell.shade > _LIGHT_TEXT_FROM else "#000"}"'
    detail = f"<small>{_text(cell.detail)}</small>" if cell.detail else ""
    return f"<{tag}{style}>{_text(cell.value)}{detail}</{tag}>"


def _table(table: Table) -> str:
    head = "".join(f"<th>{_text(h)}</th>" for h in table.header)
    body = "".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in table.rows)
    kind = ' class="heatmap"' if table.heatmap else ""
    legend = _colour_legend() if table.heatmap else ""
    return f'<div class="scroll"><table{kind}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>{legend}'


def _colour_legend() -> str:
    steps = [n / 5 for n in range(6)]
    swatches = "".join(_cell(Cell(f"{s:.1f}", shade=s)) for s in steps)
    return f'<table class="legend" aria-label="colour legend"><tbody><tr><th>colour scale</th>{swatches}</tr></tbody></table>'


def _section(section: Section) -> str:
    """A section; subsections are panels that sit side by side where the page is wide enough."""
    tag = f"h{section.level}"
    blocks = "".join(_table(b) if isinstance(b, Table) else f"<p>{_text(b)}</p>" for b in section.blocks)
    body = f"<{tag}>{_text(section.title)}</{tag}>{blocks}"
    return f'<section class="panel">{body}</section>' if section.level > 2 else body


def _examples(systems: list[Mapping[str, Any]]) -> str:
    e = _text
    out = ""
    for s in systems:
        out += f"<h3>{e(s['name'])}</h3>"
        for ex in s["examples"]:
            hits = "".join(
                f"<li>[{e(h['lang'])}] {e(h['original'])}<br><small>pivot: {e(h['pivot'])} · relevance {e(h['relevant'])}"
                f"{' (translation of a history item: excluded before scoring)' if h['relevant'] == -1 else ''}</small></li>"
                for h in ex["hits"]
            )
            out += f"<p><b>{e(ex['query'])}</b> [{e(ex['lang'])}] {e(ex['text'])}</p><ol>{hits}</ol>"
    return out


def to_html(data: Mapping[str, Any]) -> str:
    """Self-contained page: every table a real table, plots inline, no script."""
    e = _text
    heading, intro = title(data)
    figures = "".join(f'<figure><img alt="{e(name)}" src="data:image/png;base64,{png}"><figcaption>{e(name)}</figcaption></figure>' for name, png in plots(data))
    summaries = "".join(
        f"<details><summary>{e(s['name'])}</summary><pre>{chr(10).join(map(e, s['summary']))}</pre></details>" for s in data["systems"]
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{e(heading)}</title>
<style>{STYLE}</style>
</head><body>
<h1>{e(heading)}</h1>
<p>{e(intro)}</p>
{''.join(_section(s) for s in sections(data))}
<h2>Plots</h2>{figures}
<h2>Examples</h2>{_examples(data["systems"])}
<h2>Run summaries</h2>{summaries}
</body></html>
"""
