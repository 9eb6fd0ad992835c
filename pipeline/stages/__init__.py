"""One module per stage. A stage does one thing, takes and returns typed
records, and knows nothing of YAML; the runner wires them together."""

from pipeline.stages.detect import DetectStage
from pipeline.stages.encode import EncodeStage
from pipeline.stages.fuse import FuseStage
from pipeline.stages.normalise import NormaliseStage
from pipeline.stages.recommend import ProfileStage, RecommendStage
from pipeline.stages.retrieve import RetrieveStage
from pipeline.stages.translate import TranslateStage

__all__ = ["DetectStage", "EncodeStage", "FuseStage", "NormaliseStage", "ProfileStage", "RecommendStage", "RetrieveStage", "TranslateStage"]
