"""pivotrec index: a persistent index folder, reopened without pickle, rebuilt when its inputs change, crash-safe."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pivotrec.pipeline.config import load_config
from pivotrec.pipeline.errors import InputError
from pivotrec.pipeline.index.search import IndexSearcher
from pivotrec.pipeline.index.store import build_index, current_version, open_index
from pivotrec.pipeline.io import read_items, read_users
from pivotrec.pipeline.protocols import OPTIONAL_METHODS, Persists
from pivotrec.pipeline.records import User
from pivotrec.pipeline.runner import Pipeline
from pivotrec.plugins.rankers.bm25 import RankBM25Ranker
from pivotrec.plugins.rankers.bm25_fast import SparseBM25Ranker
from pivotrec.plugins.rankers.dense import DenseRanker

ITEMS = [
    {"id": "en-bike", "text": "Repairing bicycle brakes at home.", "lang": "en"},
    {"id": "es-bike", "text": "Cómo reparar los frenos de la bicicleta.", "lang": "es"},
    {"id": "de-bread", "text": "Ein Rezept für Sauerteigbrot.", "lang": "de"},
    {"id": "en-bread", "text": "Baking sourdough bread with a starter.", "lang": "en"},
    {"id": "fr-coffee", "text": "Préparer un bon café filtre.", "lang": "fr"},
    {"id": "en-coffee", "text": "Brewing filter coffee by hand.", "lang": "en"},
]
USERS = [
    {"id": "cyclist", "text": "bicycle brakes", "lang": "en"},
    {"id": "baker", "history": ["de-bread"]},
    {"id": "both", "text": "coffee", "lang": "en", "history": ["en-bike"]},
]
RANKERS = "[{plugin: bm25-fast}, {plugin: dense}, {plugin: bm25, name: plain}]"


def write_config(write, rankers: str = RANKERS, items=ITEMS) -> Path:
    write("items.jsonl", "".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items))
    write("users.jsonl", "".join(json.dumps(u) + "\n" for u in USERS))
    return write(
        "run.yaml",
        f"input: {{items: items.jsonl, users: users.jsonl}}\ntranslator: {{plugin: identity}}\nembedding_cache: emb.sqlite\n"
        f"encoder: {{plugin: use}}\nrankers: {rankers}\n",
    )


def ranked(recommendations) -> list[tuple[str, str, float, tuple[str, ...]]]:
    return [(r.user_id, r.item_id, round(r.score, 6), r.explanations) for r in recommendations]


def test_save_and_load_are_a_declared_optional_ranker_ability():
    assert {"save", "load"} <= set(OPTIONAL_METHODS["ranker"])
    assert issubclass(SparseBM25Ranker, Persists) and issubclass(DenseRanker, Persists)
    assert not issubclass(RankBM25Ranker, Persists)


def test_a_reopened_index_answers_exactly_like_a_fresh_run(write, tmp_path):
    config = load_config(write_config(write))
    result = build_index(config, tmp_path / "ix")
    assert result.built and result.reason == "built: no index yet" and result.items == len(ITEMS)
    folder = current_version(tmp_path / "ix")
    assert folder is not None
    assert {p.name for p in folder.iterdir()} == {"manifest.json", "config.json", "config.yaml", "documents.jsonl", "users.jsonl", "vectors", "rankers"}
    manifest = json.loads((folder / "manifest.json").read_text())
    saved = {r["label"]: r["saved"] for r in manifest["rankers"]}
    assert saved == {"bm25-fast": "rankers/0", "dense": "rankers/1", "plain": None}  # rank-bm25 cannot persist: re-indexed on open

    fresh = Pipeline(load_config(tmp_path / "run.yaml")).run(read_items(tmp_path / "items.jsonl"), read_users(tmp_path / "users.jsonl"))
    assert len(fresh.recommendations) > 6, "every user gets results to compare"
    stored = open_index(tmp_path / "ix")
    assert [d.id for d in stored.documents] == [i["id"] for i in ITEMS]
    assert stored.documents[1].translation.src_lang == "es" and stored.documents[1].translation.translator == "identity"
    searcher = IndexSearcher(stored)
    reopened = [r for user in stored.users for r in searcher.answer(user, config.recommend.top_k).recommendations]
    assert ranked(reopened) == ranked(fresh.recommendations)
    # Item vectors come from the index and the users' texts from the embedding cache: only the warm-up query is new.
    assert searcher.pipeline.summary.vectors_encoded == 1


def test_a_free_text_query_in_another_language_finds_the_matching_items(write, tmp_path):
    build_index(load_config(write_config(write)), tmp_path / "ix")
    searcher = IndexSearcher(open_index(tmp_path / "ix"))
    answer = searcher.answer(User("q", "frenos de bicicleta", lang="es"), 3)
    assert answer.query is not None and answer.query.lang == "es"
    assert answer.recommendations[0].item_id in {"es-bike", "en-bike"}
    with pytest.raises(InputError, match=r"history\[1\]: item 'nope'"):
        searcher.answer(User("q", history=("en-bike", "nope")), 3)


def test_the_same_config_is_not_rebuilt_and_a_changed_one_is_rebuilt_saying_why(write, tmp_path):
    path = write_config(write)
    first = build_index(load_config(path), tmp_path / "ix")
    again = build_index(load_config(path), tmp_path / "ix")
    assert (again.built, again.folder, again.reason) == (False, first.folder, "up to date (same fingerprint)")
    assert build_index(load_config(path), tmp_path / "ix", force=True).reason == "rebuilt on request (--force)"

    path = write_config(write, rankers="[{plugin: bm25-fast, params: {k1: 1.2}}, {plugin: dense}, {plugin: bm25, name: plain}]")
    changed = build_index(load_config(path), tmp_path / "ix")
    assert changed.built and changed.reason == "rebuilt: changed rankers[0] bm25-fast"
    assert changed.fingerprint.digest != first.fingerprint.digest

    path = write_config(write, rankers="[{plugin: bm25-fast, params: {k1: 1.2}}, {plugin: dense}, {plugin: bm25, name: plain}]", items=ITEMS[:-1])
    fewer = build_index(load_config(path), tmp_path / "ix")
    assert fewer.reason == "rebuilt: changed input.items" and fewer.items == len(ITEMS) - 1
    assert [p.name for p in (tmp_path / "ix").iterdir() if p.name.startswith("v-")] == [fewer.folder.name], "old versions are removed"


def test_a_failed_build_leaves_the_previous_index_in_use(write, tmp_path, monkeypatch):
    config = load_config(write_config(write))
    first = build_index(config, tmp_path / "ix")

    def broken(self, directory):
        raise OSError("disk full")

    monkeypatch.setattr(DenseRanker, "save", broken)
    with pytest.raises(OSError, match="disk full"):
        build_index(config, tmp_path / "ix", force=True)
    assert current_version(tmp_path / "ix") == first.folder
    assert not list((tmp_path / "ix").glob(".building-*")), "a failed build removes its work folder"
    assert len(open_index(tmp_path / "ix").documents) == len(ITEMS)


def test_a_killed_build_leaves_the_previous_index_and_the_next_build_clears_its_remains(write, tmp_path):
    path = write_config(write)
    first = build_index(load_config(path), tmp_path / "ix")
    # A build that dies (like kill -9) half-way through writing its version: no cleanup runs.
    script = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from pivotrec.pipeline.config import load_config\n"
        "from pivotrec.pipeline.index import store\n"
        "from pivotrec.plugins.rankers.dense import DenseRanker\n"
        "DenseRanker.save = lambda self, directory: os._exit(9)\n"
        "store.build_index(load_config(sys.argv[1]), Path(sys.argv[2]), force=True)\n"
    )
    killed = subprocess.run([sys.executable, "-c", script, str(path), str(tmp_path / "ix")], capture_output=True, text=True, timeout=300)
    assert killed.returncode == 9, killed.stderr
    assert list((tmp_path / "ix").glob(".building-*")), "the killed build left its half-written folder"
    assert current_version(tmp_path / "ix") == first.folder
    assert len(open_index(tmp_path / "ix").documents) == len(ITEMS)

    rebuilt = build_index(load_config(path), tmp_path / "ix", force=True)
    assert rebuilt.built and current_version(tmp_path / "ix") == rebuilt.folder
    assert not list((tmp_path / "ix").glob(".building-*"))


def test_opening_never_unpickles(write, tmp_path):
    build_index(load_config(write_config(write)), tmp_path / "ix")
    folder = current_version(tmp_path / "ix")
    assert folder is not None
    np.save(folder / "vectors" / "0.npy", np.array([object()] * len(ITEMS), dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="the index cannot be read.*allow_pickle"):
        open_index(tmp_path / "ix")


def test_opening_a_folder_without_an_index_says_how_to_build_one(tmp_path):
    with pytest.raises(InputError, match="no index here.*pivotrec index"):
        open_index(tmp_path)


def test_the_index_command_builds_then_reports_up_to_date(write, tmp_path):
    from pivotrec.pipeline.cli import main

    path = write_config(write)
    assert main(["-q", "index", str(path), "--out", str(tmp_path / "cli-ix")]) == 0
    assert current_version(tmp_path / "cli-ix") is not None
    assert main(["-q", "index", str(path), "--out", str(tmp_path / "cli-ix")]) == 0


def test_upsert_and_delete_answer_like_a_full_rebuild_of_the_final_catalogue(write, tmp_path):
    from pivotrec.pipeline.index.update import update_index
    from pivotrec.pipeline.records import Item

    config = load_config(write_config(write))
    build_index(config, tmp_path / "ix")
    upserts = [
        Item("es-bike", "Cómo ajustar los frenos de la bicicleta de carretera.", "es"),  # changed
        Item("en-tea", "Green tea steeped for two minutes.", "en"),  # new
        Item("en-bike", "Repairing bicycle brakes at home.", "en"),  # unchanged
    ]
    searcher = IndexSearcher(open_index(tmp_path / "ix"))
    searcher.warm_up()
    translated_before = searcher.pipeline.summary.translation.texts
    result = update_index(tmp_path / "ix", upserts, ["fr-coffee"], searcher)
    assert (result.added, result.changed, result.unchanged, result.deleted) == (1, 1, 1, 1)
    assert searcher.pipeline.summary.translation.texts - translated_before == 2, "only new or changed texts are translated"
    assert json.loads((result.folder / "manifest.json").read_text())["updates"][0]["deleted"] == 1

    # The same final catalogue (same order: replaced in place, new at the end), built from scratch.
    final = [{**i, "text": upserts[0].text} if i["id"] == "es-bike" else i for i in ITEMS if i["id"] != "fr-coffee"]
    final.append({"id": "en-tea", "text": upserts[1].text, "lang": "en"})
    full = build_index(load_config(write_config(write, items=final)), tmp_path / "full")
    rebuilt = IndexSearcher(open_index(tmp_path / "full"))
    reopened = IndexSearcher(open_index(tmp_path / "ix"))
    for user in [*open_index(tmp_path / "full").users, User("q", "frenos de carretera", lang="es"), User("t", "tea")]:
        expected = ranked(rebuilt.answer(user, 5).recommendations)
        assert ranked(searcher.answer(user, 5).recommendations) == expected, "the service's searcher, updated in place"
        assert ranked(reopened.answer(user, 5).recommendations) == expected, "the updated index, reopened"
    assert full.items == len(reopened.documents)
    with pytest.raises(InputError, match=r"delete: 1 id\(s\) not in the index: \['gone'\]"):
        update_index(tmp_path / "ix", (), ["gone"], searcher)


def test_a_killed_update_leaves_the_previous_index_usable(write, tmp_path):
    path = write_config(write)
    first = build_index(load_config(path), tmp_path / "ix")
    script = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from pivotrec.pipeline.index.update import update_index\n"
        "from pivotrec.pipeline.records import Item\n"
        "from pivotrec.plugins.rankers.dense import DenseRanker\n"
        "DenseRanker.save = lambda self, directory: os._exit(9)\n"
        "update_index(Path(sys.argv[1]), [Item('new', 'A brand new item.', 'en')], ['en-bike'])\n"
    )
    killed = subprocess.run([sys.executable, "-c", script, str(tmp_path / "ix")], capture_output=True, text=True, timeout=300)
    assert killed.returncode == 9, killed.stderr
    assert current_version(tmp_path / "ix") == first.folder
    assert [d.id for d in open_index(tmp_path / "ix").documents] == [i["id"] for i in ITEMS]


def test_the_index_command_upserts_and_deletes_but_refuses_another_config(write, tmp_path):
    from pivotrec.pipeline.cli import main

    path = write_config(write)
    assert main(["-q", "index", str(path), "--out", str(tmp_path / "ix")]) == 0
    new = write("new.jsonl", json.dumps({"id": "en-tea", "text": "Green tea.", "lang": "en"}) + "\n")
    ids = write("ids.txt", "# gone\nfr-coffee\n")
    assert main(["-q", "index", str(path), "--out", str(tmp_path / "ix"), "--upsert", str(new), "--delete", str(ids)]) == 0
    assert {d.id for d in open_index(tmp_path / "ix").documents} == {i["id"] for i in ITEMS} - {"fr-coffee"} | {"en-tea"}
    other = write_config(write, rankers="[{plugin: bm25-fast, params: {k1: 1.1}}, {plugin: dense}, {plugin: bm25, name: plain}]")
    assert main(["-q", "index", str(other), "--out", str(tmp_path / "ix"), "--upsert", str(new)]) == 2  # error: built from another config
    # The catalogue file did not change, but the index did: building from the file again rebuilds it.
    path = write_config(write)
    assert build_index(load_config(path), tmp_path / "ix").reason == "rebuilt: changed input.items"


def start_waiting(root: Path, *cli_args: str) -> subprocess.Popen[str]:
    """Start ``pivotrec index`` on ``root`` (locked by the caller) and return once it says it is waiting for the lock."""
    process = subprocess.Popen(
        [sys.executable, "-m", "pivotrec.pipeline.cli", "-q", "index", *cli_args, "--out", str(root)], stderr=subprocess.PIPE, text=True
    )
    assert process.stderr is not None
    said = []
    for line in process.stderr:
        said.append(line)
        if f"waiting for another build or update of {root}" in line:
            return process
    process.wait()
    pytest.fail(f"pivotrec index never waited for the lock; its stderr: {''.join(said)}")


def finish(process: subprocess.Popen[str]) -> None:
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr


def answers(root: Path, users: list[User]) -> list[tuple[str, str, float, tuple[str, ...]]]:
    searcher = IndexSearcher(open_index(root))
    return [r for user in users for r in ranked(searcher.answer(user, 10).recommendations)]


def test_two_concurrent_builds_wait_for_each_other_and_leave_one_index_like_a_single_build(write, tmp_path):
    from pivotrec.pipeline.index.store import writing

    path = write_config(write)
    root = tmp_path / "ix"
    root.mkdir()
    # Both builds start while the lock is held, so they surely contend for it once it is released.
    with writing(root):
        builds = [start_waiting(root, str(path), "--force") for _ in range(2)]
    for build in builds:
        finish(build)
    versions = [p.name for p in root.iterdir() if p.name.startswith("v-")]
    assert versions == [current_version(root).name] and not list(root.glob(".building-*"))

    build_index(load_config(path), tmp_path / "single")
    users = [*open_index(root).users, User("q", "frenos de bicicleta", lang="es")]
    assert answers(root, users) == answers(tmp_path / "single", users)


def test_two_concurrent_upserts_both_land_and_answer_like_a_single_build(write, tmp_path):
    from pivotrec.pipeline.index.store import writing

    path = write_config(write)
    root = tmp_path / "ix"
    build_index(load_config(path), root)
    new = [{"id": "en-tea", "text": "Green tea steeped for two minutes.", "lang": "en"}, {"id": "es-te", "text": "Té verde en infusión.", "lang": "es"}]
    files = [write(f"new-{n}.jsonl", json.dumps(item, ensure_ascii=False) + "\n") for n, item in enumerate(new)]
    with writing(root):
        updates = [start_waiting(root, str(path), "--upsert", str(file)) for file in files]
    for update in updates:
        finish(update)
    # Each update read the index the other left (no lost update); a single build of that catalogue answers the same.
    documents = open_index(root).documents
    assert sorted(d.id for d in documents) == sorted([*(i["id"] for i in ITEMS), "en-tea", "es-te"])
    assert len(json.loads((current_version(root) / "manifest.json").read_text())["updates"]) == 2
    by_id = {i["id"]: i for i in [*ITEMS, *new]}
    build_index(load_config(write_config(write, items=[by_id[d.id] for d in documents])), tmp_path / "single")
    users = [*open_index(root).users, User("q", "té verde", lang="es")]
    assert answers(root, users) == answers(tmp_path / "single", users)
