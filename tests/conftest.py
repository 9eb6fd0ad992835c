from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from pivotrec.pipeline import progress

REPO = Path(__file__).resolve().parents[1]

# Tests never reach a model hub: every model is built here or ships in a package.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
progress.set_enabled(False)

# Property tests run the same examples on every clone and every run: a fixed
# seed and no example database. HYPOTHESIS_PROFILE=default explores at random.
settings.register_profile("ci", derandomize=True, database=None, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True, scope="session")
def _private_model_and_translation_caches(tmp_path_factory: pytest.TempPathFactory):
    """Converted models and cached translations go to a folder of this session, not the user's."""
    root = tmp_path_factory.mktemp("caches")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PIVOTREC_MODELS", str(root / "models"))
        patch.setenv("PIVOTREC_CACHE", str(root / "translations.sqlite"))
        patch.setenv("PIVOTREC_EMBEDDING_CACHE", str(root / "embeddings.sqlite"))
        yield root


@pytest.fixture
def write(tmp_path: Path):
    """Write a text file under tmp_path and return its path."""

    def _write(name: str, content: str | bytes) -> Path:
        return write_file(tmp_path / name, content)

    return _write


def write_file(path: Path, content: str | bytes) -> Path:
    """Write ``content`` (UTF-8 text, or bytes as they are) at ``path``, folders included."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


@pytest.fixture
def install_package(tmp_path: Path):
    """pip-install a plugin package into its own folder (not this environment) and return that folder."""
    import subprocess
    import sys

    def _install(package: Path) -> Path:
        site = tmp_path / "site"
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target", str(site), str(package)],
            check=True,
        )
        return site

    return _install


@pytest.fixture
def run_cli(tmp_path: Path):
    """Run ``pivotrec`` in a fresh interpreter that also sees an installed plugin folder.

    ``run_cli(site, "plugins")`` returns stdout; ``run_cli(site, "run", translator=YAML)``
    runs a small es/en catalogue with that translator and returns the output JSONL lines.
    """
    import subprocess
    import sys

    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    (data / "items.jsonl").write_text(
        '{"id": "es1", "lang": "es", "text": "bicicleta de montaña"}\n{"id": "en1", "lang": "en", "text": "garden tomatoes"}\n'
        '{"id": "en2", "lang": "en", "text": "guitar chords"}\n{"id": "en3", "lang": "en", "text": "saving money"}\n',
        encoding="utf-8",
    )
    (data / "users.jsonl").write_text('{"id": "u", "lang": "en", "text": "bicicleta bicycle"}\n', encoding="utf-8")

    def _run(site: Path, command: str, translator: str = "") -> Any:
        env = {**os.environ, "PYTHONPATH": str(site)}
        if command == "plugins":
            done = subprocess.run([sys.executable, "-m", "pivotrec.pipeline.cli", "plugins"], env=env, capture_output=True, text=True, check=True)
            return done.stdout
        config = tmp_path / "run.yaml"
        config.write_text(
            "input: {items: data/items.jsonl, users: data/users.jsonl}\noutput: out.jsonl\n"
            f"translator: {translator}\nrankers: [{{plugin: bm25}}]\n",
            encoding="utf-8",
        )
        subprocess.run([sys.executable, "-m", "pivotrec.pipeline.cli", "--quiet", "run", str(config), "--show", "0"], env=env, check=True)
        return (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()

    return _run
