"""run and eval over a persistent index: built once, reused while its fingerprint matches, rebuilt saying why,
and answering exactly like a run that indexes the catalogue itself."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pivotrec.pipeline.cli import main
from pivotrec.pipeline.config import load_config
from pivotrec.pipeline.errors import InputError
from pivotrec.pipeline.evaluation.compare import compare
from pivotrec.pipeline.evaluation.datasets import write_dataset
from pivotrec.pipeline.index.reuse import IndexedPipeline, pipeline_for
from pivotrec.pipeline.index.store import build_index, current_version, open_index
from pivotrec.pipeline.io import read_items, read_users
from pivotrec.pipeline.runner import Pipeline
from tests.test_index import ITEMS, RANKERS, USERS, ranked, write_config

#: A config beside ``items.jsonl`` and ``users.jsonl``; each test adds its output and index.
BASE = f"input: {{items: items.jsonl, users: users.jsonl}}\ntranslator: {{plugin: identity}}\nembedding_cache: emb.sqlite\nencoder: {{plugin: use}}\nrankers: {RANKERS}\n"


def rounded(value: Any) -> Any:
    """``value`` with every float rounded to 6 places: equal up to float tolerance."""
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {key: rounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [rounded(item) for item in value]
    return value


def written(folder: Path) -> dict[str, list[dict[str, Any]]]:
    """The three files a run wrote into ``folder`` (recommendations, documents, errors), parsed."""
    files = {"output": "out.jsonl", "documents": "out.documents.jsonl", "errors": "out.errors.jsonl"}
    return {key: [rounded(json.loads(line)) for line in (folder / name).read_text(encoding="utf-8").splitlines()] for key, name in files.items()}


def index_line(pipeline: Pipeline) -> str:
    return next(line for line in pipeline.summary.lines() if line.startswith("index: "))


def test_run_builds_the_index_then_reuses_it_and_writes_what_a_plain_run_writes(write, tmp_path):
    # One item that cleans to nothing and one user whose history is gone: skipped and reported alike by every run.
    write("items.jsonl", "".join(json.dumps(i, ensure_ascii=False) + "\n" for i in [*ITEMS, {"id": "blank", "text": "<b></b>", "lang": "en"}]))
    write("users.jsonl", "".join(json.dumps(u) + "\n" for u in [*USERS, {"id": "lost", "history": ["gone"]}]))
    Pipeline(load_config(write("plain.yaml", BASE + "output: plain/out.jsonl\n"))).run_files()
    plain = written(tmp_path / "plain")
    assert len(plain["output"]) > 6 and len(plain["errors"]) == 2

    built = pipeline_for(load_config(write("built.yaml", BASE + "output: built/out.jsonl\nindex: run.index\n")))
    assert isinstance(built, IndexedPipeline) and built.root == tmp_path / "run.index", "resolved against the config's folder"
    built.run_files()
    assert built.build is not None and built.build.built
    assert index_line(built).startswith(f"index: built: no index yet; wrote {tmp_path / 'run.index'} (fingerprint ")
    assert written(tmp_path / "built") == plain
    assert [d.id for d in open_index(tmp_path / "run.index").documents] == [i["id"] for i in ITEMS], "the rows the run skips are not indexed"

    reused = pipeline_for(load_config(write("reused.yaml", BASE + "output: reused/out.jsonl\nindex: run.index\n")))
    reused.run_files()
    assert isinstance(reused, IndexedPipeline) and reused.build is not None and not reused.build.built
    assert index_line(reused) == (
        f"index: reused {tmp_path / 'run.index'} (fingerprint {reused.build.fingerprint.digest[:12]}): "
        f"{len(ITEMS)} items' documents and vectors read from it, none translated or encoded again"
    )
    # Only the two users' texts went through translate and encode (from the embedding cache); no item did.
    summary = reused.summary
    assert (summary.translation.texts, summary.vectors_encoded, summary.vectors_from_cache) == (2, 0, 2)
    assert "vectors: 0 encoded, 2 from the embedding cache" in summary.lines()
    assert written(tmp_path / "reused") == plain


def test_a_changed_config_rebuilds_the_index_saying_what_changed_and_a_serving_setting_does_not(write, tmp_path):
    path = write_config(write)
    items, users = read_items(tmp_path / "items.jsonl"), read_users(tmp_path / "users.jsonl")
    build_index(load_config(path), tmp_path / "ix")

    path = write_config(write, rankers="[{plugin: bm25-fast, params: {k1: 1.2}}, {plugin: dense}, {plugin: bm25, name: plain}]")
    changed = pipeline_for(load_config(path), index=tmp_path / "ix")
    result = changed.run(items, users)
    assert index_line(changed).startswith(f"index: rebuilt: changed rankers[0] bm25-fast; wrote {tmp_path / 'ix'} (fingerprint ")
    assert ranked(result.recommendations) == ranked(Pipeline(load_config(path)).run(items, users).recommendations)

    # top_k and fusion only change how results are served: the index is reused.
    fewer = load_config(path)
    fewer = fewer.model_copy(update={"recommend": fewer.recommend.model_copy(update={"top_k": 2})})
    served = pipeline_for(fewer, index=tmp_path / "ix")
    assert len(served.run(items, users).recommendations) == 2 * len(USERS)
    assert index_line(served).startswith(f"index: reused {tmp_path / 'ix'}")


def test_a_damaged_index_is_rebuilt_by_a_run_and_named_when_opened(write, tmp_path):
    config = load_config(write_config(write))
    items, users = read_items(tmp_path / "items.jsonl"), read_users(tmp_path / "users.jsonl")
    first = build_index(config, tmp_path / "ix")
    (first.folder / "documents.jsonl").write_text('{"id": "cut short', encoding="utf-8")
    with pytest.raises(InputError, match=r"documents\.jsonl: line 1 is not JSON"):
        open_index(tmp_path / "ix")

    expected = ranked(Pipeline(config).run(items, users).recommendations)
    repaired = pipeline_for(config, index=tmp_path / "ix")
    assert ranked(repaired.run(items, users).recommendations) == expected
    assert index_line(repaired).startswith("index: rebuilt: the index there cannot be used (") and "documents.jsonl: line 1 is not JSON" in index_line(repaired)

    (tmp_path / "ix" / "CURRENT").write_text("v-gone\n", encoding="utf-8")  # names a version that is not there
    pointed = pipeline_for(config, index=tmp_path / "ix")
    assert ranked(pointed.run(items, users).recommendations) == expected
    assert "rebuilt: the index there cannot be read (" in index_line(pointed) and "names 'v-gone'" in index_line(pointed)
    assert current_version(tmp_path / "ix") is not None

    # The index command rebuilds a damaged index too, rather than stopping with a traceback.
    (tmp_path / "ix" / "CURRENT").write_text("v-gone\n", encoding="utf-8")
    assert main(["-q", "index", str(tmp_path / "run.yaml"), "--out", str(tmp_path / "ix")]) == 0
    write("not-a-folder", "x")
    assert main(["-q", "index", str(tmp_path / "run.yaml"), "--out", str(tmp_path / "not-a-folder")]) == 2


def test_eval_reuses_the_index_its_config_names_and_ranks_like_a_plain_arm(write, tmp_path):
    qrels = {"cyclist": {"en-bike": 1, "es-bike": 1}, "baker": {"en-bread": 1}, "both": {"en-coffee": 1, "fr-coffee": 1}}
    write_dataset(tmp_path / "tiny", "tiny", ITEMS, USERS, qrels, "test data")
    plain = write("plain.yaml", BASE.split("\n", 1)[1])  # eval reads the dataset, not input
    indexed = write("indexed.yaml", plain.read_text() + "index: eval.index\n")
    _, arms = compare([plain, indexed, indexed], tmp_path / "tiny", ["ndcg@3"], quiet=True, isolate=False)
    assert arms[1].run == arms[0].run and arms[2].run == arms[0].run
    assert arms[1].summary[1].startswith(f"index: built: no index yet; wrote {tmp_path / 'eval.index'}")
    assert arms[2].summary[1].startswith(f"index: reused {tmp_path / 'eval.index'}")
    assert (arms[2].cost["vectors_encoded"], arms[2].cost["vectors_from_cache"]) == (0, 2), "only the queries' texts, from the cache"

    # Another catalogue under the same config: the index is rebuilt for it, and says so.
    write_dataset(tmp_path / "smaller", "smaller", ITEMS[:-1], USERS, {"cyclist": qrels["cyclist"]}, "test data")
    _, (smaller,) = compare([indexed], tmp_path / "smaller", ["ndcg@3"], quiet=True, isolate=False)
    assert smaller.summary[1].startswith("index: rebuilt: changed input.items;")


def test_run_and_eval_take_the_index_folder_on_the_command_line(write, tmp_path, capsys):
    write("items.jsonl", "".join(json.dumps(i, ensure_ascii=False) + "\n" for i in ITEMS))
    write("users.jsonl", "".join(json.dumps(u) + "\n" for u in USERS))
    config = write("cli.yaml", BASE + "output: cli/out.jsonl\n")
    for expected in ("index: built: no index yet", "index: reused"):
        assert main(["run", str(config), "--index", str(tmp_path / "cli.index"), "--show", "0", "--quiet"]) == 0
        printed = capsys.readouterr()
        assert expected in printed.out + printed.err
    write_dataset(tmp_path / "tiny", "tiny", ITEMS, USERS, {"cyclist": {"en-bike": 1}}, "test data")
    dataset_config = write("eval.yaml", BASE.split("\n", 1)[1])
    assert main(["-q", "eval", str(dataset_config), "--dataset", str(tmp_path / "tiny"), "--index", str(tmp_path / "eval.index"), "--in-process", "--out", str(tmp_path / "report")]) == 0
    assert current_version(tmp_path / "eval.index") is not None, "eval --index built the index there"
