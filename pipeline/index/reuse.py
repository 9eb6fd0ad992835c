"""``run`` and ``eval`` over a persistent index: reused when its fingerprint matches, else rebuilt, saying why.

:class:`IndexedPipeline` is the runner's pipeline with one step replaced: the catalogue's documents and
vectors come from the index folder, and every ranker is restored from it, so no item is translated or
encoded again. The folder is built (or rebuilt) first where it holds no index, where the config, the
catalogue or the users changed since (the fingerprint), or where it cannot be used. Users' own texts still
go through normalise → detect → translate (with the cache) → encode, and the runner writes the outputs as
in a plain run, with the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np

from pivotrec.pipeline.config import InputSpec, RunConfig
from pivotrec.pipeline.errors import InputError, StageError
from pivotrec.pipeline.index.search import restore_rankers
from pivotrec.pipeline.index.store import BuildResult, StoredIndex, build_index, open_index
from pivotrec.pipeline.records import Document, Item, User
from pivotrec.pipeline.runner import Pipeline
from pivotrec.pipeline.stats import RunSummary


def pipeline_for(config: RunConfig, index: str | Path | None = None, dataset: Path | None = None) -> Pipeline:
    """The pipeline that runs ``config``: over a persistent index where ``index`` (``--index``) or the
    config's ``index`` names one, else the plain one that indexes the catalogue in memory.

    ``dataset``: an evaluation dataset folder; its items and queries are then the catalogue and the
    users the index is built from and fingerprinted by (``eval`` reads no ``input``).
    """
    root = Path(index) if index else config.index
    if root is None:
        return Pipeline(config)
    if dataset is not None:
        # The dataset layout (``evaluation.datasets.load_dataset``).
        folder = dataset.resolve()
        config = config.model_copy(update={"input": InputSpec(items=folder / "items.jsonl", users=folder / "queries.jsonl")})
    return IndexedPipeline(config, root)


@dataclass
class IndexedRunSummary(RunSummary):
    """A run's summary that also says whether its index was reused or rebuilt, and why."""

    index: str = ""

    def lines(self) -> list[str]:
        lines = super().lines()
        return [*lines[:1], self.index, *lines[1:]]  # right after what was read


class IndexedPipeline(Pipeline):
    """The pipeline of ``config`` answering from the index at ``root``: see the module docstring."""

    def __init__(self, config: RunConfig, root: Path) -> None:
        super().__init__(config)
        self.root = root
        self.indexed_summary = IndexedRunSummary(**{f.name: getattr(self.summary, f.name) for f in fields(self.summary)})
        self.summary = self.indexed_summary
        #: What ``build_index`` did in this run (None until the catalogue is read).
        self.build: BuildResult | None = None

    def catalogue(self, items: Sequence[Item], users: Sequence[User]) -> tuple[list[Document], dict[str, np.ndarray]]:
        """The catalogue as the index holds it, every ranker restored from there; built there first when needed."""
        # Built from the records the run has read, so the rows it skips are skipped in the index too.
        result = build_index(self.config, self.root, pipeline=self, records=(items, users))
        try:
            stored = self._restored(result.folder, items)
        except (InputError, StageError) as exc:  # damaged files, or an index of other items under the same fingerprint
            result = replace(build_index(self.config, self.root, force=True, pipeline=self, records=(items, users)), reason=f"rebuilt: the index there cannot be used ({exc})")
            stored = self._restored(result.folder, items)
        self.build = result
        digest = result.fingerprint.digest[:12]
        if result.built:
            self.indexed_summary.index = f"index: {result.reason}; wrote {self.root} (fingerprint {digest})"
        else:
            self.indexed_summary.index = (
                f"index: reused {self.root} (fingerprint {digest}): {len(stored.documents)} items' documents and vectors read from it, none translated or encoded again"
            )
        return stored.documents, stored.vectors

    def _restored(self, folder: Path, items: Sequence[Item]) -> StoredIndex:
        """The index version at ``folder``, opened, checked to hold ``items`` in their order, its rankers restored into this pipeline."""
        stored = open_index(folder)
        if [d.id for d in stored.documents] != [i.id for i in items]:
            # Possible under one fingerprint: 'pivotrec index' keeps a text that cleans to nothing, which a run skips.
            raise InputError(f"{folder}: its {len(stored.documents)} items are not the {len(items)} items this run reads")
        with self._step("index"):
            restore_rankers(self, stored)
        return stored
