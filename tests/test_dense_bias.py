"""Language-bias removal in the dense ranker (``bias_removal: mean | lir``), on synthetic vectors."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from pivotrec.pipeline.records import Document, Query, Translation
from pivotrec.plugins.rankers.dense import DenseRanker, LanguageBias
from pivotrec.plugins.rankers.scoring import load_index

DIM = 32
TOPICS = 6
PER_TOPIC = 4


def doc(item_id: str, lang: str) -> Document:
    return Document(item_id, "t", lang, "t", None, Translation("t", "t", lang, "en", "none"))


def unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


def biased_catalogue(seed: int = 0) -> tuple[list[Document], np.ndarray, np.ndarray]:
    """Items of ``TOPICS`` topics in en and de: topic + a language offset + a high-variance
    language-specific "style" axis, the two things a multilingual encoder's language leaves in a vector.

    Returns the documents (ids ``<lang>-<topic>-<n>``), their unit vectors and
    one query: a fresh en vector of topic 0.
    """
    rng = np.random.default_rng(seed)
    topics = unit(rng.normal(size=(TOPICS, DIM)))
    offsets = {lang: 2.0 * unit(rng.normal(size=DIM)) for lang in ("en", "de")}
    styles = {lang: unit(rng.normal(size=DIM)) for lang in ("en", "de")}

    def make(lang: str, topic: int) -> np.ndarray:
        return topics[topic] + offsets[lang] + rng.normal(0.0, 1.0) * styles[lang] + rng.normal(0.0, 0.05, DIM)

    docs, rows = [], []
    for lang in ("en", "de"):
        for topic in range(TOPICS):
            for n in range(PER_TOPIC):
                docs.append(doc(f"{lang}-{topic}-{n}", lang))
                rows.append(make(lang, topic))
    query = np.stack([make("en", 0)])
    return docs, unit(np.stack(rows)).astype(np.float32), unit(query).astype(np.float32)


def top_ids(params: DenseRanker.Params, k: int, seed: int = 0, drop: str | None = None) -> list[str]:
    """The query's top ``k`` item ids; ``drop`` leaves out the items whose id starts with it."""
    docs, vectors, query = biased_catalogue(seed)
    keep = [n for n, d in enumerate(docs) if drop is None or not d.id.startswith(drop)]
    ranker = DenseRanker(params)
    ranker.index([docs[n] for n in keep], vectors[keep])
    return [h.item_id for h in ranker.search([Query("q", "")], query, k)[0]]


def topics_of(ids: list[str]) -> set[str]:
    return {item.rsplit("-", 1)[0] for item in ids}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lir_lets_the_nearest_neighbour_cross_languages(seed):
    lir = DenseRanker.Params(bias_removal="lir", lir_directions=2)  # the language offset and its style axis
    # Without its own-language twins, the en query's nearest neighbour is an
    # en item of another topic, unless LIR takes the language out.
    assert top_ids(DenseRanker.Params(), 1, seed, drop="en-0-")[0].startswith("en-")
    assert top_ids(lir, 1, seed, drop="en-0-")[0].startswith("de-0-")
    # With them, the same-topic items of both languages, and nothing else, lead the list.
    assert all(item.startswith("en-") for item in top_ids(DenseRanker.Params(), PER_TOPIC, seed))
    assert topics_of(top_ids(lir, 2 * PER_TOPIC, seed)) == {"en-0", "de-0"}


def test_mean_removal_alone_leaves_the_language_style_axis():
    # Seed 2 draws a query far out on the en style axis: centring is not enough.
    assert all(item.startswith("en-") for item in top_ids(DenseRanker.Params(bias_removal="mean"), 8, seed=2))


def test_lir_combines_with_per_language_rank():
    hits = top_ids(DenseRanker.Params(bias_removal="lir", lir_directions=2, per_language="rank"), 2)
    assert topics_of(hits) == {"en-0", "de-0"}


