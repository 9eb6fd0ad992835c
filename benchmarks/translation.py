"""Translation engine speed: transformers vs raw CTranslate2 vs pivotrec's translate stage.

Builds an opus-mt-shaped MarianMT model (d_model 512, 6+6 layers, 8 heads,
FFN 2048, ~58k vocabulary, random weights; a SentencePiece vocabulary trained
on the FLORES-200 Spanish devtest sentences: it only has to tokenise) and translates the same Spanish
sentences (FLORES-200 devtest lines that hold one sentence, so the stage's
sentence splitting gives it no extra work) three ways, with identical decoding settings
and a fixed output length (minimum = maximum decoding length), so the
comparison is about the engine, not about when a random model stops:

  (a) transformers float32 ``generate``, batches of 32 sorted by length;
  (b) raw ``ctranslate2`` int8 ``translate_batch`` over all sentences;
  (c) the pivotrec translate stage with the ``marian`` plugin on CTranslate2 int8
      (sentence splitting, de-duplication, token batching, SQLite cache writes).

Then a second stage run in which half the sentences repeat the first run's
shows what the translation cache saves.

    python benchmarks/translation.py [--sentences 500] [--output-tokens 32]

Last line: RESULT stage_vs_transformers=<x> stage_vs_ct2=<x> cache_speedup=<x>
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pivotrec.pipeline import progress  # noqa: E402
from pivotrec.pipeline.segment import split_sentences  # noqa: E402
from pivotrec.pipeline.stages import TranslateStage  # noqa: E402
from pivotrec.pipeline.stages.translate import NamedTranslator  # noqa: E402
from pivotrec.pipeline.translation_cache import TranslationCache  # noqa: E402
from pivotrec.plugins.translators.marian import MarianTranslator  # noqa: E402
from tests.tiny_models import build_marian  # noqa: E402

FLORES = REPO.parent / "shared" / "data" / "flores200"
MODEL = REPO / "out" / "bench" / "opus-mt-shaped-es-en"
THREADS = os.cpu_count() or 1


def spanish(split: str) -> list[str]:
    path = FLORES / f"spa_Latn.{split}"
    if not path.is_file():
        sys.exit(f"{path} not found: this benchmark reads FLORES-200 from ../shared/data/flores200")
    return path.read_text(encoding="utf-8").splitlines()


def single_sentences(lines: list[str]) -> list[str]:
    """Lines the stage keeps whole: a line it splits in two would give it more to decode
    than the other engines at a fixed output length, so the three see the same inputs."""
    return [line for line in lines if sum(1 for piece in split_sentences(line, "es") if piece.text.strip()) == 1]


def ensure_model() -> Path:
    if (MODEL / "config.json").is_file():
        return MODEL
    print(f"building the opus-mt-shaped model in {MODEL} ...", file=sys.stderr)
    return build_marian(
        MODEL, d_model=512, layers=6, heads=8, ffn=2048, vocab_size=58101, spm_vocab=4000, init_std=0.02, training_text=spanish("devtest")
    )


def cpu_features() -> str:
    """The SIMD features that decide how much int8 gains over float32 on this CPU."""
    flags = set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    wanted = ["avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8"]
    return ", ".join(f"{f} {'yes' if f in flags else 'no'}" for f in wanted) if flags else "unknown (no /proc/cpuinfo)"


def timed(label: str, run) -> tuple[float, object]:
    start = time.perf_counter()
    out = run()
    seconds = time.perf_counter() - start
    print(f"  {label:<44} {seconds:7.1f} s", file=sys.stderr)
    return seconds, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=500)
    parser.add_argument("--output-tokens", type=int, default=32, help="fixed output length (tokens)")
    parser.add_argument("--beam-size", type=int, default=1)
    args = parser.parse_args()
    progress.set_enabled(False)
    os.environ.setdefault("PIVOTREC_MODELS", str(REPO / "out" / "bench" / "models"))

    import ctranslate2
    import torch
    from transformers import MarianMTModel, MarianTokenizer

    folder = ensure_model()
    devtest = single_sentences(spanish("devtest"))
    if len(devtest) < args.sentences * 1.5 + 1:
        sys.exit(f"only {len(devtest)} single-sentence lines: ask for at most {int((len(devtest) - 1) / 1.5)} sentences")
    sentences = devtest[: args.sentences]
    n_out = args.output_tokens
    tokenizer = MarianTokenizer.from_pretrained(folder)
    sources = [tokenizer.convert_ids_to_tokens(ids) for ids in tokenizer(sentences)["input_ids"]]
    print(f"{len(sentences)} sentences, {sum(map(len, sources)) / len(sources):.1f} source tokens each, "
          f"{n_out} output tokens, beam {args.beam_size}, {THREADS} threads", file=sys.stderr)

    # (a) transformers float32 generate.
    torch.set_num_threads(THREADS)
    model = MarianMTModel.from_pretrained(folder, dtype=torch.float32).eval()

    def transformers_generate() -> int:
        order = sorted(range(len(sentences)), key=lambda i: len(sources[i]))
        produced = 0
        with torch.inference_mode():
            for start in range(0, len(order), 32):
                batch = [sentences[i] for i in order[start : start + 32]]
                inputs = tokenizer(batch, return_tensors="pt", padding=True)
                out = model.generate(**inputs, num_beams=args.beam_size, do_sample=False,
                                     min_new_tokens=n_out, max_new_tokens=n_out + 1, no_repeat_ngram_size=0)
                produced += out.shape[0]
        return produced

    # Each engine translates one sentence before its timing: first-call setup is not throughput.
    with torch.inference_mode():
        model.generate(**tokenizer(sentences[:1], return_tensors="pt"), max_new_tokens=2)
    seconds_hf, _ = timed("(a) transformers float32 generate", transformers_generate)
    del model

    # (b) raw CTranslate2 int8, the same conversion the plugin uses.
    stage_translator = MarianTranslator(MarianTranslator.Params(
        routes={"es": str(folder)}, manifest=False, fallback_model=None, device="cpu", compute_type="int8",
        beam_size=args.beam_size, min_decoding_length=n_out, max_decoding_length=n_out, max_length_ratio=100,
        no_repeat_ngram_size=0, threads=THREADS,
    ))
    from pivotrec.pipeline.model_store import ct2_model

    ct2_folder = ct2_model(str(folder), quantization="int8")
    raw = ctranslate2.Translator(str(ct2_folder), device="cpu", compute_type="int8", intra_threads=THREADS)

    def raw_ct2():
        return raw.translate_batch(sources, max_batch_size=4096, batch_type="tokens", beam_size=args.beam_size,
                                   min_decoding_length=n_out, max_decoding_length=n_out, no_repeat_ngram_size=0)

    raw.translate_batch(sources[:1], max_decoding_length=2)
    seconds_ct2, results = timed("(b) raw ctranslate2 int8 translate_batch", raw_ct2)
    lengths = {len(r.hypotheses[0]) for r in results}
    del raw

    # (c) the stage, with a fresh cache that it fills.
    with tempfile.TemporaryDirectory() as tmp:
        cache = TranslationCache(Path(tmp) / "cache.sqlite")
        named = NamedTranslator("marian", stage_translator, "bench")
        stage_translator.engine(str(folder))  # load outside the timing, as (a) and (b) do
        TranslateStage(named, "en").run(["warm-up"], [devtest[-1]], ["es"])
        ids = [str(i) for i in range(len(sentences))]
        seconds_stage, out = timed("(c) pivotrec stage, ctranslate2 int8", lambda: TranslateStage(named, "en", cache=cache).run(ids, sentences, ["es"] * len(sentences)))
        assert len(out) == len(sentences)

        # Half repeats the first run, half is new text.
        half = len(sentences) // 2
        mixed = sentences[:half] + devtest[args.sentences : args.sentences + len(sentences) - half]
        seconds_cold, _ = timed("second set, no cache", lambda: TranslateStage(named, "en").run(ids, mixed, ["es"] * len(mixed)))
        warm = TranslateStage(named, "en", cache=cache)
        seconds_warm, _ = timed("second set, cache from the first run", lambda: warm.run(ids, mixed, ["es"] * len(mixed)))
        print(f"  cache: {warm.stats.cache_hits} hits, {warm.stats.cache_misses} misses", file=sys.stderr)
        cache.close()

    rate = lambda seconds: len(sentences) / seconds  # noqa: E731
    print(f"{'engine':<44} {'sentences/s':>12}")
    print(f"{'(a) transformers float32 generate':<44} {rate(seconds_hf):>12.1f}")
    print(f"{'(b) raw ctranslate2 int8':<44} {rate(seconds_ct2):>12.1f}   (output lengths {sorted(lengths)})")
    print(f"{'(c) pivotrec stage, ctranslate2 int8':<44} {rate(seconds_stage):>12.1f}")
    print(f"cpu: {cpu_features()}  (int8 gains most with VNNI or AMX)")
    print(f"(c)/(a) = {seconds_hf / seconds_stage:.2f}x  (target >= 5)")
    print(f"(c)/(b) = {seconds_ct2 / seconds_stage:.2f}x  (target >= 0.9)")
    print(f"cache: second run with half repeated text {seconds_cold:.1f} s -> {seconds_warm:.1f} s")
    print(f"RESULT stage_vs_transformers={seconds_hf / seconds_stage:.2f} stage_vs_ct2={seconds_ct2 / seconds_stage:.2f} "
          f"cache_speedup={seconds_cold / seconds_warm:.2f}")


if __name__ == "__main__":
    main()
