"""Apertium, the rule-based MT engine from Debian's packages, as a translator.

Each segment is translated on its own, whatever batch it comes in. A batch
goes through one pipeline of the mode's programs in null-flush mode (``-z``):
one NUL-terminated segment after another, in Apertium's stream format (text
escaped here, on stdin, never on a command line). Newline-joined text, as
``apertium`` reads it, is one document to Apertium: a line's translation
changed with the lines around it.

One program still remembers earlier segments in null-flush mode: the
part-of-speech tagger. A word whose ambiguity class its model lacks makes it
rewrite its open class for the rest of the process (apertium's
``tagger_utils::find_similar_ambiguity_class``), so the tags of every later
segment depend on it. The tagger therefore runs over the whole batch only
when no segment met such a class, and otherwise once per segment.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pivotrec.models import load_manifest
from pivotrec.pipeline.errors import TranslationError
from pivotrec.pipeline.protocols import TranslatorInfo

#: Characters with a meaning in Apertium's stream format, escaped with a backslash (as ``apertium-destxt`` does).
_STREAM_SPECIAL = re.compile(r"([\\\[\]^$/@<>{}])")
#: An escaped character, or a bracket of a superblank (text the programs pass through untouched).
_STREAM_MARKUP = re.compile(r"\\(.)|[\[\]]", re.DOTALL)
#: Ends every segment, as ``apertium-destxt`` ends its input: a period in an empty superblank's
#: company is a sentence end to the tagger, and the output's copy of it is dropped.
_SEGMENT_END = ".[]"
_OUTPUT_END = re.compile(r"\.\[\]\s*$")
#: What the tagger says on stderr (with ``-d``) when a word's ambiguity class is not in its model.
_NEW_AMBIGUITY_CLASS = "new ambiguity class"
#: The mode files' placeholders: ``$1`` generation marks (``-n``: none, as ``apertium -u``), ``$2`` tagger options.
_MODE_ARGUMENTS = ("-n", "")


class Route(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: str
    package: str


@dataclass(frozen=True)
class ModePrograms:
    """A mode's programs in null-flush mode, as the shell text of its mode file, cut around the tagger."""

    before_tagger: str
    #: None when the mode has no tagger; then ``before_tagger`` is the whole mode.
    tagger: str | None = None
    after_tagger: str = ""


