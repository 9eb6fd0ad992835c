"""The demo, end to end through the CLI, with real detector, BM25 and (slow) the bundled encoder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pivotrec.pipeline import terminal
from pivotrec.pipeline.cli import main
from pivotrec.pipeline.config import load_config
from pivotrec.pipeline.runner import Pipeline

REPO = Path(__file__).resolve().parents[1]


def test_demo_catalogue_is_multilingual_and_large_enough():
    from pivotrec.pipeline.io import read_items

    items = read_items(REPO / "demo/items.jsonl")
    langs = {i.id.split("-")[0] for i in items}
    assert len(items) >= 60 and len(langs) >= 6


def test_demo_with_bm25_only(tmp_path):
    config = load_config(REPO / "configs/demo.yaml")
    config = config.model_copy(update={"encoder": None, "rankers": config.rankers[:1], "output": tmp_path / "out.jsonl"})
    result = Pipeline(config).run_files()
    assert result.summary.items_read == 66 and result.summary.users_read == 6
    by_user: dict[str, list] = {}
    for rec in result.recommendations:
        by_user.setdefault(rec.user_id, []).append(rec)
    # ana's history is two Spanish cooking items: they are never recommended back.
    assert not {"es-cook-1", "es-cook-2"} & {r.item_id for r in by_user["ana"]}
    # wei's Chinese Python history shares the token "python" with programming items in other languages.
    cross = [r for r in by_user["wei"] if r.item_id.endswith("code-1") and r.lang != "zh"]
    assert len(cross) >= 2 and all("matched python" in r.explanations[0] for r in cross)
    # claire's "entretien de vélo de montagne" ties two items, two words each: fr-bike-1 ("interview", the MT of entretien, and "bicycle"), es-bike-1 ("highland", "bicycle").
    assert {r.item_id for r in by_user["claire"][:2]} == {"fr-bike-1", "es-bike-1"}
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == len(result.recommendations)
    assert {"original", "pivot", "lang", "ranker_scores"} <= set(rows[0])


@pytest.mark.slow
def test_demo_command_end_to_end(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(terminal.console, "width", 400)  # one line per user line and per table cell
    out = tmp_path / "recs.jsonl"
    assert main(["--quiet", "run", str(REPO / "configs/demo.yaml"), "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Recommendations" in printed and "read 66 items and 6 users" in printed
    # The table says what its score is and marks machine-written English as such.
    assert "RRF score" in printed and "MT: machine translation" in printed and "(same)" not in printed
    assert "ana · history: " in printed and " · top 3 of 5" in printed
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 6 * 5
    assert all(set(r["ranker_scores"]) <= {"bm25-fast", "minilm", "use"} and r["ranker_scores"] for r in rows)
    # Every user's top 3 are on the user's topics, whatever the items' languages
    # (item ids are <lang>-<topic>-<n>).
    topics = {"ana": {"cook"}, "lukas": {"astro", "photo"}, "wei": {"code"}, "joao": {"garden"}, "claire": {"bike"}, "sam": {"money", "travel"}}
    for user, wanted in topics.items():
        top3 = [r["item_id"] for r in rows if r["user_id"] == user and r["rank"] <= 3]
        assert len(top3) == 3 and all(item.split("-")[1] in wanted for item in top3), (user, top3)
    # German and Chinese, with no MT offline, are glossed.
    documents = [json.loads(line) for line in out.with_suffix(".documents.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {d["lang"] for d in documents if "lexicon" in d["translator"]} == {"de", "zh"}


def test_validate_command_loads_no_model():
    # A fresh interpreter, so modules imported by other tests do not count.
    script = (
        "import sys; from pivotrec.pipeline.cli import main; "
        f"code = main(['validate', {str(REPO / 'configs/demo.yaml')!r}]); "
        "heavy = [m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules]; "
        "assert code == 0 and not heavy, heavy"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "valid" in done.stdout


def test_validate_reports_bad_config_with_exit_code(write, capsys):
    path = write("bad.yaml", "input: {items: a.jsonl, users: b.jsonl}\nrankers: [{plugin: bm52}]\n")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "rankers[0].plugin: unknown ranker 'bm52'" in err and "input.items: file not found" in err
