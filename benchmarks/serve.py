"""Serving speed: `pivotrec serve` over a 100k-item index against the same searches in-process.

The catalogue is real English text: each item is two sentences drawn at
random from the English sentences of ../shared/data (XQuAD-R, FLORES-200
devtest and SIB-200: 2,725 distinct sentences, never copied), so items have
natural words and lengths (about 50 words), though each sentence recurs in
about 70 of 100k items, which lengthens BM25's posting lists over a natural
catalogue's. Queries are the XQuAD-R questions: English ones, then their
Spanish versions. Without ../shared the catalogue and queries are
synthetic_corpus's (retrieval.py) and the Spanish phase is skipped.

The index (bm25-fast and a dense ranker over the bundled all-MiniLM-L6-v2,
``max_seq_length: 128``, run as the CPU default: ONNX Runtime int8), its config and the translation and embedding caches
live under ``--out``: a second run reuses the index through its fingerprint.
Before any timing every query is asked once in-process, so the Spanish
queries' Apertium translations are cached, as the issue asks, and so are
every query's vectors; both timed sides therefore find the same caches.

Each side (in-process, HTTP) runs ``--clients`` threads for ``--seconds`` per
language, split into ``--rounds`` turns that alternate between the sides, so
that a change in the machine's speed (other work on shared cores) favours
neither. Over HTTP, each client is a keep-alive connection of the standard
library's http.client (lighter than httpx: the clients share the service's
cores, and their cost is no part of the service's) posting to /search (top
10, with explanations, the service's defaults); the untimed answers checked
against the in-process searcher's come through httpx. In-process, each thread
calls IndexSearcher.answer on one shared searcher, the same concurrency, so
the two figures differ by HTTP and JSON alone. The clients run in this
process and share the machine's cores with the service. Both sides run BLAS
and OpenMP kernels on one thread each (``one_thread_per_kernel``, as `pivotrec
serve` does). "CPU ms" is the CPU time per answer of the answering process
(the service, or this one in-process): on a busy machine it moves much less
than requests/s.

    python benchmarks/serve.py [--items 100000] [--seconds 30] [--clients 8] [--rounds 3] [--out out/bench-serve] [--dense-search exact|ivf]

``--dense-search ivf`` serves a FAISS IVF index instead of the exact search
(its own index folder; the vectors come from the embedding cache).

Last line: RESULT serve_qps=<x> p99_ms=<ms> serve_vs_inprocess=<x>, the
English phase (serve_vs_inprocess = serve q/s / in-process q/s); the
Spanish phase's figures are printed above it.
"""

from __future__ import annotations

import argparse
import csv
import http.client
import json
import os
import itertools
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil

from pivotrec.pipeline import progress
from pivotrec.pipeline.config import load_config
from pivotrec.pipeline.index.search import IndexSearcher
from pivotrec.pipeline.index.store import build_index, open_index
from pivotrec.pipeline.records import User
from pivotrec.pipeline.serve.threads import one_thread_per_kernel
from retrieval import synthetic_corpus

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
TOP_K = 10
#: Seconds the service may take to open the index and load its models.
START_TIMEOUT = 600.0
#: Seconds one request may take before the benchmark gives up on it.
REQUEST_TIMEOUT = 60.0


@dataclass(frozen=True)
class Corpus:
    """Item texts (English) and the query phases: language → queries, English first."""

    items: list[str]
    queries: dict[str, list[str]]
    source: str


def xquad_questions(lang: str) -> list[str]:
    data = json.loads((SHARED / "xquad_r" / f"{lang}.json").read_text(encoding="utf-8"))
    return [qa["question"] for article in data["data"] for paragraph in article["paragraphs"] for qa in paragraph["qas"]]


def english_sentences() -> list[str]:
    """Every English sentence of XQuAD-R, FLORES-200 devtest and SIB-200, each once."""
    data = json.loads((SHARED / "xquad_r" / "en.json").read_text(encoding="utf-8"))
    sentences = [s for article in data["data"] for paragraph in article["paragraphs"] for s in paragraph["sentences"]]
    sentences += (SHARED / "flores200" / "eng_Latn.devtest").read_text(encoding="utf-8").splitlines()
    for split in sorted((SHARED / "sib200" / "eng_Latn").glob("*.tsv")):
        with split.open(encoding="utf-8", newline="") as handle:
            sentences += [row["text"] for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)]
    return list(dict.fromkeys(s.strip() for s in sentences if s.strip()))


