"""The sentence-transformers encoder's backends and precisions: checked params, cache keys,
and real all-MiniLM-L6-v2 vectors from each backend against PyTorch float32."""

from __future__ import annotations

import itertools
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from pivotrec.pipeline.build import ready_plugin
from pivotrec.pipeline.errors import ModelUnavailableError
from pivotrec.pipeline.refs import EncoderRef
from pivotrec.pipeline.resolve import resolve_ref

TEXTS = [
    "a cat sits on the mat",
    "a kitten is on the rug",
    "The stock market fell sharply today.",
    "Die Börse ist heute stark gefallen, nachdem die Zentralbank die Zinsen erhöht hatte.",
    "東京は日本の首都であり、世界で最も人口の多い都市圏の一つです。",
]
#: Every backend and precision the plugin runs.
SETTINGS = [
    {"backend": "torch", "precision": "float32"},
    {"backend": "torch", "precision": "bfloat16"},
    {"backend": "onnx", "precision": "float32"},
    {"backend": "onnx", "precision": "int8"},
    {"backend": "openvino", "precision": "float32"},
]


def problems(params: dict[str, object]) -> list[str]:
    return resolve_ref(EncoderRef(plugin="sentence-transformers", params=params), "encoder", base_dir=None)


def identity(params: dict[str, object]) -> str:
    ref = EncoderRef(plugin="sentence-transformers", params=params)
    assert resolve_ref(ref, "encoder", base_dir=None) == []
    return ref.resolved.identity


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"backend": "tensorrt"}, r"^encoder\.params\.backend: Input should be 'auto', 'torch', 'onnx' or 'openvino'"),
        ({"precision": "float16"}, r"^encoder\.params\.precision: Input should be 'auto', 'float32', 'bfloat16' or 'int8'"),
        ({"backend": "torch", "precision": "int8"}, r"^encoder\.params\.precision: .*backend 'torch' runs float32 or bfloat16, got 'int8'"),
        ({"backend": "openvino", "precision": "bfloat16"}, r"^encoder\.params\.precision: .*backend 'openvino' runs float32, got 'bfloat16'"),
        ({"backend": "onnx", "device": "cuda"}, r"^encoder\.params\.backend: .*the onnx backend runs on the CPU"),
        ({"threads": 0}, r"^encoder\.params\.threads: Input should be greater than or equal to 1"),
    ],
)
def test_a_bad_backend_setting_names_its_key(params, message):
    found = problems(params)
    assert len(found) == 1
    assert re.search(message, found[0]), found


def test_every_backend_and_precision_has_its_own_embedding_cache_key():
    # The encode stage keys the embedding cache by the encoder's identity (engines.py).
    keys = [identity(setting) for setting in SETTINGS]
    assert len(set(keys)) == len(SETTINGS)
    assert identity({"max_seq_length": 128}) != identity({"max_seq_length": 256})


def test_the_bundled_models_default_length_is_in_the_cache_key():
    # Earlier versions truncated the bundled MiniLM at 256 with the same (empty) params: the
    # 128 default must be part of the key, or their cached vectors would be served as new ones.
    assert identity({}) == identity({"max_seq_length": 128})
    assert identity({"model": "/some/local/model"}) != identity({"model": "/some/local/model", "max_seq_length": 128})


def resolved(params: dict[str, object]) -> tuple[object, object]:
    ref = EncoderRef(plugin="sentence-transformers", params=params)
    assert resolve_ref(ref, "encoder", base_dir=None) == []
    return ref.resolved.params.backend, ref.resolved.params.precision


def test_the_default_is_onnx_int8_on_the_cpu_and_named_in_the_cache_key(monkeypatch):
    from pivotrec.plugins.encoders import sentence_transformers

    monkeypatch.setattr(sentence_transformers, "_gpu_for_torch", lambda: False)
    assert resolved({}) == ("onnx", "int8")
    assert resolved({"device": "cpu"}) == ("onnx", "int8")
    # The key names what really computed the vectors, so a default and an explicit setting share it.
    assert identity({}) == identity({"backend": "onnx", "precision": "int8"})
    assert resolved({"precision": "int8"}) == ("onnx", "int8")
    # An explicit float32 or bfloat16 keeps PyTorch, as before the default changed.
    assert resolved({"precision": "float32"}) == ("torch", "float32")
    assert resolved({"precision": "bfloat16"}) == ("torch", "bfloat16")
    assert resolved({"backend": "onnx"}) == ("onnx", "int8")
    assert resolved({"backend": "torch"}) == ("torch", "float32")


def test_the_default_is_torch_float32_on_a_gpu_or_without_onnx_runtime(monkeypatch):
    from pivotrec.plugins.encoders import sentence_transformers

    monkeypatch.setattr(sentence_transformers, "_gpu_for_torch", lambda: True)
    assert resolved({}) == ("torch", "float32")
    assert resolved({"device": "cuda"}) == ("torch", "float32")
    assert resolved({"device": "cpu"}) == ("onnx", "int8")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if it were not installed
    assert resolved({"device": "cpu"}) == ("torch", "float32")


