"""Apertium, the rule-based MT engine from Debian's packages, as a translator.

Segments go to one ``apertium -u MODE`` process per batch, newline-joined on
stdin (never on the command line, never through a shell); Apertium keeps line
breaks, so output line i is the translation of segment i.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from pivotrec.models import load_manifest
from pivotrec.pipeline.errors import TranslationError
from pivotrec.pipeline.protocols import TranslatorInfo


class Route(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: str
    package: str


class ApertiumTranslator:
    """X->English with Apertium: direct modes (spa-eng, cat-eng, gl-en, ...) or chains (fr->es->en).

    ``pairs`` and ``chains`` default to ``models/apertium.yaml``; a config can
    add or override routes per language.
    """

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        binary: str = "apertium"
        pairs: dict[str, Route] = Field(default_factory=dict)
        chains: dict[str, list[Route]] = Field(default_factory=dict)
        #: Seconds one apertium process may take for one batch.
        timeout_s: float = Field(120.0, gt=0)

    info = TranslatorInfo(method="mt")

    def __init__(self, params: Params) -> None:
        self.params = params
        #: Modes that ``apertium -l`` lists (read by ``warm_up``); empty when apertium is missing.
        self.installed_modes: frozenset[str] = frozenset()
        manifest = load_manifest("apertium")
        self.routes: dict[str, list[Route]] = {lang: [Route(**r)] for lang, r in manifest["pairs"].items()}
        self.routes.update({lang: [Route(**r) for r in chain] for lang, chain in manifest["chains"].items()})
        self.routes.update({lang: [r] for lang, r in params.pairs.items()})
        self.routes.update(params.chains)

    def warm_up(self) -> None:
        if shutil.which(self.params.binary) is None:
            return
        listing = subprocess.run([self.params.binary, "-l"], capture_output=True, text=True, check=True, timeout=60)
        self.installed_modes = frozenset(line.strip() for line in listing.stdout.splitlines() if line.strip())

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
        # A newline inside a segment would shift every later line: fold it.
        lines = [" ".join(t.split()) for t in texts]
        for route in self.routes[src]:
            lines = self._run_mode(route.mode, lines)
        return lines

    def _run_mode(self, mode: str, lines: list[str]) -> list[str]:
        done = subprocess.run(
            [self.params.binary, "-u", mode],
            input="\n".join(lines) + "\n",
            capture_output=True,
            text=True,
            timeout=self.params.timeout_s,
        )
        if done.returncode != 0:
            raise TranslationError(f"apertium {mode} failed (exit {done.returncode}): {done.stderr.strip()[:500]}")
        out = done.stdout.split("\n")
        if out and out[-1] == "":
            out.pop()
        if len(out) != len(lines):
            raise TranslationError(f"apertium {mode} returned {len(out)} lines for {len(lines)} segments")
        # Apertium leaves double spaces where it drops a word.
        return [" ".join(line.split()) for line in out]
