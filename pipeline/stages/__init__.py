"""One module per stage. A stage does one thing, takes and returns typed
records, and knows nothing of YAML; the runner wires them together."""

from pivotrec.pipeline.stages.detect import DetectStage
from pivotrec.pipeline.stages.encode import EncodeStage
from pivotrec.pipeline.stages.fuse import FuseStage
from pivotrec.pipeline.stages.normalise import NormaliseStage
from pivotrec.pipeline.stages.recommend import ProfileStage, RecommendStage
from pivotrec.pipeline.stages.retrieve import RetrieveStage
from pivotrec.pipeline.stages.translate import TranslateStage

__all__ = ["DetectStage", "EncodeStage", "FuseStage", "NormaliseStage", "ProfileStage", "RecommendStage", "RetrieveStage", "TranslateStage"]
