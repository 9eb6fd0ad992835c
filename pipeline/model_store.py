"""Find translation models by Hugging Face id or local folder; convert them for CTranslate2.

A model is named by a Hugging Face id (``Helsinki-NLP/opus-mt-de-en``,
optionally with a revision) or a local folder holding a transformers model.
CTranslate2 needs its own format: the first use converts the model with
CTranslate2's converter into ``<models dir>/ct2/`` (in the user's cache), keyed by model,
revision and quantisation. The converter writes into a temporary folder that
is renamed into place only when complete, so a crash mid-conversion never
leaves a half-written model that a later run would load.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
import uuid
from pathlib import Path

from pivotrec.pipeline.errors import ModelUnavailableError

__all__ = ["ModelUnavailableError", "cache_dir", "ct2_model", "fingerprint", "models_dir", "resolve_source"]

#: Files a CTranslate2 model folder has once conversion completed.
_CT2_WEIGHTS = "model.bin"


def cache_dir() -> Path:
    """pivotrec's folder in the user's cache: ``$XDG_CACHE_HOME/pivotrec`` (default ``~/.cache/pivotrec``)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pivotrec"


def models_dir() -> Path:
    """Where converted models go: ``$PIVOTREC_MODELS``, else ``<cache dir>/models``, never site-packages."""
    if os.environ.get("PIVOTREC_MODELS"):
        return Path(os.environ["PIVOTREC_MODELS"])
    return cache_dir() / "models"


def _offline() -> bool:
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes") for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def resolve_source(model: str, revision: str | None = None) -> Path:
    """The local folder of a transformers model, from a folder path or the Hugging Face cache/Hub."""
    path = Path(model).expanduser()
    if path.is_dir():
        return path.resolve()
    if model.startswith((".", "/", "~")):
        raise ModelUnavailableError(f"model folder {model!r} not found")
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(model, revision=revision, local_files_only=_offline()))
    except Exception as exc:  # offline, unknown id, no network: all mean "not available here"
        how = (
            f"download it where there is internet (e.g. `hf download {model}`) and copy the Hugging Face cache "
            f"(~/.cache/huggingface/hub) to this machine, or save it to a folder and name that folder instead of the id"
        )
        mode = "offline mode (HF_HUB_OFFLINE=1)" if _offline() else "the Hugging Face Hub"
        raise ModelUnavailableError(
            f"model {model!r}{f' revision {revision!r}' if revision else ''} is not available from {mode}: "
            f"{type(exc).__name__}. To make it available, {how}."
        ) from exc


def fingerprint(model: str, revision: str | None, source: Path) -> str:
    """What identifies these weights: the Hub snapshot, or a local folder's file list, sizes and times."""
    if not Path(model).expanduser().is_dir():
        return revision or source.name  # a Hub snapshot folder is named by its commit hash
    digest = hashlib.sha256()
    for file in sorted(p for p in source.rglob("*") if p.is_file()):
        stat = file.stat()
        digest.update(f"{file.relative_to(source)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def _slug(model: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", model.strip("/~.")).strip("_")[-80:] or "model"


def ct2_model(model: str, revision: str | None = None, quantization: str = "int8", root: Path | None = None, announce: bool = True) -> Path:
    """The CTranslate2 folder for ``model``, converting it on first use (atomically)."""
    source = resolve_source(model, revision)
    key = f"{_slug(model)}--{fingerprint(model, revision, source)}--{quantization}"
    cache = (root or models_dir()) / "ct2"
    final = cache / key
    if (final / _CT2_WEIGHTS).is_file():
        return final
    try:
        import ctranslate2
    except ImportError as exc:
        raise ModelUnavailableError("the ctranslate2 backend needs CTranslate2: pip install 'pivotrec[ctranslate2]'") from exc
    cache.mkdir(parents=True, exist_ok=True)
    partial = cache / f".{key}.partial-{uuid.uuid4().hex[:8]}"
    if announce:
        print(f"converting {model} to CTranslate2 ({quantization}) into {final} ...", file=sys.stderr)
    try:
        converter = ctranslate2.converters.TransformersConverter(str(source))
        converter.convert(str(partial), quantization=quantization, force=True)
        try:
            partial.rename(final)  # atomic on one filesystem
        except OSError:
            if not (final / _CT2_WEIGHTS).is_file():
                raise
            # Another process finished the same conversion first: use theirs.
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return final
