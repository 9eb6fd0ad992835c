"""Encoding speed of all-MiniLM-L6-v2 (the `sentence-transformers` encoder) per backend and precision.

The texts: a fixed sample (seed 0) of the ORIGINAL texts of SIB-200 and XQuAD-R
test items, half each, English and untranslated non-English mixed as a
catalogue arrives (19 + 11 languages; no pivot translation), the worst case for an
English encoder: non-Latin text it cannot read explodes into word pieces. The
test splits are prepared from ../shared/data into out/datasets/ when missing.

Each setting is the shipped plugin (`ready_plugin`), warmed up (exported to ONNX
and compiled once) before timing, on two threads (both cores) and on one (per
core). Texts/s is wall time; texts per CPU-second counts every thread.
Agreement is the cosine of each text's vector with torch float32's at the same
max_seq_length (mean and minimum over the sample). OpenVINO int8 (nncf weight
compression) is measured only here, when nncf is installed: the plugin does not
offer it (no faster than OpenVINO float32 on an AVX2 CPU).

    python benchmarks/encoding.py [--texts 2000]

Last line: RESULT <setting>_vs_fp32=<x> ... seq128_vs_seq256=<x>: texts/s on two
cores of each setting over torch float32 (both at max_seq_length 128), and of
torch float32 at 128 word pieces over 256 (the model's own default).
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pivotrec.pipeline.build import ready_plugin
from pivotrec.pipeline.evaluation.datasets import load_dataset, prepare_sib200, prepare_xquad_r
from pivotrec.pipeline.records import Item
from pivotrec.plugins.encoders import onnx_runtimes
from pivotrec.plugins.encoders.sentence_transformers import bundled_minilm_path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
DATASETS = REPO / "out" / "datasets"
#: Texts per forward pass, the plugin's default.
BATCH_SIZE = 64
#: Settings, by the label printed; each one's params for the plugin (max_seq_length 128 unless said).
#: Each names its backend and precision: the plugin's default (auto) is onnx int8 on the CPU.
SETTINGS: dict[str, dict[str, Any]] = {
    "torch_fp32_seq256": {"backend": "torch", "precision": "float32", "max_seq_length": 256},
    "fp32": {"backend": "torch", "precision": "float32"},
    "bf16": {"backend": "torch", "precision": "bfloat16"},
    "onnx_fp32": {"backend": "onnx", "precision": "float32"},
    "onnx_int8": {"backend": "onnx", "precision": "int8"},
    "openvino_fp32": {"backend": "openvino"},
}


@dataclass(frozen=True)
class Speed:
    texts_per_s: float
    texts_per_cpu_s: float


def sample_items(n: int) -> list[Item]:
    """``n`` items, half from each test split, drawn with seed 0."""
    sources = {"sib200-test": (prepare_sib200, "sib200"), "xquad-r-test": (prepare_xquad_r, "xquad_r")}
    items: list[Item] = []
    for folder, (prepare, source) in sources.items():
        if not (DATASETS / folder / "items.jsonl").is_file():
            prepare(SHARED / source, DATASETS / folder, split="test")
        pool = load_dataset(DATASETS / folder).items
        items += random.Random(0).sample(pool, min(n // 2, len(pool)))
    return items


def timed(encode: Callable[[list[str]], np.ndarray], texts: list[str]) -> tuple[np.ndarray, Speed]:
    encode(texts[:8])  # first-call costs (allocation, JIT, kernel choice) are not encoding speed
    wall, cpu = time.perf_counter(), time.process_time()
    vectors = encode(texts)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return vectors, Speed(len(texts) / wall, len(texts) / cpu)


def plugin_encoder(params: dict[str, Any], threads: int) -> Callable[[list[str]], np.ndarray]:
    encoder = ready_plugin("encoder", "sentence-transformers", {"max_seq_length": 128, "batch_size": BATCH_SIZE, **params, "threads": threads})
    return lambda texts: encoder.encode(texts, "passage")


def minilm(max_seq_length: int) -> Any:
    """The bundled MiniLM as sentence-transformers loads it, on the CPU."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(bundled_minilm_path(), device="cpu").eval()
    model.max_seq_length = max_seq_length
    return model


