"""Progress bars for long stages; one switch silences them all (``--quiet``), the
model libraries' own bars included."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")

_enabled = True


def set_enabled(enabled: bool) -> None:
    global _enabled
    _enabled = enabled
    if not enabled:
        # huggingface_hub and transformers read this when they are imported ...
        os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
        # ... and those already imported are told directly.
        if "transformers" in sys.modules:
            sys.modules["transformers"].utils.logging.disable_progress_bar()
        if "huggingface_hub" in sys.modules:
            sys.modules["huggingface_hub"].utils.disable_progress_bars()


def enabled() -> bool:
    return _enabled


def track(items: Iterable[T], description: str, total: int | None = None, unit: str = "it") -> Iterator[T]:
    """Iterate with a progress bar on stderr unless progress is disabled or there is nothing
    to do (a bar stuck at 0/0 when the cache served everything says nothing)."""
    yield from tqdm(items, desc=description, total=total, unit=unit, disable=not _enabled or total == 0, leave=False)
