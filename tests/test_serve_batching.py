"""The searcher behind pivotrec serve answers concurrent requests together, exactly as one at a time."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from pivotrec.pipeline.index.search import Answer, IndexSearcher
from pivotrec.pipeline.records import User
from tests.served_index import warm_searcher

#: Requests of every kind: text, history, both, a declared language, another top_k, no explanations.
REQUESTS = [
    (User("query", "bicycle brakes"), 3, True),
    (User("query", "coffee"), 2, True),
    (User("query", "pan de masa madre", (), "es"), 4, False),
    (User("baker", None, ("de-bread",)), 3, True),
    (User("both", "coffee", ("en-bike",)), 5, True),
    (User("query", "bicycle brakes"), 1, False),
]
TIMEOUT = 60.0


@pytest.fixture(scope="module")
def searcher(tmp_path_factory: pytest.TempPathFactory) -> IndexSearcher:
    return warm_searcher(tmp_path_factory.mktemp("batching"))


def ranked(answer: Answer) -> list[tuple[str, str, float, tuple[str, ...]]]:
    return [(r.user_id, r.item_id, round(r.score, 6), r.explanations) for r in answer.recommendations]


def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting until {what}"
        time.sleep(0.01)


def batched(
    searcher: IndexSearcher, monkeypatch: pytest.MonkeyPatch, requests: Sequence[tuple[User, int, bool]],
    on_hold: Callable[[], None] = lambda: None, wait: bool = True,
) -> tuple[list[int], list[Future[Answer]]]:
    """Ask ``requests`` from as many threads while a first request's batch is held open: they all wait, then
    one of them answers them together. Returns the sizes of the batches answered and each request's future.
    ``on_hold`` is called once they all wait, before the first batch is let go; without ``wait`` it
    returns then, before they are answered."""
    sizes: list[int] = []
    release = threading.Event()
    answer_batch = searcher._answer_batch

    def held_open(batch):
        sizes.append(len(batch))
        if len(sizes) == 1:
            assert release.wait(TIMEOUT)
        return answer_batch(batch)

    monkeypatch.setattr(searcher, "_answer_batch", held_open)
    pool = ThreadPoolExecutor(len(requests) + 1)
    first = pool.submit(searcher.answer, User("query", "bread"), 2)
    until(lambda: len(sizes) == 1, "the first batch started")
    futures = [pool.submit(searcher.answer, user, top_k, explain) for user, top_k, explain in requests]
    until(lambda: searcher.queued == len(requests), "every request waits")
    on_hold()
    release.set()
    first.result(TIMEOUT)
    pool.shutdown(wait=wait)
    return sizes, futures


def test_requests_that_wait_are_answered_in_one_batch_exactly_as_one_at_a_time(searcher, monkeypatch):
    alone = [ranked(searcher.answer(user, top_k, explain)) for user, top_k, explain in REQUESTS]
    sizes, futures = batched(searcher, monkeypatch, REQUESTS)
    assert sizes == [1, len(REQUESTS)], "the first request alone, then every request that waited, together"
    assert [ranked(f.result(TIMEOUT)) for f in futures] == alone


def test_each_answer_keeps_its_own_text_as_the_pipeline_read_it(searcher, monkeypatch):
    _, futures = batched(searcher, monkeypatch, REQUESTS)
    for (user, _, _), future in zip(REQUESTS, futures):
        query = future.result(TIMEOUT).query
        if user.text is None:
            assert query is None
        else:
            assert query is not None and (query.id, query.original) == (user.id, user.text), "the request's own id, never a batch's"


def test_a_request_that_fails_fails_alone_and_the_rest_of_its_batch_is_answered(searcher, monkeypatch):
    queries = searcher.pipeline.profile.queries

    def refuse_one(users, *args):
        if any(u.text == "refused" for u in users):
            raise ValueError("refused on purpose")
        return queries(users, *args)

    monkeypatch.setattr(searcher.pipeline.profile, "queries", refuse_one)
    requests = [REQUESTS[0], (User("query", "refused"), 3, True), REQUESTS[3]]
    sizes, futures = batched(searcher, monkeypatch, requests)
    assert sizes[:2] == [1, 3], "the three were asked together first"
    with pytest.raises(ValueError, match="refused on purpose"):
        futures[1].result(TIMEOUT)
    monkeypatch.undo()
    assert ranked(futures[0].result(TIMEOUT)) == ranked(searcher.answer(*REQUESTS[0]))
    assert ranked(futures[2].result(TIMEOUT)) == ranked(searcher.answer(*REQUESTS[3]))


def test_after_a_batch_the_next_waits_for_as_many_requests_as_were_there_at_once(searcher, monkeypatch):
    # HTTP clients that came back in two groups (one answered while the other waited) are answered
    # together next time, not in alternate half batches (each a whole pass over the catalogue's vectors).
    from pivotrec.pipeline.index import search

    # Set while the first batch is held, so only the awaited request ends the wait after it.
    sizes, waiting = batched(searcher, monkeypatch, REQUESTS[:3], lambda: monkeypatch.setattr(search, "GATHER_S", TIMEOUT), wait=False)
    # The first batch (one request) ended with three waiting: the next waits for a fourth, the first client back.
    assert searcher.answer(*REQUESTS[3]).recommendations
    assert all(f.result(TIMEOUT).recommendations for f in waiting)
    assert sizes == [1, 4]


def test_many_threads_asking_at_once_get_the_answers_of_one_at_a_time(searcher):
    alone = [ranked(searcher.answer(user, top_k, explain)) for user, top_k, explain in REQUESTS]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda request: ranked(searcher.answer(*request)), REQUESTS * 5))
    assert answers == alone * 5


def test_the_service_runs_numerical_kernels_on_one_thread_unless_told(monkeypatch):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from pivotrec.pipeline.serve.threads import one_thread_per_kernel

    controller = threadpoolctl.ThreadpoolController()
    before = {lib["prefix"]: lib["num_threads"] for lib in controller.info()}
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    try:
        one_thread_per_kernel()
        assert {lib["prefix"]: lib["num_threads"] for lib in controller.info()} == before, "OMP_NUM_THREADS set by the user: left alone"
        monkeypatch.delenv("OMP_NUM_THREADS")
        one_thread_per_kernel()
        assert os.environ["OMP_NUM_THREADS"] == "1", "for runtimes that load later"
        assert all(lib["num_threads"] == 1 for lib in controller.info() if lib["user_api"] == "blas"), "numpy's BLAS, loaded already"
    finally:
        threadpoolctl.threadpool_limits(limits=before)
