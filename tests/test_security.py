"""User-supplied text, configs and saved files must never run code.

The behavioural checks live beside the features (YAML tags in test_config,
pickled arrays in test_rankers, Apertium's stdin in test_translators, hostile
SQL text in test_translation_cache, escaping in test_compare); these guard
the whole source tree against the constructs that would reopen those holes.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from .conftest import REPO

SOURCES = sorted(p for folder in ("pipeline", "plugins", "models") for p in (REPO / folder).rglob("*.py"))


def calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node


def dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return f"{dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else ""


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_no_code_running_deserialisation_shell_or_interpolated_sql(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            assert not {"pickle", "dill", "cloudpickle", "marshal", "shelve"} & set(names), f"{path}: imports a code-running serialiser"
    for call in calls(tree):
        name = dotted(call.func)
        keywords = {k.arg: k.value for k in call.keywords}
        if "shell" in keywords:
            assert isinstance(keywords["shell"], ast.Constant) and keywords["shell"].value is False, f"{path}:{call.lineno}: shell=True"
        assert name not in {"os.system", "os.popen", "eval", "exec"}, f"{path}:{call.lineno}: {name}"
        if "allow_pickle" in keywords:
            assert isinstance(keywords["allow_pickle"], ast.Constant) and keywords["allow_pickle"].value is False, f"{path}:{call.lineno}: allow_pickle"
        if name in {"np.load", "numpy.load"}:
            assert "allow_pickle" in keywords, f"{path}:{call.lineno}: np.load without allow_pickle=False"
        if name in {"yaml.load", "yaml.load_all", "yaml.unsafe_load", "yaml.full_load"}:
            loader = dotted(keywords["Loader"]) if "Loader" in keywords else ""
            # Our loader subclasses SafeLoader (test_config checks it refuses python tags).
            safe = name == "yaml.load" and ("Safe" in loader or loader == "_UniqueKeyLoader")
            assert safe, f"{path}:{call.lineno}: unsafe YAML loading"
        if name.endswith((".execute", ".executemany")) and call.args:
            sql = call.args[0]
            # Values travel as parameters; an f-string may only interpolate '?' placeholders.
            if isinstance(sql, ast.JoinedStr):
                interpolated = [v.value for v in sql.values if isinstance(v, ast.FormattedValue)]
                assert all(dotted(v) == "marks" for v in interpolated), f"{path}:{call.lineno}: SQL built from values"
            else:
                assert isinstance(sql, ast.Constant) or dotted(sql).isupper() or dotted(sql).startswith("_"), f"{path}:{call.lineno}: SQL not a literal"


@pytest.mark.parametrize(
    "code, caught",
    [
        ("import subprocess\nsubprocess.run('ls ' + name, shell=True)\n", "shell=True"),
        ("import numpy as np\nnp.load(path, allow_pickle=True)\n", "allow_pickle"),
        ("import yaml\nyaml.load(text, Loader=yaml.Loader)\n", "unsafe YAML"),
        ("db.execute(f\"SELECT * FROM t WHERE name = {name}\")\n", "SQL built from values"),
    ],
)
def test_the_guard_catches_what_it_guards_against(tmp_path, code, caught):
    bad = tmp_path / "bad.py"
    bad.write_text(code)
    with pytest.raises(AssertionError, match=caught):
        test_no_code_running_deserialisation_shell_or_interpolated_sql(bad)
