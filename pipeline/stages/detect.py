from __future__ import annotations

from collections.abc import Sequence

from pivotrec.pipeline.protocols import Detector
from pivotrec.pipeline.records import Detection

DECLARED = "declared"


class DetectStage:
    """Language of each text: a declared language wins; the detector fills in the rest.

    Texts are case-folded first, so ``HOLA``, ``Hola`` and ``hola`` get one
    answer (capitals mislead character n-gram models on short text). A
    detector answers ``und`` (``stats.UNDETERMINED``) where its confidence is
    below its threshold: the translate stage keeps such text in the original
    and the summary counts it. An answer it is unsure of (below its
    ``low_confidence``) is flagged ``Detection.low_confidence``; a declared
    language never is.
    """

    def __init__(self, detector: Detector) -> None:
        self.detector = detector

    def run(self, texts: Sequence[str], declared: Sequence[str | None]) -> list[Detection]:
        undeclared = [i for i, lang in enumerate(declared) if not lang]
        detected = self.detector.detect([texts[i].casefold() for i in undeclared]) if undeclared else []
        if len(detected) != len(undeclared):
            raise ValueError(f"detector returned {len(detected)} detections for {len(undeclared)} texts")
        found = dict(zip(undeclared, detected, strict=True))
        return [
            found[i] if i in found else Detection(lang=str(lang), confidence=1.0, detector=DECLARED)
            for i, lang in enumerate(declared)
        ]
