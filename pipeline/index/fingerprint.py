"""What an index was built from, as one hash and its parts, so a changed config is named, not guessed.

The fingerprint covers everything that changes the documents, vectors or
ranker structures in an index: the pivot language, the normalisation
settings, the resolved identity (name and every param) of each plugin at any
depth (detector, translator and its fallback, encoders, rankers), what each
ranker reads, and the content of the catalogue and users files. It leaves
out what only changes how results are served (fusion, top_k, explanations)
and where caches live.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pivotrec.pipeline.config import RunConfig
from pivotrec.pipeline.refs import PluginRef, walk

#: Bumped when the index folder's layout changes: an older index is then rebuilt.
FORMAT = 1


@dataclass(frozen=True)
class Fingerprint:
    """A digest of ``parts`` (part name → sha256 of what it covers)."""

    digest: str
    parts: Mapping[str, str]

    @classmethod
    def of(cls, parts: Mapping[str, str]) -> Fingerprint:
        return cls(_hash(dict(parts)), dict(parts))

    def changes(self, older: Mapping[str, str]) -> list[str]:
        """The parts that differ from an older index's, in a stable order (for "rebuilt because ...")."""
        names = sorted(set(self.parts) | set(older))
        return [name for name in names if self.parts.get(name) != older.get(name)]


def file_hash(path: Path, chunk: int = 1 << 20) -> str:
    """sha256 of a file's bytes, read ``chunk`` bytes at a time."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _hash(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str, ensure_ascii=False).encode("utf-8")).hexdigest()


def _identities(ref: PluginRef | None) -> list[str]:
    return [resolved.identity for resolved in walk(ref)] if ref is not None else []


def fingerprint(config: RunConfig) -> Fingerprint:
    """The fingerprint of a resolved config and of the input files it names."""
    parts: dict[str, str] = {
        "format": _hash(FORMAT),
        "pivot": _hash(config.pivot),
        "normalise": _hash(config.normalise.model_dump(mode="json")),
        "detector": _hash(_identities(config.detector)),
    }
    translator = config.translator
    parts["translator"] = _hash(
        None if translator is None else [_identities(translator), translator.on_missing, translator.on_error, _identities(translator.fallback)]
    )
    for i, spec in enumerate(config.rankers):
        parts[f"rankers[{i}] {spec.label}"] = _hash([_identities(spec), _identities(config.encoder_for(spec)), spec.reads])
    if config.input is not None:
        parts["input.items"] = file_hash(config.input.items)
        if config.input.users is not None:
            parts["input.users"] = file_hash(config.input.users)
    return Fingerprint.of(parts)
