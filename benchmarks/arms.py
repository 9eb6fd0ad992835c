"""What the arm benchmarks (xquad_r.py, sib200.py) share: choosing arms, running them
through `pivotrec compare` on a prepared split, and telling translating arms from direct ones."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PIVOTREC = [sys.executable, "-m", "pivotrec.pipeline.cli"]


def arguments(description: str, folder: str, dataset: Path, report: Path) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--arms", help=f"comma-separated arm numbers (default: all in configs/{folder})")
    parser.add_argument("--dataset", type=Path, default=dataset, help="prepared split (default: the test split, prepared if missing)")
    parser.add_argument("--out", type=Path, default=report)
    return parser.parse_args()


def source_missing(source: Path, label: str) -> bool:
    """Say so when the shared data is not beside the repository."""
    if source.is_dir():
        return False
    print(f"error: {label} not found at {source}: this benchmark reads {source.relative_to(REPO.parent)} beside the repository "
          "(see ../shared/README.md); nothing was run.", file=sys.stderr)
    return True


def chosen_configs(folder: str, arms: str | None) -> list[Path]:
    configs = sorted((REPO / "configs" / folder).glob("*.yaml"))
    if arms:
        wanted = {int(a) for a in arms.split(",")}
        configs = [c for c in configs if int(c.name.split("-")[0]) in wanted]
    return configs


def prepare_split(kind: str, source: Path, dataset: Path) -> None:
    """Prepare the test split of ``source`` into ``dataset`` unless it is there."""
    if not (dataset / "qrels.tsv").is_file():
        subprocess.run([*PIVOTREC, "datasets", "prepare", kind, str(source), str(dataset), "--split", "test"], check=True)


def run_arms(configs: list[Path], kind: str, source: Path, dataset: Path, metrics: str, out: Path) -> tuple[list[dict[str, Any]], float]:
    """Prepare the test split if missing, compare the arms; the report's systems and the seconds taken."""
    start = time.perf_counter()
    prepare_split(kind, source, dataset)
    subprocess.run(
        [*PIVOTREC, "--quiet", "compare", *map(str, configs), "--dataset", str(dataset), "--metrics", metrics, "--out", str(out)],
        check=True,
    )
    seconds = time.perf_counter() - start
    return json.loads((out / "report.json").read_text(encoding="utf-8"))["systems"], seconds


def uses_translation(system: dict[str, Any]) -> bool:
    cost = system["cost"]
    return (cost.get("texts_translated", 0) + cost.get("texts_glossed", 0) + cost.get("texts_from_cache", 0)) > 0


def translate_gain(systems: list[dict[str, Any]], metric: str) -> float:
    """The best arm using translation or glosses minus the best direct-only arm (NaN without both); printed."""
    translating = [s for s in systems if uses_translation(s)]
    direct = [s for s in systems if not uses_translation(s)]
    if not (translating and direct):
        return float("nan")
    best_t = max(translating, key=lambda s: s["metrics"][metric])
    best_d = max(direct, key=lambda s: s["metrics"][metric])
    print(f"best with translation: {best_t['name']} {best_t['metrics'][metric]:.4f}; "
          f"best direct-only: {best_d['name']} {best_d['metrics'][metric]:.4f}")
    return float(best_t["metrics"][metric] - best_d["metrics"][metric])


def print_language_table(systems: list[dict[str, Any]], metric: str, title: str, also: str | None = None) -> list[str]:
    """One row per arm: ``metric`` over all queries (and ``also``), then by query language, then
    seconds; ``*`` marks arms using translation or glosses. Returns the languages, sorted."""
    langs = sorted({lang for s in systems for lang in s["by_query_language"][metric]})
    width = max(len(s["name"]) for s in systems)
    print(f"\n{title}; * = uses translation or glosses")
    print(f"{'arm':<{width + 2}} {metric:>8} " + (f"{also:>8} " if also else "") + " ".join(f"{lang:>5}" for lang in langs) + f" {'s':>5}")
    for s in systems:
        by_lang = s["by_query_language"][metric]
        cells = [f"{s['metrics'][metric]:8.4f}"] + ([f"{s['metrics'][also]:8.4f}"] if also else [])
        cells += [f"{by_lang.get(lang, float('nan')):5.3f}" for lang in langs] + [f"{s['cost']['seconds_total']:5.0f}"]
        print(f"{s['name']:<{width}} {'*' if uses_translation(s) else ' '} " + " ".join(cells))
    return langs


#: The arms every folder starts with: 01 keeps texts as they are (identity), 02 translates them.
IDENTITY_ARM, TRANSLATE_ARM = "01-", "02-"


def translate_vs_identity(systems: list[dict[str, Any]], metric: str) -> tuple[dict[str, float], dict[str, float], list[str]] | None:
    """Per query language, ``metric`` of the identity arm and of the translate arm, and the
    languages where translating wins; None unless both arms ran. Prints the winners."""
    identity = next((s for s in systems if s["name"].startswith(IDENTITY_ARM)), None)
    translate = next((s for s in systems if s["name"].startswith(TRANSLATE_ARM)), None)
    if not (identity and translate):
        return None
    before, after = identity["by_query_language"][metric], translate["by_query_language"][metric]
    wins = sorted(lang for lang in after if after[lang] > before.get(lang, 0.0))
    print(f"translate ({translate['name']}) beats identity ({identity['name']}) for queries in: {', '.join(wins) or 'none'}")
    return before, after, wins
