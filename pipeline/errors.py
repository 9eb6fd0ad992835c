"""Every exception pivotrec raises on purpose lives here.

Each message names the place that is wrong (a file and line, a dotted config
path, an item id, a plugin) so that the user can fix it without a debugger.
"""

from __future__ import annotations

import reprlib
from collections.abc import Iterator
from contextlib import contextmanager


#: Longest quoted value in a message, in characters: a huge value (a YAML alias bomb,
#: a 1 MB text) is cut, and reprlib stops reading it early rather than building it whole.
QUOTE_LIMIT = 200
_SHORT_REPR = reprlib.Repr()
_SHORT_REPR.maxstring = _SHORT_REPR.maxother = QUOTE_LIMIT


def quoted(value: object) -> str:
    """``repr(value)`` for a message, at most about ``QUOTE_LIMIT`` characters however big the value."""
    return shorten(_SHORT_REPR.repr(value), QUOTE_LIMIT)


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, saying how many were left out."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit} more characters)"


class PivotrecError(Exception):
    """Base class: catch this to handle any error pivotrec reports itself."""


class InputError(PivotrecError):
    """A catalogue, users or queries file cannot be read as records."""


class ConfigError(PivotrecError):
    """A YAML config is malformed or invalid.

    ``problems`` holds every problem found, each as ``"dotted.path: message"``,
    so a user fixes them all in one pass instead of one per run.
    """

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        # A value quoted whole in a problem (a huge YAML string) must not flood the terminal.
        listing = "\n".join(f"  {shorten(p, 4 * QUOTE_LIMIT)}" for p in problems)
        super().__init__(f"invalid config {source}:\n{listing}")


class OutputError(PivotrecError):
    """An output cannot be written (a path that collides with an input or another output,
    a folder, a read-only disk, a full disk); the previous outputs are left as they were."""


class Interrupted(PivotrecError):
    """A command was stopped (Ctrl-C) before it finished; nothing was replaced."""


class UnknownPluginError(PivotrecError):
    """A config names a plugin that no installed distribution provides."""


class PluginLoadError(PivotrecError):
    """An installed plugin's entry point fails to import or is not a class."""


class TranslationError(PivotrecError):
    """A text cannot be translated to the pivot (no route, model failure)."""


class CacheError(PivotrecError):
    """A translation or embedding cache cannot be opened or written."""


class PluginNameWarning(UserWarning):
    """Two installed distributions register the same plugin name (a third party shadows a built-in)."""


class ModelUnavailableError(PivotrecError):
    """A model id or folder cannot be found (offline, wrong id, missing folder)."""


class StageError(PivotrecError):
    """A stage failed at run time; the message names the stage and plugin."""


@contextmanager
def stage_errors(stage: str, plugin: str) -> Iterator[None]:
    """Turn any failure inside a stage into a StageError naming the stage and the plugin.

    pivotrec's own errors already say where they come from and pass unchanged.
    """
    try:
        yield
    except PivotrecError:
        raise
    except Exception as exc:
        raise StageError(f"{stage} stage, {plugin}: {type(exc).__name__}: {exc}") from exc
