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

import sys
from pathlib import Path

from arms import arguments, chosen_configs, print_language_table, run_arms, source_missing, translate_gain, translate_vs_identity

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO.parent / "shared" / "data" / "sib200"
DATASET = REPO / "out" / "datasets" / "sib200-test"
REPORT = REPO / "out" / "sib200"
METRICS = "ndcg@10,precision@10,mrr@10,hit_rate@10,recall@100"


def main() -> int:
    args = arguments(__doc__.splitlines()[0], "sib200", DATASET, REPORT)
    if source_missing(SOURCE, "SIB-200"):
        return 2
    systems, seconds = run_arms(chosen_configs("sib200", args.arms), "sib200", SOURCE, args.dataset, METRICS, args.out)

    print_language_table(systems, "ndcg@10", f"nDCG@10 on {args.dataset.name} (all users, then by the user's language)")
    best = max(systems, key=lambda s: s["metrics"]["ndcg@10"])
    gain = translate_gain(systems, "ndcg@10")
    translate_vs_identity(systems, "ndcg@10")
    print(f"{seconds:.0f} s; report: {args.out / 'report.html'}")
    print(f"RESULT sib200_best_ndcg10={best['metrics']['ndcg@10']:.4f} best_arm={best['name']} translate_gain_ndcg10={gain:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
