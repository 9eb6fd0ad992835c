"""Every XQuAD-R arm through `pivotrec compare`, timed as a whole.

Prepares XQuAD-R from ../shared/data/xquad_r, runs the arm configs in
configs/xquad_r/ with `pivotrec compare` (each arm in its own process), and
writes the report to out/xquad_r/. The human-translation arms are upper
bounds, not systems: they are left out of "best arm", and the best of them
is reported as the upper bound. Extra arms (configs/xquad_r/extra/) are not
timed here.

    python benchmarks/xquad_r.py [--arms 1,4,7]

Last line: RESULT seconds=<x> best_arm=<name> best_map20=<x> best_ndcg10=<x> human_upper_map20=<x>
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO.parent / "shared" / "data" / "xquad_r"
DATASET = REPO / "out" / "datasets" / "xquad-r"
REPORT = REPO / "out" / "xquad_r"
UPPER_BOUND = "human-translation-upper-bound"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arms", help="comma-separated arm numbers (default: all in configs/xquad_r)")
    args = parser.parse_args()
    configs = sorted((REPO / "configs" / "xquad_r").glob("*.yaml"))
    if args.arms:
        wanted = {int(a) for a in args.arms.split(",")}
        configs = [c for c in configs if int(c.name.split("-")[0]) in wanted]
    pivotrec = [sys.executable, "-m", "pivotrec.pipeline.cli"]
    with tempfile.TemporaryDirectory() as empty_cache:
        # A fresh translation cache: the timing includes every translation.
        env = {**os.environ, "PIVOTREC_CACHE": str(Path(empty_cache) / "translations.sqlite")}
        start = time.perf_counter()
        subprocess.run([*pivotrec, "datasets", "prepare", "xquad-r", str(SOURCE), str(DATASET)], check=True, env=env)
        subprocess.run(
            [*pivotrec, "--quiet", "compare", *map(str, configs), "--dataset", str(DATASET),
             "--metrics", "map@20,ndcg@10,recall@100,mrr@10,hit_rate@10", "--out", str(REPORT)],
            check=True, env=env,
        )
    seconds = time.perf_counter() - start
    systems = json.loads((REPORT / "report.json").read_text(encoding="utf-8"))["systems"]
    print(f"{'arm':<42} {'mAP@20':>7} {'nDCG@10':>8} {'seconds':>8}")
    for s in systems:
        print(f"{s['name']:<42} {s['metrics']['map@20']:7.4f} {s['metrics']['ndcg@10']:8.4f} {s['cost']['seconds_total']:8.1f}")
    systems_proper = [s for s in systems if UPPER_BOUND not in s["name"]]
    best = max(systems_proper, key=lambda s: s["metrics"]["map@20"])
    upper = max((s["metrics"]["map@20"] for s in systems if UPPER_BOUND in s["name"]), default=float("nan"))
    print(f"report: {REPORT / 'report.html'}")
    print(
        f"RESULT seconds={seconds:.0f} best_arm={best['name']} best_map20={best['metrics']['map@20']:.4f} "
        f"best_ndcg10={best['metrics']['ndcg@10']:.4f} human_upper_map20={upper:.4f}"
    )


if __name__ == "__main__":
    main()
