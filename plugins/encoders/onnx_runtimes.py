"""A sentence-transformers model exported to ONNX and run by ONNX Runtime or OpenVINO instead of PyTorch.

The whole module chain (transformer, pooling, normalisation) is traced into one
graph: token ids in, sentence vectors out. The export, and its int8 quantisation
for ONNX Runtime, go to ``<models dir>/encoders/<model>--<digest>/`` in the
user's cache (never the package), keyed by a digest of the module chain and its
weights, so changed weights or pooling never reuse an old export. Each file is
written under a temporary name and renamed into place when complete, so a crash
never leaves a half-written model that a later run would load. Tokenising stays
with sentence-transformers, so truncation and casing are exactly the PyTorch path's.

Why not sentence-transformers' own ``backend="onnx"/"openvino"``: it needs
optimum-onnx or optimum-intel, and neither installs beside transformers 5.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import uuid
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from pivotrec.pipeline.errors import ModelUnavailableError
from pivotrec.pipeline.model_store import models_dir, slug

#: A backend other than PyTorch.
ExportedBackend = Literal["onnx", "openvino"]
#: The modules each backend imports (onnx for the export, then the runtime), and the pivotrec extra that installs them.
RUNTIMES: dict[ExportedBackend, tuple[tuple[str, str], str]] = {
    "onnx": (("onnx", "onnxruntime"), "pivotrec[onnx]"),
    "openvino": (("onnx", "openvino"), "pivotrec[openvino]"),
}

#: The tokenizer's output for one batch (token ids and masks, as tensors, among other keys) -> one vector per text.
RunGraph = Callable[[dict[str, Any]], np.ndarray]


def export_folder(model_name: str, sentence_model: Any, root: Path | None = None) -> Path:
    """Where the exports of ``sentence_model`` (named ``model_name`` in configs) live: named by a
    digest of its modules (the printed chain: transformer, pooling mode, normalisation) and weights."""
    import torch

    digest = hashlib.blake2b(repr(sentence_model).encode(), digest_size=8)
    for name, tensor in sentence_model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return (root or models_dir()) / "encoders" / f"{slug(model_name)}--{digest.hexdigest()}"


def tokenizer_of(sentence_model: Any) -> Callable[[list[str]], dict[str, Any]]:
    """The model's own tokenising step (``preprocess``; ``tokenize`` before sentence-transformers 6)."""
    return getattr(sentence_model, "preprocess", None) or sentence_model.tokenize


def _write_atomically(target: Path, write: Callable[[Path], None]) -> None:
    """``write(partial)`` then rename ``partial`` to ``target`` (atomic on one filesystem)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial-{uuid.uuid4().hex[:8]}")
    try:
        write(partial)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def _export_onnx(sentence_model: Any, target: Path) -> None:
    """Trace the model's whole module chain into ``target`` (float32, dynamic batch and length)."""
    import torch

    example = tokenizer_of(sentence_model)(["an example sentence to trace", "a second, longer example sentence, so that one row is padded"])
    names = [name for name in sentence_model.tokenizer.model_input_names if name in example]

    class SentenceEmbedding(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.chain = sentence_model

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            return self.chain(dict(zip(names, inputs, strict=True)))["sentence_embedding"]

    axes = {name: {0: "batch", 1: "tokens"} for name in names}
    with torch.no_grad(), warnings.catch_warnings():
        # The TorchScript tracer warns about shape checks it freezes; each holds for any batch
        # (the trace's rows are padded), and the dynamo exporter would need onnxscript.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            SentenceEmbedding().eval().cpu(), tuple(example[n].cpu() for n in names), str(target), dynamo=False,
            input_names=names, output_names=["sentence_embedding"], dynamic_axes={**axes, "sentence_embedding": {0: "batch"}}, opset_version=17,
        )


def _quantize_int8(fp32: Path, target: Path) -> None:
    """Dynamic int8: weights per output channel, activations per batch. Per-channel with a
    reduced range keeps AVX2's 16-bit accumulators from saturating (per-tensor agreed far worse)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(fp32, target, weight_type=QuantType.QInt8, per_channel=True, reduce_range=True)


def exported_model(sentence_model: Any, folder: Path, precision: Literal["float32", "int8"], announce: bool = True) -> Path:
    """The ONNX file of ``sentence_model`` at ``precision`` in ``folder``, exported on first use."""
    fp32 = folder / "model.onnx"
    if not fp32.is_file():
        if announce:
            print(f"exporting the encoder to ONNX into {folder} ...", file=sys.stderr)
        _write_atomically(fp32, lambda partial: _export_onnx(sentence_model, partial))
    if precision == "float32":
        return fp32
    int8 = folder / "model-int8.onnx"
    if not int8.is_file():
        _write_atomically(int8, lambda partial: _quantize_int8(fp32, partial))
    return int8


def missing_runtime(backend: ExportedBackend) -> list[str]:
    """[] when ``backend`` can run here, else the one line that says which module is missing and
    which extra installs it. Nothing is imported."""
    modules, extra = RUNTIMES[backend]
    missing = [module for module in modules if importlib.util.find_spec(module) is None]
    return [f"the {backend!r} encoder backend needs {missing[0]}, which is not installed: pip install '{extra}'"] if missing else []


def runtime_module(backend: ExportedBackend) -> Any:
    """The runtime's module (after checking the exporter's), or an error naming the extra that installs them."""
    (exporter, runtime), extra = RUNTIMES[backend]
    try:
        __import__(exporter)
        return __import__(runtime)
    except ImportError as exc:
        raise ModelUnavailableError(f"the {backend!r} encoder backend needs {exc.name}, which is not installed: pip install '{extra}'") from exc


def onnxruntime_graph(path: Path, threads: int | None) -> RunGraph:
    ort = runtime_module("onnx")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or 0  # 0: one per core
    options.inter_op_num_threads = 1  # the graph is one chain: nothing to run side by side
    # Idle threads sleep instead of spinning: spinning took the cores the service's HTTP loop and
    # searches need (0.72 -> 0.85 of in-process requests/s), and encoded no faster (188 against 177 texts/s).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    inputs = [i.name for i in session.get_inputs()]
    return lambda features: session.run(None, {name: np.asarray(features[name], dtype=np.int64) for name in inputs})[0]


def openvino_graph(path: Path, threads: int | None) -> RunGraph:
    ov = runtime_module("openvino")
    core = ov.Core()
    compiled = core.compile_model(core.read_model(str(path)), "CPU", {"INFERENCE_NUM_THREADS": threads} if threads else {})
    inputs = [i.get_any_name() for i in compiled.inputs]
    return lambda features: compiled({name: np.asarray(features[name], dtype=np.int64) for name in inputs})[0]


def encode_with(run: RunGraph, tokenize: Callable[[list[str]], Any], texts: Sequence[str], batch_size: int) -> np.ndarray:
    """Unit vectors of ``texts``, row i for text i. Longest texts first, as sentence-transformers
    does, so that texts of similar length share a batch and little is padded."""
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    rows: list[np.ndarray] = []
    for start in range(0, len(order), batch_size):
        features = tokenize([texts[i] for i in order[start : start + batch_size]])
        rows.append(np.asarray(run(features), dtype=np.float32))
    if not rows:
        return np.zeros((0, 0), dtype=np.float32)
    sorted_vectors = np.vstack(rows)
    vectors = np.empty_like(sorted_vectors)
    vectors[order] = sorted_vectors
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
