"""Cross-language duplicate suppression on the SIB-200 TEST split: on (the default) against off.

SIB-200 marks the other-language translations of a user's history items with
grade -1 in qrels.tsv. The metrics drop those items before scoring, so
nDCG@10 barely sees them; what a user sees is the raw list. For each arm
(configs/sib200/09-mixed-translated-ensemble.yaml, the best, and
04-direct-use.yaml, direct only) this runs `compare` twice, once as the
config stands (`recommend.translation_similarity` at its default) and once
with suppression off (`translation_similarity: null`) (and, with
`--thresholds`, at other similarities: choose one on the dev split), and
counts the -1 items in the raw top 10 of every user's list.

It reads out/datasets/sib200-test (prepared by benchmarks/sib200.py or
`pivotrec datasets prepare sib200 ../shared/data/sib200 out/datasets/sib200-test`).
Vectors and translations come from the caches in ~/.cache/pivotrec.

    python benchmarks/duplicates.py [--dataset out/datasets/sib200-test] [--thresholds 0.7,0.6]

Last line:
RESULT dup_in_top10_on=<n> dup_in_top10_off=<n> ndcg10_on=<x> ndcg10_off=<x> dup_in_top10_on_direct=<n> ...

dup_in_top10_*: -1 items in the raw top 10, summed over all users (09, and
04 with _direct); ndcg10_*: nDCG@10 over all users as compare computes it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from pivotrec.pipeline.evaluation.compare import ArmResult, compare

REPO = Path(__file__).resolve().parents[1]
DATASET = REPO / "out" / "datasets" / "sib200-test"
#: RESULT key suffix -> arm config.
ARMS = {"": REPO / "configs" / "sib200" / "09-mixed-translated-ensemble.yaml", "_direct": REPO / "configs" / "sib200" / "04-direct-use.yaml"}
DEPTH = 10


def with_similarity(config: Path, folder: Path, similarity: str) -> Path:
    """A copy of ``config`` in ``folder`` with ``recommend.translation_similarity`` set (``null``: off).
    The arm configs name no relative paths (plugins by name, caches at their defaults), so the copy
    runs alike elsewhere."""
    text = config.read_text(encoding="utf-8")
    if "recommend:" in text:
        raise SystemExit(f"{config}: already has a recommend section; this benchmark appends its own")
    copy = folder / f"{config.stem}-similarity-{similarity}.yaml"
    copy.write_text(text + f"\nrecommend: {{translation_similarity: {similarity}}}\n", encoding="utf-8")
    return copy


def duplicates_shown(arm: ArmResult, qrels: dict[str, dict[str, int]]) -> tuple[int, int]:
    """-1 items in the raw top ``DEPTH`` of every list (summed), and the users shown at least one."""
    per_user = [sum(qrels.get(user, {}).get(item, 0) < 0 for item in ranked[:DEPTH]) for user, ranked in arm.run.items()]
    return sum(per_user), sum(n > 0 for n in per_user)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=DATASET, help="prepared SIB-200 split (default: the test split)")
    parser.add_argument("--thresholds", default="", help="also run these translation_similarity values, e.g. 0.7,0.6 (to choose one on dev)")
    args = parser.parse_args()
    extra = [t for t in args.thresholds.split(",") if t]
    if not (args.dataset / "qrels.tsv").is_file():
        print(f"error: {args.dataset} is not a prepared dataset; see this file's docstring", file=sys.stderr)
        return 1
    result: dict[str, float] = {}
    print(f"{'arm':<32} {'suppression':>11} {'-1 in top 10':>13} {'users shown one':>16} {'nDCG@10':>8}")
    with tempfile.TemporaryDirectory(prefix="pivotrec-duplicates-") as folder:
        for suffix, config in ARMS.items():
            variants = [config, with_similarity(config, Path(folder), "null")] + [with_similarity(config, Path(folder), t) for t in extra]
            dataset, arms = compare(variants, args.dataset, ["ndcg@10"], quiet=True)
            for setting, arm in zip(["on", "off", *extra], arms):
                shown, users = duplicates_shown(arm, dataset.qrels)
                print(f"{config.stem:<32} {setting:>11} {shown:>13} {users:>11} / {len(arm.run):<3} {arm.score('ndcg@10'):>8.4f}")
                result[f"dup_in_top10_{setting}{suffix}"] = shown
                result[f"ndcg10_{setting}{suffix}"] = arm.score("ndcg@10")
    order = [f"{key}_{setting}{suffix}" for suffix in ARMS for key in ("dup_in_top10", "ndcg10") for setting in ("on", "off", *extra)]
    print("RESULT " + " ".join(f"{key}={result[key]:.4f}" if key.startswith("ndcg") else f"{key}={int(result[key])}" for key in order))
    return 0


if __name__ == "__main__":
    sys.exit(main())