@pytest.mark.parametrize(
    ("driver", "built_for", "visible", "expected"),
    [
        (True, "'12.4'", None, True),
        (True, "None", None, False),  # a CPU build of torch sees no GPU
        (False, "'12.4'", None, False),  # no NVIDIA driver
        (True, "'12.4'", "", False),  # every GPU hidden
        (True, "'12.4'", "0", True),
    ],
)
def test_a_gpu_for_torch_is_judged_without_importing_it(tmp_path, monkeypatch, driver, built_for, visible, expected):
    import importlib.machinery

    from pivotrec.plugins.encoders import sentence_transformers

    package = tmp_path / "torch"
    package.mkdir()
    (package / "__init__.py").write_text("raise ImportError('never imported')\n")
    (package / "version.py").write_text(f"from typing import Optional\ncuda: Optional[str] = {built_for}\n")
    spec = importlib.machinery.ModuleSpec("torch", None, origin=str(package / "__init__.py"))
    monkeypatch.setattr(sentence_transformers.importlib.util, "find_spec", lambda name: spec if name == "torch" else None)
    monkeypatch.setattr(sentence_transformers.shutil, "which", lambda name: "/usr/bin/nvidia-smi" if driver else None)
    monkeypatch.setattr(sentence_transformers.Path, "exists", lambda self: False)  # no /proc/driver/nvidia
    if visible is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert sentence_transformers._gpu_for_torch() is expected


@pytest.mark.parametrize(("backend", "module"), [("onnx", "onnxruntime"), ("openvino", "openvino"), ("openvino", "onnx")])
def test_a_missing_backend_module_names_the_extra(monkeypatch, backend, module):
    monkeypatch.setitem(sys.modules, module, None)  # as if it were not installed
    expected = rf"encoder 'sentence-transformers': the '{backend}' encoder backend needs {module}, which is not installed: pip install 'pivotrec\[{backend}\]'"
    with pytest.raises(ModelUnavailableError, match=expected):
        ready_plugin("encoder", "sentence-transformers", {"backend": backend})


@pytest.fixture(scope="module")
def torch_float32() -> np.ndarray:
    return ready_plugin("encoder", "sentence-transformers", SETTINGS[0]).encode(TEXTS, "passage")


def require_runtime(backend: str) -> None:
    module = {"onnx": "onnxruntime", "openvino": "openvino"}.get(backend)
    if module is not None:
        pytest.importorskip(module, reason=f"the {backend} backend needs {module} (pip install 'pivotrec[{backend}]')")


@pytest.mark.slow
@pytest.mark.parametrize(("setting", "least_cosine"), [(SETTINGS[1], 0.99), (SETTINGS[2], 0.9999), (SETTINGS[3], 0.95), (SETTINGS[4], 0.9999)], ids=lambda s: str(s))
def test_each_backend_agrees_with_torch_float32(setting, least_cosine, torch_float32):
    require_runtime(setting["backend"])
    vectors = ready_plugin("encoder", "sentence-transformers", setting).encode(TEXTS, "passage")
    assert vectors.shape == torch_float32.shape and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert np.min(np.sum(vectors * torch_float32, axis=1)) > least_cosine
    # Still a sentence encoder: the kitten is nearer the cat than the stock market is.
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


@pytest.mark.slow
def test_the_onnx_export_is_cached_under_the_models_dir_and_reused():
    require_runtime("onnx")
    ready_plugin("encoder", "sentence-transformers", {"backend": "onnx", "precision": "int8"})
    exports = sorted((Path(os.environ["PIVOTREC_MODELS"]) / "encoders").glob("*/*.onnx"))
    assert [p.name for p in exports] == ["model-int8.onnx", "model.onnx"]
    assert not list(exports[0].parent.glob(".*partial*"))  # no half-written file left behind
    written = [p.stat().st_mtime_ns for p in exports]
    ready_plugin("encoder", "sentence-transformers", {"backend": "onnx", "precision": "int8"})
    assert [p.stat().st_mtime_ns for p in exports] == written


@pytest.mark.slow
def test_bundled_minilm_reads_128_word_pieces_by_default(torch_float32):
    long_text = [" ".join(itertools.repeat("the weather in the mountains changes quickly", 40))]
    default = ready_plugin("encoder", "sentence-transformers").encode(long_text, "passage")
    at_128 = ready_plugin("encoder", "sentence-transformers", {"max_seq_length": 128}).encode(long_text, "passage")
    at_256 = ready_plugin("encoder", "sentence-transformers", {"max_seq_length": 256}).encode(long_text, "passage")
    assert np.allclose(default, at_128, atol=1e-6)
    assert not np.allclose(default, at_256, atol=1e-3)
