"""The embedding cache: shared by runs, keyed by encoder settings, mode and text."""

from __future__ import annotations

import json
import stat

import numpy as np

from pivotrec.pipeline.config import load_config
from pivotrec.pipeline.embedding_cache import EmbeddingCache
from pivotrec.pipeline.runner import Pipeline

ITEMS = [
    {"id": "en-bike", "text": "Repairing bicycle brakes at home.", "lang": "en"},
    {"id": "es-bike", "text": "Cómo reparar los frenos de la bicicleta.", "lang": "es"},
    {"id": "de-bread", "text": "Ein Rezept für Sauerteigbrot.", "lang": "de"},
]
USERS = [{"id": "u", "text": "bicycle repair", "lang": "en"}, {"id": "h", "history": ["es-bike"]}]


def config_file(write, encoder: str = "{plugin: use}"):
    write("items.jsonl", "".join(json.dumps(i, ensure_ascii=False) + "\n" for i in ITEMS))
    write("users.jsonl", "".join(json.dumps(u) + "\n" for u in USERS))
    return write("run.yaml", f"input: {{items: items.jsonl, users: users.jsonl}}\ntranslator: null\nembedding_cache: emb.sqlite\nencoder: {encoder}\nrankers: [{{plugin: dense}}]\n")


def run(write, encoder: str = "{plugin: use}"):
    return Pipeline(load_config(config_file(write, encoder))).run_files()


def test_a_second_run_reads_every_vector_from_the_cache_and_recommends_the_same(write, tmp_path):
    first = run(write)
    assert (first.summary.vectors_encoded, first.summary.vectors_from_cache) == (4, 0)  # 3 passages, 1 query text
    second = run(write)
    assert (second.summary.vectors_encoded, second.summary.vectors_from_cache) == (0, 4)
    assert [(r.user_id, r.item_id, r.score) for r in second.recommendations] == [(r.user_id, r.item_id, r.score) for r in first.recommendations]
    assert stat.S_IMODE((tmp_path / "emb.sqlite").stat().st_mode) == 0o600, "it holds users' texts' vectors"


def test_a_run_whose_vectors_are_all_cached_loads_no_encoder_but_a_service_loads_it_at_start(write, monkeypatch):
    from pivotrec.plugins.encoders.use import UniversalSentenceEncoder

    loads: list[int] = []
    real = UniversalSentenceEncoder.warm_up
    monkeypatch.setattr(UniversalSentenceEncoder, "warm_up", lambda self: (loads.append(1), real(self))[1])
    run(write)
    assert loads == [1], "the first run encodes, so it loads the model once"
    second = run(write)
    assert second.summary.vectors_encoded == 0 and loads == [1], "every vector cached: no model loaded"
    Pipeline(load_config(config_file(write))).warm_up(every_model=True)
    assert loads == [1, 1], "a service loads every model before its first request"


def test_other_encoder_settings_never_share_vectors(write):
    run(write, "{plugin: use, params: {threads: 1}}")
    other = run(write, "{plugin: use, params: {threads: 2}}")
    assert other.summary.vectors_from_cache == 0


def test_query_and_passage_vectors_are_kept_apart(tmp_path):
    cache = EmbeddingCache(tmp_path / "c.sqlite")
    cache.put_many("enc|passage", ["hola"], np.array([[1.0, 0.0]], dtype=np.float32))
    assert cache.get_many("enc|query", ["hola"]) == {}
    [vector] = cache.get_many("enc|passage", ["hola"]).values()
    assert vector.dtype == np.float32 and vector.tolist() == [1.0, 0.0]