def shared_corpus(n_items: int) -> Corpus:
    sentences = english_sentences()
    rng = np.random.default_rng(0)
    pairs: dict[tuple[int, int], None] = {}
    while len(pairs) < n_items:  # distinct ordered pairs of distinct sentences
        for a, b in rng.integers(0, len(sentences), size=(n_items, 2)):
            if a != b and len(pairs) < n_items:
                pairs[int(a), int(b)] = None
    items = [f"{sentences[a]} {sentences[b]}" for a, b in pairs]
    source = f"pairs of {len(sentences):,} English sentences from {SHARED} (XQuAD-R, FLORES-200 devtest, SIB-200); XQuAD-R questions"
    return Corpus(items, {"en": xquad_questions("en"), "es": xquad_questions("es")}, source)


def corpus(n_items: int) -> Corpus:
    needed = [SHARED / "xquad_r" / "en.json", SHARED / "xquad_r" / "es.json", SHARED / "flores200" / "eng_Latn.devtest", SHARED / "sib200" / "eng_Latn"]
    missing = [str(p) for p in needed if not p.exists()]
    if not missing:
        return shared_corpus(n_items)
    print(f"note: shared data not found ({', '.join(missing)}): synthetic catalogue and queries, no Spanish phase", file=sys.stderr)
    items, queries = synthetic_corpus(n_items, 2000)
    return Corpus(items, {"en": queries}, "synthetic_corpus (benchmarks/retrieval.py)")


def spanish_unavailable() -> str | None:
    """Why Apertium cannot translate Spanish into English here (the Spanish phase needs it), or None."""
    from pivotrec.plugins.translators.apertium import ApertiumTranslator

    apertium = ApertiumTranslator(ApertiumTranslator.Params())
    apertium.warm_up()
    return None if apertium.supports("es", "en") else apertium.missing("es")


def write_config(out: Path, items: Sequence[str], dense_search: str = "exact") -> Path:
    """The catalogue and a config naming it, under ``out``; unchanged bytes keep the index's fingerprint."""
    catalogue = "".join(json.dumps({"id": f"i{n}", "text": text, "lang": "en"}, ensure_ascii=False) + "\n" for n, text in enumerate(items))
    write_if_changed(out / "items.jsonl", catalogue)
    config = (
        "# Written by benchmarks/serve.py.\n"
        "pivot: en\n"
        "input: {items: items.jsonl}\n"
        "translator: {plugin: apertium, on_missing: keep, cache: translations.sqlite}\n"
        "embedding_cache: embeddings.sqlite\n"
        "rankers:\n"
        "  - {plugin: bm25-fast}\n"
        "  - {plugin: dense, name: minilm, encoder: {plugin: sentence-transformers, params: {max_seq_length: 128}}"
        + (", params: {search: ivf}}\n" if dense_search == "ivf" else "}\n")
    )
    path = out / ("serve.yaml" if dense_search == "exact" else f"serve-{dense_search}.yaml")
    write_if_changed(path, config)
    return path


def write_if_changed(path: Path, text: str) -> None:
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


@dataclass(frozen=True)
class Phase:
    """One timed phase: requests answered, wall seconds, each request's latency (seconds), failures,
    and the CPU seconds the answering process spent (every thread)."""

    answered: int
    wall_s: float
    latencies: np.ndarray
    failures: int
    cpu_s: float = 0.0

    @property
    def qps(self) -> float:
        return self.answered / self.wall_s

    @property
    def cpu_ms(self) -> float:
        """CPU milliseconds per answer: what the machine's load changes least."""
        return self.cpu_s / max(self.answered, 1) * 1000

    def row(self, name: str) -> str:
        return f"{name:<22} {self.answered:>9} {self.qps:>8.1f} {self.ms(50):>8.1f} {self.ms(99):>8.1f} {self.cpu_ms:>7.1f} {self.failures:>7}"

    @classmethod
    def total(cls, phases: Sequence[Phase]) -> Phase:
        """Several turns of one side as one phase."""
        return cls(
            sum(p.answered for p in phases), sum(p.wall_s for p in phases), np.concatenate([p.latencies for p in phases]),
            sum(p.failures for p in phases), sum(p.cpu_s for p in phases),
        )

    def ms(self, percentile: float) -> float:
        return float(np.percentile(self.latencies, percentile) * 1000)


