"""Model manifests (YAML) shipped with pivotrec; weights are cached beside them, git-ignored."""

from __future__ import annotations

from importlib.resources import files
from typing import Any

import yaml


def load_manifest(name: str) -> Any:
    """Parse ``models/<name>.yaml`` (safe loading)."""
    return yaml.safe_load(files(__name__).joinpath(f"{name}.yaml").read_text(encoding="utf-8"))
