"""Every SIB-200 arm on the TEST split, through `pivotrec compare`.

SIB-200 as a recommendation task: the catalogue is one split's sentences in
19 languages; each user has a history of three same-topic items in one
language, and items of that topic in any language are relevant
(translations of the user's own history items are left out of the scoring).

Honest tuning: every weight and option in configs/sib200/ was chosen on
SIB-200's DEV file (99 sentences per language); this benchmark reports its
TEST file (204 per language), which chose nothing. It prepares the test split
from ../shared/data/sib200 (never copied), runs the arm configs with
`pivotrec compare` (each arm in its own process) and writes the report to
out/sib200/.

An arm "uses translation" when its run translated or glossed any text (MT,
Apertium, a gloss or the cache of one); the others are direct-only.

    python benchmarks/sib200.py [--arms 1,4] [--dataset out/datasets/sib200-dev]

Last line:
RESULT sib200_best_ndcg10=<x> best_arm=<name> translate_gain_ndcg10=<x>

translate_gain_ndcg10 is the best arm that uses translation or glosses minus
the best direct-only arm (nDCG@10, test split).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO.parent / "shared" / "data" / "sib200"
DATASET = REPO / "out" / "datasets" / "sib200-test"
REPORT = REPO / "out" / "sib200"
IDENTITY_ARM, TRANSLATE_ARM = "01-", "02-"
METRICS = "ndcg@10,precision@10,mrr@10,hit_rate@10,recall@100"


def uses_translation(system: dict) -> bool:
    cost = system["cost"]
    return (cost.get("texts_translated", 0) + cost.get("texts_glossed", 0) + cost.get("texts_from_cache", 0)) > 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arms", help="comma-separated arm numbers (default: all in configs/sib200)")
    parser.add_argument("--dataset", type=Path, default=DATASET, help="prepared split (default: the test split, prepared if missing)")
    parser.add_argument("--out", type=Path, default=REPORT)
    args = parser.parse_args()
    if not SOURCE.is_dir():
        print(f"error: SIB-200 not found at {SOURCE}: this benchmark reads ../shared/data/sib200 beside the repository "
              "(see ../shared/README.md); nothing was run.", file=sys.stderr)
        return 2
    configs = sorted((REPO / "configs" / "sib200").glob("*.yaml"))
    if args.arms:
        wanted = {int(a) for a in args.arms.split(",")}
        configs = [c for c in configs if int(c.name.split("-")[0]) in wanted]
    pivotrec = [sys.executable, "-m", "pivotrec.pipeline.cli"]
    start = time.perf_counter()
    if not (args.dataset / "qrels.tsv").is_file():
        subprocess.run([*pivotrec, "datasets", "prepare", "sib200", str(SOURCE), str(args.dataset), "--split", "test"], check=True)
    subprocess.run(
        [*pivotrec, "--quiet", "compare", *map(str, configs), "--dataset", str(args.dataset), "--metrics", METRICS, "--out", str(args.out)],
        check=True,
    )
    seconds = time.perf_counter() - start
    systems = json.loads((args.out / "report.json").read_text(encoding="utf-8"))["systems"]

    langs = sorted({lang for s in systems for lang in s["by_query_language"]["ndcg@10"]})
    print(f"\nnDCG@10 on {args.dataset.name} (all users, then by the user's language); * = uses translation or glosses")
    print(f"{'arm':<40} {'all':>7} " + " ".join(f"{lang:>4}" for lang in langs) + f" {'s':>4}")
    for s in systems:
        by_lang = s["by_query_language"]["ndcg@10"]
        mark = "*" if uses_translation(s) else " "
        print(f"{s['name'][:38]:<38} {mark} {s['metrics']['ndcg@10']:7.4f} "
              + " ".join(f"{by_lang.get(lang, float('nan')):4.2f}" for lang in langs) + f" {s['cost']['seconds_total']:4.0f}")

    best = max(systems, key=lambda s: s["metrics"]["ndcg@10"])
    translating = [s for s in systems if uses_translation(s)]
    direct = [s for s in systems if not uses_translation(s)]
    gain = float("nan")
    if translating and direct:
        best_t = max(translating, key=lambda s: s["metrics"]["ndcg@10"])
        best_d = max(direct, key=lambda s: s["metrics"]["ndcg@10"])
        gain = best_t["metrics"]["ndcg@10"] - best_d["metrics"]["ndcg@10"]
        print(f"best with translation: {best_t['name']} {best_t['metrics']['ndcg@10']:.4f}; "
              f"best direct-only: {best_d['name']} {best_d['metrics']['ndcg@10']:.4f}")
    identity = next((s for s in systems if s["name"].startswith(IDENTITY_ARM)), None)
    translate = next((s for s in systems if s["name"].startswith(TRANSLATE_ARM)), None)
    if identity and translate:
        a, b = identity["by_query_language"]["ndcg@10"], translate["by_query_language"]["ndcg@10"]
        wins = [lang for lang in langs if b.get(lang, 0.0) > a.get(lang, 0.0)]
        print(f"translate ({translate['name']}) beats identity ({identity['name']}) for users in: {', '.join(wins) or 'none'}")
    print(f"{seconds:.0f} s; report: {args.out / 'report.html'}")
    print(f"RESULT sib200_best_ndcg10={best['metrics']['ndcg@10']:.4f} best_arm={best['name']} translate_gain_ndcg10={gain:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