def run_clients(clients: int, seconds: float, queries: Iterable[str], ask: Callable[[int, str], bool], cpu_clock: Callable[[], float]) -> Phase:
    """``clients`` threads taking the next query from ``queries`` and asking ``ask(client, query)``, back to back,
    until ``seconds`` pass or the queries run out; ``cpu_clock`` reads the answering process's CPU seconds."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    failures = [0] * clients
    next_query = iter(queries)
    taking = threading.Lock()
    start = threading.Barrier(clients + 1)
    deadline = 0.0

    def client(n: int) -> None:
        start.wait()
        while time.perf_counter() < deadline:
            with taking:
                query = next(next_query, None)
            if query is None:
                return
            began = time.perf_counter()
            ok = ask(n, query)
            latencies[n].append(time.perf_counter() - began)
            failures[n] += not ok

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    began, cpu = time.perf_counter(), cpu_clock()
    deadline = began + seconds
    start.wait()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    flat = np.array([t for per_client in latencies for t in per_client])
    return Phase(len(flat) - sum(failures), wall, flat, sum(failures), cpu_clock() - cpu)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def service(index: Path, log: Path) -> Iterator[tuple[str, psutil.Process]]:
    """``pivotrec serve INDEX`` on a free port of 127.0.0.1, its output in ``log``; yields its base URL and process once /health answers."""
    port = free_port()
    command = [sys.executable, "-m", "pivotrec.pipeline.cli", "serve", str(index), "--host", "127.0.0.1", "--port", str(port)]
    base = f"http://127.0.0.1:{port}"
    with log.open("w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while True:
                if process.poll() is not None:
                    raise SystemExit(f"pivotrec serve exited with status {process.returncode}; its output is in {log}:\n{log.read_text()[-3000:]}")
                if time.monotonic() > deadline:
                    raise SystemExit(f"pivotrec serve did not answer /health within {START_TIMEOUT:.0f} s; its output is in {log}")
                try:
                    if httpx.get(base + "/health", timeout=5).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.5)
            yield base, psutil.Process(process.pid)
        finally:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


#: A query and the service's answer to it (the JSON body of /search).
Sample = tuple[str, dict[str, Any]]


def serve_phase(base: str, server: psutil.Process, clients: int, seconds: float, queries: Sequence[str]) -> tuple[Phase, list[Sample]]:
    """The HTTP phase, and one untimed answer per client (to check against in-process answers)."""
    connections = [httpx.Client(base_url=base, timeout=REQUEST_TIMEOUT) for _ in range(clients)]
    lean: list[http.client.HTTPConnection] = []
    samples: list[Sample] = []
    try:
        for connection, query in zip(connections, queries):  # every keep-alive connection opens before the clock starts
            response = connection.post("/search", json={"query": query, "top_k": TOP_K})
            response.raise_for_status()
            samples.append((query, response.json()))

        # The timed requests go through the standard library's client, lighter than httpx: the
        # clients share the service's cores, and their cost is no part of the service's.
        host, port = base.removeprefix("http://").split(":")
        lean = [http.client.HTTPConnection(host, int(port), timeout=REQUEST_TIMEOUT) for _ in range(clients)]
        headers = {"Content-Type": "application/json"}

        def ask(n: int, query: str) -> bool:
            lean[n].request("POST", "/search", json.dumps({"query": query, "top_k": TOP_K}), headers)
            response = lean[n].getresponse()
            response.read()
            return response.status == 200

        return run_clients(clients, seconds, itertools.cycle(queries), ask, lambda: sum(server.cpu_times()[:2])), samples
    finally:
        for connection in [*connections, *lean]:
            connection.close()


def inprocess_phase(searcher: IndexSearcher, clients: int, seconds: float, queries: Iterable[str]) -> Phase:
    def ask(_: int, query: str) -> bool:
        searcher.answer(User("query", query, (), None), TOP_K, True)
        return True

    # The clients' own CPU is counted too: a loop around a call, next to nothing.
    return run_clients(clients, seconds, queries, ask, time.process_time)


def check_same_answers(searcher: IndexSearcher, samples: Sequence[Sample]) -> None:
    """The service's results are the in-process searcher's: same items, same order, same scores."""
    for query, body in samples:
        answer = searcher.answer(User("query", query, (), None), TOP_K, True)
        served = [(r["item_id"], round(r["score"], 6)) for r in body["results"]]
        local = [(r.item_id, round(r.score, 6)) for r in answer.recommendations]
        if served != local:
            raise SystemExit(f"the service and the in-process searcher disagree on {query!r}:\n  served     {served}\n  in-process {local}")


def translated_from_cache(samples: Sequence[Sample]) -> int:
    """How many sampled queries were read as another language than English and translated from the cache."""
    return sum(1 for _, body in samples if body["query"]["lang"] != "en" and body["query"]["translation"]["cached"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000, help="catalogue size")
    parser.add_argument("--seconds", type=float, default=30.0, help="timed seconds per phase")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (threads)")
    parser.add_argument("--rounds", type=int, default=3, help="turns each side's seconds are split into, in-process and HTTP alternating "
                        "(a drift in the machine's speed then favours neither side)")
    parser.add_argument("--out", type=Path, default=REPO / "out" / "bench-serve", help="folder of the catalogue, config, index and caches (reused)")
    parser.add_argument("--dense-search", choices=["exact", "ivf"], default="exact", help="the dense ranker's search (ivf: FAISS, approximate)")
    args = parser.parse_args()

    load = os.getloadavg()
    print(f"{os.cpu_count()} CPU cores; load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (above ~0.5: other work shares the cores)")
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    data = corpus(args.items)
    unavailable = spanish_unavailable() if "es" in data.queries else None
    if unavailable is not None:
        print(f"note: the Spanish phase is skipped: {unavailable}", file=sys.stderr)
    phases = {lang: queries for lang, queries in data.queries.items() if lang == "en" or unavailable is None}
    print(f"catalogue: {len(data.items):,} items, {data.source}")

    config = load_config(write_config(out, data.items, args.dense_search))
    index = out / ("index" if args.dense_search == "exact" else f"index-{args.dense_search}")
    started = time.perf_counter()
    built = build_index(config, index)
    print(f"index {index}: {built.reason} ({time.perf_counter() - started:.0f} s); dense search {args.dense_search}")

    one_thread_per_kernel()  # as `pivotrec serve` does before its models load
    searcher = IndexSearcher(open_index(index))
    searcher.warm_up()
    progress.set_enabled(False)  # as `pivotrec serve` does after its warm-up
    for lang, queries in phases.items():
        # Every query once, so both timed sides find its translation and vector in the caches.
        warm = inprocess_phase(searcher, args.clients, float("inf"), queries)
        print(f"cache warm-up: {warm.answered:,} {lang} queries once in-process ({warm.qps:.1f} q/s; translating and encoding what the caches lacked)")

    turn = args.seconds / args.rounds
    print(f"\n{args.clients} clients, {args.seconds:g} s per side and language in {args.rounds} turns of {turn:g} s, "
          f"in-process and HTTP alternating; top {TOP_K} with explanations")
    inprocess: dict[str, list[Phase]] = {lang: [] for lang in phases}
    served: dict[str, list[Phase]] = {lang: [] for lang in phases}
    with service(index, out / "serve.log") as (base, server):
        for _ in range(args.rounds):
            for lang, queries in phases.items():
                inprocess[lang].append(inprocess_phase(searcher, args.clients, turn, itertools.cycle(queries)))
                phase, samples = serve_phase(base, server, args.clients, turn, queries)
                served[lang].append(phase)
                check_same_answers(searcher, samples)
                if lang != "en" and translated_from_cache(samples) != len(samples):
                    print(f"note: {len(samples) - translated_from_cache(samples)} of {len(samples)} sampled {lang} queries were not translated from the cache")

    print(f"{'phase':<22} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms':>7} {'failed':>7}")
    totals = {lang: (Phase.total(inprocess[lang]), Phase.total(served[lang])) for lang in phases}
    for lang, (local, http) in totals.items():
        print(local.row(f"in-process {lang}"))
        print(http.row(f"serve {lang}"))
        turns = " ".join(f"{h.qps / i.qps:.2f}" for i, h in zip(inprocess[lang], served[lang]))
        print(f"  serve/in-process by turn: {turns}")
    for lang, (local, http) in totals.items():
        if lang != "en":
            print(f"{lang}: serve_qps={http.qps:.1f} p50_ms={http.ms(50):.1f} p99_ms={http.ms(99):.1f} serve_vs_inprocess={http.qps / local.qps:.2f}")
    local, http = totals["en"]
    print(f"RESULT serve_qps={http.qps:.1f} p99_ms={http.ms(99):.1f} serve_vs_inprocess={http.qps / local.qps:.2f}")


if __name__ == "__main__":
    main()