def openvino_int8_encoder(threads: int, folder: Path) -> Callable[[list[str]], np.ndarray]:
    """OpenVINO with int8 weights (nncf INT8_ASYM, per output channel) and float32 activations,
    from the plugin's own ONNX export."""
    import nncf
    import openvino as ov

    sentence_model = minilm(128)
    compressed = folder / "openvino-int8.xml"
    if not compressed.is_file():
        fp32 = onnx_runtimes.exported_model(sentence_model, onnx_runtimes.export_folder("minilm", sentence_model), "float32")
        ov.save_model(nncf.compress_weights(ov.Core().read_model(str(fp32)), mode=nncf.CompressWeightsMode.INT8_ASYM), str(compressed))
    graph = onnx_runtimes.openvino_graph(compressed, threads)
    tokenize = onnx_runtimes.tokenizer_of(sentence_model)
    return lambda texts: onnx_runtimes.encode_with(graph, tokenize, texts, BATCH_SIZE)


def word_pieces(items: list[Item]) -> None:
    """How many texts run past 128 word pieces, English and not: tokens the encoder cannot read."""
    tokenizer = minilm(256).tokenizer
    for label, group in (("English", [i for i in items if i.lang == "en"]), ("non-English", [i for i in items if i.lang != "en"])):
        lengths = np.array([len(tokenizer(i.text)["input_ids"]) for i in group])
        print(f"{label:>11}: {len(group):5d} texts, word pieces mean {lengths.mean():6.1f}, p95 {np.percentile(lengths, 95):5.0f}, "
              f"over 128: {np.mean(lengths > 128):6.1%}, over 256: {np.mean(lengths > 256):6.1%}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=2000, help="sample size, half SIB-200 and half XQuAD-R (default 2000)")
    parser.add_argument("--work", type=Path, default=REPO / "out" / "encoding", help="folder for the OpenVINO int8 model")
    args = parser.parse_args()
    items = sample_items(args.texts)
    texts = [i.text for i in items]
    print(f"{len(texts)} original texts (SIB-200 + XQuAD-R test, {len({i.lang for i in items})} languages), MiniLM batch {BATCH_SIZE}")
    word_pieces(items)

    encoders: dict[str, Callable[[int], Callable[[list[str]], np.ndarray]]] = {
        label: functools.partial(plugin_encoder, params) for label, params in SETTINGS.items()
    }
    if importlib.util.find_spec("nncf") is not None:
        args.work.mkdir(parents=True, exist_ok=True)
        encoders["openvino_int8"] = lambda threads: openvino_int8_encoder(threads, args.work)
    else:
        print("openvino_int8: skipped, nncf is not installed")

    speeds: dict[str, dict[int, Speed]] = {}
    vectors: dict[str, np.ndarray] = {}
    print(f"\n{'setting':<18} {'texts/s 2 cores':>15} {'texts/s 1 core':>14} {'per CPU-s':>9} {'cos mean':>8} {'cos min':>8}")
    for label, make in encoders.items():
        speeds[label] = {}
        for threads in (2, 1):
            vectors[label], speeds[label][threads] = timed(make(threads), texts)
        reference = vectors["fp32" if label != "torch_fp32_seq256" else label]
        cosine = np.sum(vectors[label] * reference, axis=1)
        two, one = speeds[label][2], speeds[label][1]
        print(f"{label:<18} {two.texts_per_s:15.1f} {one.texts_per_s:14.1f} {one.texts_per_cpu_s:9.1f} {cosine.mean():8.5f} {cosine.min():8.5f}", flush=True)
    truncated = np.sum(vectors["torch_fp32_seq256"] * vectors["fp32"], axis=1)
    print(f"\nmax_seq_length 128 against 256 (torch float32): cosine mean {truncated.mean():.5f}, min {truncated.min():.5f}, "
          f"{np.mean(truncated < 0.9999):.1%} of texts changed")

    base = speeds["fp32"][2].texts_per_s
    ratios = [f"{label}_vs_fp32={speeds[label][2].texts_per_s / base:.2f}" for label in encoders if label not in ("fp32", "torch_fp32_seq256")]
    print(f"RESULT {' '.join(ratios)} seq128_vs_seq256={base / speeds['torch_fp32_seq256'][2].texts_per_s:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
