"""The report's plots as inline PNGs: readable at 19 languages and 9 arms.

Per-language results are small multiples (one panel per arm, languages as horizontal bars in
the same order in every panel, with their confidence intervals), not grouped bars.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

#: Fonts tried in turn for each character, so that CJK names do not come out as boxes.
FONTS = ["DejaVu Sans", "Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans CJK KR"]
#: Panels per row of small multiples.
COLUMNS = 3


def _png(plt: Any, figure: Any) -> str:
    """The figure as base64 PNG; the figure is closed."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _errors(estimates: Sequence[Mapping[str, Any] | None]) -> list[list[float]]:
    """Matplotlib's asymmetric error bars (below, above) from intervals; 0 where there is none."""
    below = [e["mean"] - e["low"] if e and e["n"] else 0.0 for e in estimates]
    above = [e["high"] - e["mean"] if e and e["n"] else 0.0 for e in estimates]
    return [below, above]


def _by_language(plt: Any, metric: str, systems: Sequence[Mapping[str, Any]]) -> Any:
    cells = [s["by_query_language_ci"][metric] for s in systems]
    langs = sorted({lang for c in cells for lang in c})

    def mean_over_systems(lang: str) -> float:
        values = [c[lang]["mean"] for c in cells if lang in c and c[lang]["n"]]
        return sum(values) / len(values) if values else -math.inf

    # The same order in every panel, best language on top, so that panels compare at a glance.
    langs.sort(key=mean_over_systems)
    columns = min(COLUMNS, len(systems))
    rows = math.ceil(len(systems) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(3.4 * columns, 0.9 + rows * (0.6 + 0.22 * len(langs))), sharex=True, sharey=True, squeeze=False, layout="constrained")
    for panel, (s, cell) in zip(axes.flat, zip(systems, cells)):
        estimates = [cell.get(lang) for lang in langs]
        values = [e["mean"] if e and e["n"] else 0.0 for e in estimates]
        panel.barh(range(len(langs)), values, xerr=_errors(estimates), color="#dd8452", ecolor="#333333", capsize=2)
        panel.set_title(s["name"], fontsize=8)
        panel.set_yticks(range(len(langs)), langs, fontsize=7)
        panel.set_xlim(0, 1)
        panel.grid(axis="x", alpha=0.3)
    for panel in list(axes.flat)[len(systems):]:
        panel.set_visible(False)
    figure.supxlabel(f"{metric} (bars: 95% bootstrap interval)", fontsize=8)
    figure.suptitle(f"{metric} by query language, one panel per arm", fontsize=10)
    return figure


def _quality_against_cost(plt: Any, primary: str, systems: Sequence[Mapping[str, Any]]) -> Any:
    figure, axes = plt.subplots(figsize=(6, 4), layout="constrained")
    for s in systems:
        estimate = s["metrics_ci"][primary]
        seconds = s["cost"]["seconds_total"]
        axes.errorbar([seconds], [estimate["mean"]], yerr=_errors([estimate]), fmt="o", capsize=3)
        axes.annotate(s["name"], (seconds, estimate["mean"]), fontsize=8, xytext=(4, 4), textcoords="offset points")
    axes.set_xlabel("wall time (s)")
    axes.set_ylabel(primary)
    axes.set_title("quality against cost")
    return figure


def plots(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(title, base64 PNG) per plot: each metric by query language, then quality against cost."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    systems = data["systems"]
    with plt.rc_context({"font.family": "sans-serif", "font.sans-serif": FONTS}):
        made = [(f"{metric} by query language", _png(plt, _by_language(plt, metric, systems))) for metric in data["metrics"]]
        made.append(("quality against cost", _png(plt, _quality_against_cost(plt, data["primary_metric"], systems))))
    return made
