"""Where the heavy stages run: in this process, or on Ray Data actor pools.

Both engines translate and encode behind one interface, so the runner orders
stages without knowing which engine does the work.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from pivotrec.pipeline.build import Builder
from pivotrec.pipeline.config import RunConfig
from pivotrec.pipeline.errors import stage_errors
from pivotrec.pipeline.protocols import EncodeMode
from pivotrec.pipeline.refs import EncoderRef
from pivotrec.pipeline.embedding_cache import EmbeddingCache
from pivotrec.pipeline.stages import EncodeStage
from pivotrec.pipeline.stages.encode import Encoded
from pivotrec.pipeline.stages.translate import TranslateResult


class Engine(Protocol):
    def translate(self, ids: Sequence[str], texts: Sequence[str], langs: Sequence[str]) -> TranslateResult:
        """Translations of ``texts`` (in order) with their counts."""
        ...

    def encode(self, encoder: EncoderRef, texts: Sequence[str], mode: EncodeMode) -> Encoded:
        """One unit vector per text from ``encoder``, with what the embedding cache served."""
        ...

    def warm_up(self, every_model: bool = False) -> None:
        """Load the translators (and, with ``every_model``, the encoders) where they will run, once.
        An encoder not loaded here loads before the first text its embedding cache lacks."""
        ...


class LocalEngine:
    """Translates and encodes in this process with plugins from the run's builder."""

    def __init__(self, config: RunConfig, builder: Builder) -> None:
        self.builder = builder
        self.translate_stage = builder.translate_stage(config.translator, config.pivot)
        self.translator_name = config.translator.plugin if config.translator else "none"
        self.translators = [config.translator, config.translator.fallback if config.translator else None]
        self.encoder_refs = config.encoders()
        cache = EmbeddingCache(config.embedding_cache) if config.embedding_cache else None
        self.encoders: dict[str, EncodeStage] = {
            ref.resolved.identity: EncodeStage(builder.build(ref), cache=cache, namespace=ref.resolved.identity, load=self._loader(ref))
            for ref in self.encoder_refs
        }

    def _loader(self, ref: EncoderRef) -> Callable[[], None]:
        def load() -> None:
            with stage_errors("warm-up", f"encoder {ref.plugin!r} ({ref.resolved.path})"):
                self.builder.warm_up([ref])

        return load

    def warm_up(self, every_model: bool = False) -> None:
        # Missing encoder models are named now, with the translators', even when they load later.
        self.builder.check_available(self.encoder_refs)
        self.builder.warm_up([*self.translators, *(self.encoder_refs if every_model else [])])

    def translate(self, ids: Sequence[str], texts: Sequence[str], langs: Sequence[str]) -> TranslateResult:
        with stage_errors("translate", f"translator {self.translator_name!r}"):
            return self.translate_stage.run(ids, texts, langs)

    def encode(self, encoder: EncoderRef, texts: Sequence[str], mode: EncodeMode) -> Encoded:
        with stage_errors("encode", f"encoder {encoder.plugin!r}"):
            return self.encoders[encoder.resolved.identity].run(texts, mode)


def make_engine(config: RunConfig, builder: Builder) -> Engine:
    if config.engine == "ray":
        from pivotrec.pipeline.distributed import RayEngine

        return RayEngine(config)
    return LocalEngine(config, builder)
