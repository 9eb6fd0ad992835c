"""Language detection with lingua, strong on short texts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pivotrec.pipeline.languages import LanguageCode
from pivotrec.pipeline.model_store import missing_package
from pivotrec.pipeline.records import Detection
from pivotrec.pipeline.stats import UNDETERMINED


class LinguaDetector:
    """lingua's n-gram detector; ``languages`` (ISO 639-1) narrows the candidates,
    which is faster and more accurate when the catalogue's languages are known."""

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        #: The only languages it may answer (ISO 639-1); None: every language lingua knows.
        languages: list[LanguageCode] | None = None
        #: lingua's low-accuracy mode: faster, weaker on short text.
        low_accuracy: bool = False
        #: Below this confidence the text is ``und`` (undetermined). lingua gives 0 to text in
        #: a script none of its languages uses; its confidences are relative, so short text
        #: in a known language scores low but rarely below 0.05.
        min_confidence: float = Field(0.05, ge=0.0, le=1.0)
        #: Below this confidence an answered language is flagged ``low_confidence`` (in the
        #: documents file and the summary). On 1- to 5-word FLORES snippets with ``languages``
        #: naming seven, at most 3 in 4 answers under 0.5 were right, and over 90% of those
        #: above. With every language, confidences are lower (a short text's is shared among
        #: similar languages): name the catalogue's languages, or lower this.
        low_confidence: float = Field(0.5, ge=0.0, le=1.0)

    name = "lingua"

    def __init__(self, params: Params) -> None:
        self.params = params
        self._detector: Any = None

    def unavailable_models(self) -> list[str]:
        return missing_package("lingua", "lingua-language-detector", "lingua's language models")

    def warm_up(self) -> None:
        from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

        if self.params.languages:
            codes = []
            for code in self.params.languages:
                try:
                    codes.append(getattr(IsoCode639_1, code.upper()))
                except AttributeError:
                    raise ValueError(f"lingua does not know language {code!r}") from None
            builder = LanguageDetectorBuilder.from_iso_codes_639_1(*codes)
        else:
            builder = LanguageDetectorBuilder.from_languages(*Language.all())
        if self.params.low_accuracy:
            builder = builder.with_low_accuracy_mode()
        self._detector = builder.build()

    def detect(self, texts: Sequence[str]) -> list[Detection]:
        if self._detector is None:
            raise RuntimeError("lingua: warm_up() was not called")
        out = []
        for text in texts:
            values = self._detector.compute_language_confidence_values(text)
            if not values:
                out.append(Detection(lang=UNDETERMINED, confidence=0.0, detector=self.name))
                continue
            best = values[0]
            score = min(max(float(best.value), 0.0), 1.0)
            if score < self.params.min_confidence:
                out.append(Detection(lang=UNDETERMINED, confidence=score, detector=self.name))
                continue
            lang = best.language.iso_code_639_1.name.lower()
            out.append(Detection(lang, score, self.name, low_confidence=score < self.params.low_confidence))
        return out
