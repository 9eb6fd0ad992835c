from __future__ import annotations

from collections.abc import Sequence

from pivotrec.pipeline.protocols import Detector
from pivotrec.pipeline.records import Detection

DECLARED = "declared"


class DetectStage:
    """Language of each text: a declared language wins; the detector fills in the rest."""

    def __init__(self, detector: Detector) -> None:
        self.detector = detector

    def run(self, texts: Sequence[str], declared: Sequence[str | None]) -> list[Detection]:
        undeclared = [i for i, lang in enumerate(declared) if not lang]
        detected = self.detector.detect([texts[i] for i in undeclared]) if undeclared else []
        if len(detected) != len(undeclared):
            raise ValueError(f"detector returned {len(detected)} detections for {len(undeclared)} texts")
        found = dict(zip(undeclared, detected, strict=True))
        return [
            found[i] if i in found else Detection(lang=str(lang), confidence=1.0, detector=DECLARED)
            for i, lang in enumerate(declared)
        ]