def test_fitted_means_and_directions_describe_each_language():
    docs, vectors, _ = biased_catalogue()
    langs = [d.lang for d in docs]
    bias = LanguageBias.fit(vectors, langs, "lir", 3)
    assert bias.languages == ("en", "de") and bias.pooled == ()
    assert bias.means.shape == (2, DIM) and bias.directions.shape == (2, 3, DIM)
    for code, lang in enumerate(bias.languages):
        own = vectors[[n for n, other in enumerate(langs) if other == lang]]
        np.testing.assert_allclose(bias.means[code], own.mean(axis=0), atol=1e-6)
        np.testing.assert_allclose(bias.directions[code] @ bias.directions[code].T, np.eye(3), atol=1e-5)
        # The first direction is the one the language's vectors share most.
        assert abs(bias.directions[code][0] @ unit(bias.means[code])) > 0.9
        cleaned = bias.remove(own, np.full(len(own), code))
        np.testing.assert_allclose(np.linalg.norm(cleaned, axis=1), 1.0, rtol=1e-5)
        np.testing.assert_allclose(cleaned @ bias.directions[code].T, 0.0, atol=1e-5)
    # A query is cleaned as the language whose mean it is nearest to.
    assert list(bias.nearest(vectors[[0, len(docs) - 1]])) == [0, 1]
    assert LanguageBias.fit(vectors, langs, "mean", 3).directions.shape == (2, 0, DIM)


def test_fitted_bias_survives_save_and_load(tmp_path):
    docs, vectors, query = biased_catalogue()
    params = DenseRanker.Params(bias_removal="lir", lir_directions=2, per_language="zscore")
    built = DenseRanker(params)
    built.index(docs, vectors)
    built.save(tmp_path / "dense")
    meta, arrays = load_index(tmp_path / "dense", "dense")
    assert meta["bias_removal"] == "lir:2" and meta["bias_languages"] == ["en", "de"]
    assert arrays["bias_means"].shape == (2, DIM) and arrays["bias_directions"].shape == (2, 2, DIM)
    loaded = DenseRanker(params)
    loaded.load(tmp_path / "dense")
    assert loaded.search([Query("q", "")], query, 10) == built.search([Query("q", "")], query, 10)


@pytest.mark.parametrize("params", [DenseRanker.Params(), DenseRanker.Params(bias_removal="lir", lir_directions=3)])
def test_load_refuses_an_index_built_with_other_bias_removal(tmp_path, params):
    docs, vectors, _ = biased_catalogue()
    built = DenseRanker(DenseRanker.Params(bias_removal="lir", lir_directions=2))
    built.index(docs, vectors)
    built.save(tmp_path / "dense")
    with pytest.raises(ValueError, match=r"built with bias_removal 'lir:2', but the params ask for '(off|lir:3)'"):
        DenseRanker(params).load(tmp_path / "dense")


def test_language_with_too_few_vectors_uses_the_catalogue_estimate():
    docs, vectors, query = biased_catalogue()
    swahili = [doc(f"sw-{n}", "sw") for n in range(2)]
    ranker = DenseRanker(DenseRanker.Params(bias_removal="lir", lir_directions=2))
    with pytest.warns(UserWarning, match=r"too few items \(at most 2\) to fit language\(s\) sw;"):
        ranker.index([*docs, *swahili], np.vstack([vectors, vectors[:2]]))
    hits = ranker.search([Query("q", "")], query, len(docs) + 2)[0]
    assert len(hits) == len(docs) + 2 and all(np.isfinite(h.score) for h in hits)


def test_mean_removal_needs_two_vectors_per_language():
    docs, vectors, _ = biased_catalogue()
    with pytest.warns(UserWarning, match=r"'mean': too few items \(at most 1\) to fit language\(s\) sw"):
        DenseRanker(DenseRanker.Params(bias_removal="mean")).index([*docs, doc("sw-0", "sw")], np.vstack([vectors, vectors[:1]]))


@pytest.mark.parametrize("field,value", [("lir_directions", 0), ("bias_removal", "pca")])
def test_bias_params_are_checked(field, value):
    with pytest.raises(ValidationError, match=field):
        DenseRanker.Params(**{field: value})


def test_ivf_search_removes_the_bias_like_exact_search():
    pytest.importorskip("faiss")
    exact = top_ids(DenseRanker.Params(bias_removal="lir", lir_directions=2), 10)
    assert top_ids(DenseRanker.Params(bias_removal="lir", lir_directions=2, search="ivf", nlist=1, nprobe=1), 10) == exact
