"""Answer one request at a time over an opened index: the models load once, the catalogue stays loaded.

A request is a :class:`User`: free text in any language, a history of item
ids, or both. Its text goes through the same normalise → detect → translate
(with the cache) → encode path as a batch run; then profile → retrieve →
fuse → recommend → explain, with the same stages the runner uses. The
search depth is the request's own (``fusion.depth``, or ``top_k`` plus its
history), so a long history never deepens the search for anyone else.

Requests that arrive while another is being answered are answered together,
as one batch through the same stages a batch run uses: one encoder pass, one
matrix product over the catalogue's vectors and one BM25 pass for all of
them. A request that finds the searcher idle is answered at once; only just
after a batch of several (under load) does the next batch wait, at most
``GATHER_S``, for as many requests as were there at once when that batch
ended (its own and those that came while it was answered) to gather.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from pivotrec.pipeline.errors import InputError, stage_errors
from pivotrec.pipeline.index.store import StoredIndex
from pivotrec.pipeline.protocols import Persists, Ranker
from pivotrec.pipeline.records import Document, Recommendation, User
from pivotrec.pipeline.runner import Pipeline


def restore_rankers(pipeline: Pipeline, stored: StoredIndex, which: Callable[[Ranker], bool] = lambda ranker: True) -> None:
    """Put every ranker of ``pipeline`` (``which`` of them) in the state ``stored`` holds: ``Persists.load``
    where the ranker saved its structures, else ``index`` again over the saved documents and vectors."""
    histories = [u.history for u in stored.users if u.history]
    for label, ranker in pipeline.retrieve.rankers.items():
        if not which(ranker):
            continue
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
    #: The catalogue the answer was found in, by item id (an update may replace the searcher's after).
    documents: Mapping[str, Document]


#: Most requests answered in one batch: bounds a batch's latency and memory (depth x catalogue scores).
MAX_BATCH = 32
#: Seconds after a batch of several ends during which the next batch waits for as many requests as were
#: there at once. Without it, under load the first client back is answered alone, and a batch of one costs
#: a whole pass over the catalogue's vectors (at 100k items, a third of a batch of eight's time). Waiting
#: only for the last batch's own clients, 8 HTTP clients settled into two cohorts of 4 answered in turn,
#: every batch half full. 10 ms was chosen from 5, 10 and 15 in development runs of benchmarks/serve.py
#: (100k items, 2 cores): HTTP clients take 5-10 ms to come back, and 5 ms cut batches short (149 against
#: 174-200 requests/s, p99 96 against 55-63 ms).
GATHER_S = 0.010


@dataclass
class _Waiting:
    """A request waiting for an answer: set, with ``answer`` or ``error``, by whichever thread answers its batch."""

    user: User
    top_k: int
    explain: bool
    answer: Answer | None = None
    error: BaseException | None = None

    @property
    def finished(self) -> bool:
        return self.answer is not None or self.error is not None


class IndexSearcher:
    """The pipeline of an index's config, with every ranker restored from the index.

    Construction loads nothing; :meth:`warm_up` loads the models and restores
    the rankers (``Persists.load`` where the ranker saved its structures,
    else ``index`` again over the saved documents and vectors). Threads may
    share a searcher: their requests are answered in batches, and every batch
    and every update holds ``lock``.
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
        #: Requests not taken into a batch yet, oldest first, and whether a thread is answering a batch;
        #: both guarded by ``_turn``, which is notified when a batch is answered.
        self._waiting: list[_Waiting] = []
        self._leading = False
        #: Requests there at once when the last batch ended (its own and those waiting), and when it ended (``time.monotonic``).
        self._seen_at_once, self._last_ended = 1, 0.0
        self._turn = threading.Condition()
        self._ready = False

    def warm_up(self) -> None:
        """Load every model and restore every ranker, once."""
        if self._ready:  # checked without the lock first: requests must not queue behind a batch to learn this
            return
        with self.lock:
            if self._ready:
                return
            self.pipeline.warm_up(every_model=True)
            self.restore_rankers()
            # One query through every stage, so lazy first-call costs (tokenisers, punctuation
            # rules, an encoder's first batch) are paid here, not by the first request.
            self._answer_batch([_Waiting(User("warm-up", "warm up", (), self.config.pivot), 1, True)])
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

    @property
    def queued(self) -> int:
        """Requests waiting to be taken into a batch."""
        with self._turn:
            return len(self._waiting)

    def unknown_items(self, history: Sequence[str]) -> list[int]:
        """Positions in ``history`` of ids that are not in the index."""
        return [n for n, item_id in enumerate(history) if item_id not in self.documents]

    def answer(self, user: User, top_k: int, explain: bool = True) -> Answer:
        """The top ``top_k`` items for one user or query (seen items dropped as the config says).

        Safe from many threads at once: while one thread answers a batch, the
        requests that arrive wait; then one of them answers all that are waiting
        (``MAX_BATCH`` at most), its own among them.
        """
        missing = self.unknown_items(user.history)
        if missing:
            raise InputError(f"history[{missing[0]}]: item {user.history[missing[0]]!r} is not in the index")
        self.warm_up()
        mine = _Waiting(user, top_k, explain)
        with self._turn:
            self._waiting.append(mine)
            self._turn.notify_all()  # a batch gathering requests may be complete now
        while (batch := self._lead(mine)) is not None:
            try:
                with self.lock:
                    self._answer_each(batch)
            finally:
                with self._turn:
                    self._leading, self._seen_at_once, self._last_ended = False, len(batch) + len(self._waiting), time.monotonic()
                    self._turn.notify_all()
        if mine.error is not None:
            raise mine.error
        assert mine.answer is not None
        return mine.answer

    def _lead(self, mine: _Waiting) -> list[_Waiting] | None:
        """Wait until ``mine`` is answered (None), or until no thread answers a batch: then take the waiting requests to answer.

        A thread whose request another thread answered returns at once, never
        queueing for the lock behind the next batch.
        """
        with self._turn:
            while not mine.finished:
                if not self._leading:
                    self._leading = True
                    gathering = self._last_ended + GATHER_S - time.monotonic()
                    if self._seen_at_once > 1 and gathering > 0:
                        self._turn.wait_for(lambda: len(self._waiting) >= min(self._seen_at_once, MAX_BATCH), gathering)
                    batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
                    return batch
                self._turn.wait()
            return None

    def _answer_each(self, batch: list[_Waiting]) -> None:
        """Set every request's answer; when the batch fails, answer its requests one by one, so a failure is its own request's."""
        try:
            answers = self._answer_batch(batch)
        except BaseException as exc:
            if len(batch) == 1 or not isinstance(exc, Exception):  # an interrupt ends every request of the batch
                for waiting in batch:
                    waiting.error = exc
                return
            for waiting in batch:
                self._answer_each([waiting])
            return
        for waiting, answer in zip(batch, answers, strict=True):
            waiting.answer = answer

    def _answer_batch(self, batch: Sequence[_Waiting]) -> list[Answer]:
        pipeline = self.pipeline
        users = [w.user for w in batch]
        # Batch-local ids: two requests may name the same user ("query"), and each needs its own text and profile.
        keys = [User(str(n), u.text, u.history, u.lang) for n, u in enumerate(users)]
        texted = [k for k in keys if k.text is not None]
        docs = pipeline.documents([k.id for k in texted], [k.text or "" for k in texted], [k.lang for k in texted]) if texted else []
        own_docs = {d.id: d for d in docs}
        own = pipeline.ranker_vectors(docs, "query") if docs else {}
        queries = pipeline.profile.queries(keys, own_docs, self.documents)
        vectors = {
            name: pipeline.profile.vectors(keys, self.rows, matrix, {d.id: own[name][row] for row, d in enumerate(docs)} if name in own else {})
            for name, matrix in self.stored.vectors.items()
        }
        depths = [max(self.config.fusion.depth, w.top_k + len(w.user.history)) for w in batch]
        per_ranker = pipeline.retrieve.run(queries, vectors, depths)
        # Translations of seen items are found in the first dense ranker's space, as in a batch run.
        seen_vectors = (self.rows, next(iter(self.stored.vectors.values()))) if self.stored.vectors else None
        answers = []
        for row, (waiting, key) in enumerate(zip(batch, keys, strict=True)):
            lists = {name: hits[row] for name, hits in per_ranker.items()}
            fused = pipeline.fuse.run(lists)
            # The runner's recommend stage (seen items, translations of seen items) with this request's top_k.
            stage = copy.copy(pipeline.recommend)
            stage.top_k = waiting.top_k
            chosen = stage.run(waiting.user, fused, lists, self.documents, seen_vectors)
            if waiting.explain and chosen:
                reasons = pipeline.retrieve.explain(queries[row], [r.item_id for r in chosen])
                chosen = [replace(r, explanations=why) for r, why in zip(chosen, reasons, strict=True)]
            query_doc = replace(own_docs[key.id], id=waiting.user.id) if key.id in own_docs else None
            answers.append(Answer(query_doc, chosen, self.documents))
        return answers
