"""Answer one request at a time over an opened index: the models load once, the catalogue stays loaded.

A request is a :class:`User`: free text in any language, a history of item
ids, or both. Its text goes through the same normalise → detect → translate
(with the cache) → encode path as a batch run; then profile → retrieve →
fuse → recommend → explain, with the same stages the runner uses. The
search depth is the request's own (``fusion.depth``, or ``top_k`` plus its
history), so a long history never deepens the search for anyone else.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace

from pivotrec.pipeline.errors import InputError, stage_errors
from pivotrec.pipeline.index.store import StoredIndex
from pivotrec.pipeline.protocols import Persists
from pivotrec.pipeline.records import Document, Recommendation, User
from pivotrec.pipeline.runner import Pipeline


def restore_rankers(pipeline: Pipeline, stored: StoredIndex) -> None:
    """Put every ranker of ``pipeline`` in the state ``stored`` holds: ``Persists.load`` where the
    ranker saved its structures, else ``index`` again over the saved documents and vectors."""
    histories = [u.history for u in stored.users if u.history]
    for label, ranker in pipeline.retrieve.rankers.items():
        folder = stored.ranker_folder(label)
        with stage_errors("index", f"ranker {label!r}"):
            if folder is not None and isinstance(ranker, Persists):
                ranker.load(folder)
            else:
                ranker.index(stored.documents, stored.vectors.get(label), histories)


@dataclass(frozen=True)
class Answer:
    """A request's own text as the pipeline read it (None without text) and its recommendations, best first."""

    query: Document | None
    recommendations: list[Recommendation]


class IndexSearcher:
    """The pipeline of an index's config, with every ranker restored from the index.

    Construction loads nothing; :meth:`warm_up` loads the models and restores
    the rankers (``Persists.load`` where the ranker saved its structures,
    else ``index`` again over the saved documents and vectors). Calls are
    serialised by one lock, so threads may share a searcher.
    """

    def __init__(self, stored: StoredIndex) -> None:
        self.stored = stored
        self.config = stored.config
        self.pipeline = Pipeline(stored.config)
        self.documents = {d.id: d for d in stored.documents}
        self.rows = {d.id: row for row, d in enumerate(stored.documents)}
        self.users = {u.id: u for u in stored.users}
        #: Held by every call that reads or changes the pipeline and catalogue (requests, updates).
        self.lock = threading.Lock()
        self._ready = False

    def warm_up(self) -> None:
        """Load every model and restore every ranker, once."""
        with self.lock:
            if self._ready:
                return
            self.pipeline.warm_up()
            self.restore_rankers()
            # One query through every stage, so lazy first-call costs (tokenisers, punctuation
            # rules, an encoder's first batch) are paid here, not by the first request.
            self._answer(User("warm-up", "warm up", (), self.config.pivot), 1, True)
            self._ready = True

    def restore_rankers(self) -> None:
        """Put every ranker back in the state the opened index holds (call with ``lock`` held)."""
        restore_rankers(self.pipeline, self.stored)

    def replace_catalogue(self, stored: StoredIndex) -> None:
        """Serve ``stored`` (a new version) from now on; its rankers are already indexed (call with ``lock`` held)."""
        self.stored = stored
        self.documents = {d.id: d for d in stored.documents}
        self.rows = {d.id: row for row, d in enumerate(stored.documents)}
        self.users = {u.id: u for u in stored.users}

    def unknown_items(self, history: Sequence[str]) -> list[int]:
        """Positions in ``history`` of ids that are not in the index."""
        return [n for n, item_id in enumerate(history) if item_id not in self.documents]

    def answer(self, user: User, top_k: int, explain: bool = True) -> Answer:
        """The top ``top_k`` items for one user or query (seen items dropped as the config says)."""
        missing = self.unknown_items(user.history)
        if missing:
            raise InputError(f"history[{missing[0]}]: item {user.history[missing[0]]!r} is not in the index")
        self.warm_up()
        with self.lock:
            return self._answer(user, top_k, explain)

    def _answer(self, user: User, top_k: int, explain: bool) -> Answer:
        pipeline = self.pipeline
        query_doc = pipeline.documents([user.id], [user.text], [user.lang])[0] if user.text is not None else None
        own = pipeline.ranker_vectors([query_doc], "query") if query_doc is not None else {}
        own_docs = {user.id: query_doc} if query_doc is not None else {}
        queries = pipeline.profile.queries([user], own_docs, self.documents)
        vectors = {
            name: pipeline.profile.vectors([user], self.rows, matrix, {user.id: own[name][0]} if name in own else {})
            for name, matrix in self.stored.vectors.items()
        }
        depth = max(self.config.fusion.depth, top_k + len(user.history))
        per_ranker = pipeline.retrieve.run(queries, vectors, depth)
        lists = {name: hits[0] for name, hits in per_ranker.items()}
        fused = pipeline.fuse.run(lists)
        # The runner's recommend stage (seen items, translations of seen items) with this request's top_k.
        stage = copy.copy(pipeline.recommend)
        stage.top_k = top_k
        # Translations of seen items are found in the first dense ranker's space, as in a batch run.
        seen_vectors = (self.rows, next(iter(self.stored.vectors.values()))) if self.stored.vectors else None
        chosen = stage.run(user, fused, lists, self.documents, seen_vectors)
        if explain and chosen:
            reasons = pipeline.retrieve.explain(queries[0], [r.item_id for r in chosen])
            chosen = [replace(r, explanations=why) for r, why in zip(chosen, reasons, strict=True)]
        return Answer(query_doc, chosen)
