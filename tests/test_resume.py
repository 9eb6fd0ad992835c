"""A run killed mid-translation resumes from the cache: finished batches are not redone."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

from .conftest import REPO

# Run in a child process so that SIGKILL ends it abruptly, mid-batch, with no cleanup.
RUN = r"""
import json, os, signal, sys
from pivotrec.pipeline.config import validate
from pivotrec.pipeline.records import Item, User
from pivotrec.pipeline.runner import Pipeline
from pivotrec.pipeline.stages.translate import NamedTranslator

cache, kill_at_call = sys.argv[1], int(sys.argv[2])

class Tagger:
    calls = 0
    def supports(self, src, tgt):
        return True
    def translate(self, texts, src, tgt):
        Tagger.calls += 1
        if Tagger.calls == kill_at_call:
            os.kill(os.getpid(), signal.SIGKILL)
        return ["translated " + t.replace("numero", "number") for t in texts]

config = validate({"translator": {"plugin": "identity", "cache": cache}, "rankers": [{"plugin": "bm25-fast"}]})
pipeline = Pipeline(config)
pipeline.engine.translate_stage.translator = NamedTranslator("tagger", Tagger(), "v1")
pipeline.engine.translate_stage.batch_size = 5
items = [Item(f"i{n}", f"texto numero {n} sobre el tema {n % 7}", "es") for n in range(40)]
users = [User("u1", "number 3 tema", (), "en"), User("u2", "tema 5", ("i5",), "en")]
result = pipeline.run(items, users)
print(json.dumps({
    "calls": Tagger.calls,
    "cache_hits": result.summary.translation.cache_hits,
    "pivots": {d.id: d.pivot for d in result.documents.values()},
    "recommendations": [[r.user_id, r.item_id, round(r.score, 9)] for r in result.recommendations],
}))
"""


def run(cache, kill_at_call=0):
    return subprocess.run([sys.executable, "-c", RUN, str(cache), str(kill_at_call)], cwd=REPO, capture_output=True, text=True)


def test_a_killed_run_resumes_without_redoing_finished_batches(tmp_path):
    # 40 texts in batches of 5: killed during the 4th batch, after 3 were stored.
    killed = run(tmp_path / "cache.sqlite", kill_at_call=4)
    assert killed.returncode == -signal.SIGKILL, killed.stderr

    resumed = run(tmp_path / "cache.sqlite")
    assert resumed.returncode == 0, resumed.stderr
    after = json.loads(resumed.stdout)
    assert after["cache_hits"] == 15, "the three finished batches come from the cache"
    assert after["calls"] == 5, "only the five unfinished batches are translated"

    uninterrupted = json.loads(run(tmp_path / "fresh.sqlite").stdout)
    assert uninterrupted["calls"] == 8 and uninterrupted["cache_hits"] == 0
    assert after["pivots"] == uninterrupted["pivots"]
    assert after["recommendations"] == uninterrupted["recommendations"]