class ApertiumTranslator:
    """X->English with Apertium: direct modes (spa-eng, cat-eng, gl-en, ...) or chains (fr->es->en).

    ``pairs`` and ``chains`` default to ``models/apertium.yaml``; a config can
    add or override routes per language.
    """

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        #: The apertium program: a name on PATH or a path.
        binary: str = "apertium"
        #: Apertium's language data (``apertium -d``): the modes are read from its ``modes`` folder.
        data_dir: Path = Path("/usr/share/apertium")
        #: Source language -> one mode into English; adds to and overrides ``models/apertium.yaml``.
        pairs: dict[str, Route] = Field(default_factory=dict)
        #: Source language -> modes run one after another (fr->es->en); adds to and overrides the manifest.
        chains: dict[str, list[Route]] = Field(default_factory=dict)
        #: Seconds one apertium program pipeline may take for one batch (or one segment, when tagged alone).
        timeout_s: float = Field(120.0, gt=0)

    info = TranslatorInfo(method="mt")

    def __init__(self, params: Params) -> None:
        self.params = params
        #: Modes in the data folder, as ``apertium -l`` lists them (read by ``warm_up``); empty when apertium is missing.
        self.installed_modes: frozenset[str] = frozenset()
        manifest = load_manifest("apertium")
        self.routes: dict[str, list[Route]] = {lang: [Route(**r)] for lang, r in manifest["pairs"].items()}
        self.routes.update({lang: [Route(**r) for r in chain] for lang, chain in manifest["chains"].items()})
        self.routes.update({lang: [r] for lang, r in params.pairs.items()})
        self.routes.update(params.chains)
        self._programs: dict[str, ModePrograms] = {}
        self._env: dict[str, str] = dict(os.environ)

    def warm_up(self) -> None:
        binary = shutil.which(self.params.binary)
        if binary is None:
            return
        # The mode files name Apertium's programs bare; find them beside the binary, as `apertium` does.
        self._env["PATH"] = os.pathsep.join([str(Path(binary).parent), os.environ.get("PATH", "")])
        self.installed_modes = frozenset(mode.stem for mode in (self.params.data_dir / "modes").glob("*.mode"))

    def cache_settings(self) -> dict[str, Any]:
        # Translations made before segments were isolated depended on their batch: a new key keeps them out.
        return {**self.params.model_dump(mode="json", exclude={"timeout_s"}), "segments": "isolated"}

    def model_for(self, src: str, tgt: str) -> str | None:
        route = self.routes.get(src)
        return "apertium " + "+".join(r.mode for r in route) if route else None

    def supports(self, src: str, tgt: str) -> bool:
        """A route exists for ``src`` into English and every mode on it is installed."""
        route = self.routes.get(src)
        return tgt == "en" and route is not None and all(r.mode in self.installed_modes for r in route)

    def missing(self, src: str) -> str:
        """Why ``src`` cannot be translated, with the apt command that fixes it."""
        route = self.routes.get(src)
        if route is None:
            return f"apertium has no route {src}->en (known: {', '.join(sorted(self.routes))})"
        if shutil.which(self.params.binary) is None:
            packages = " ".join(["apertium"] + [r.package for r in route])
            return f"apertium is not installed: apt-get install {packages}"
        absent = [r for r in route if r.mode not in self.installed_modes]
        return f"apertium mode(s) {', '.join(r.mode for r in absent)} missing: apt-get install {' '.join(r.package for r in absent)}"

    def translate(self, texts: Sequence[str], src: str, tgt: str) -> list[str]:
        if not self.supports(src, tgt):
            raise TranslationError(self.missing(src) if tgt == "en" else f"apertium translates into en only, not {tgt}")
        # A NUL would end a segment early, a newline is a paragraph to Apertium: fold both into spaces.
        segments = [" ".join(t.replace("\0", " ").split()) for t in texts]
        for route in self.routes[src]:
            segments = self._run_mode(route.mode, segments)
        return segments

    def _run_mode(self, mode: str, segments: list[str]) -> list[str]:
        programs = self._mode_programs(mode)
        stream = self._pipe(mode, programs.before_tagger, [_to_stream(s) for s in segments])[0]
        if programs.tagger is not None:
            stream = self._pipe(mode, programs.after_tagger, self._tag(mode, programs.tagger, stream))[0]
        return [_from_stream(s) for s in stream]

    def _tag(self, mode: str, tagger: str, analysed: list[str]) -> list[str]:
        """Tags of each segment as a fresh tagger gives them: the batch's, unless a segment changed the tagger."""
        program, options = tagger.split(maxsplit=1)
        tagged, warnings = self._pipe(mode, f"{program} -d {options}", analysed)
        if _NEW_AMBIGUITY_CLASS not in warnings:
            return tagged
        return [self._pipe(mode, tagger, [segment])[0][0] for segment in analysed]

    def _mode_programs(self, mode: str) -> ModePrograms:
        if mode not in self._programs:
            mode_file = self.params.data_dir / "modes" / f"{mode}.mode"
            listed = subprocess.run(
                ["apertium-wblank-mode", "-z", str(mode_file)], capture_output=True, text=True, timeout=60, env=self._env
            )
            if listed.returncode != 0:
                raise TranslationError(f"apertium mode {mode}: cannot read {mode_file}: {listed.stderr.strip()[:500]}")
            stages = [stage.strip() for stage in listed.stdout.strip().split("|")]
            at = next((n for n, stage in enumerate(stages) if Path(stage.split()[0]).name == "apertium-tagger"), None)
            self._programs[mode] = (
                ModePrograms(" | ".join(stages))
                if at is None
                else ModePrograms(" | ".join(stages[:at]), stages[at], " | ".join(stages[at + 1 :]))
            )
        return self._programs[mode]

    def _pipe(self, mode: str, programs: str, segments: list[str]) -> tuple[list[str], str]:
        """Each segment's output from ``programs`` (shell text from a mode file), and their stderr.

        The segments reach the programs on stdin only; bash runs the mode's own text, as ``apertium`` does.
        """
        done = subprocess.run(
            ["bash", "-c", f"set -o pipefail; {programs}", "bash", *_MODE_ARGUMENTS],
            input="".join(segment + "\0" for segment in segments),
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=self.params.timeout_s,
            env=self._env,
        )
        if done.returncode != 0:
            raise TranslationError(f"apertium {mode} failed (exit {done.returncode}): {done.stderr.strip()[:500]}")
        # Each program ends its input with a NUL of its own: only empty parts may follow the segments.
        parts = done.stdout.split("\0")
        outputs, rest = parts[: len(segments)], parts[len(segments) :]
        if len(parts) <= len(segments) or any(rest):
            returned = len(done.stdout.rstrip("\0").split("\0")) if done.stdout.strip("\0") else 0
            raise TranslationError(f"apertium {mode} returned {returned} segments for {len(segments)}")
        return outputs, done.stderr


def _to_stream(text: str) -> str:
    # A tilde is a compound marker to some programs; apertium-destxt keeps it aside in a superblank.
    return _STREAM_SPECIAL.sub(r"\\\1", text).replace("~", "[~]") + _SEGMENT_END


def _from_stream(output: str) -> str:
    # Apertium leaves double spaces where it drops a word.
    return " ".join(_STREAM_MARKUP.sub(lambda m: m.group(1) or "", _OUTPUT_END.sub("", output)).split())
