"""Warm caches against cold ones, and an incremental upsert against a full rebuild.

warm_vs_cold: `pivotrec compare` of the SIB-200 arms (configs/sib200/*.yaml)
on the TEST split, run as a subprocess (as a user runs it), twice: first with
empty translation and embedding caches in a new temporary folder
($PIVOTREC_CACHE and $PIVOTREC_EMBEDDING_CACHE point there), then again with
the same caches, now warm. Not --fresh-caches: that gives every arm its own
empty caches, so the second run would be cold too. Models (converted
translation models, encoder weights) are read from disk in both runs; only
the result caches start empty. The split is prepared from
../shared/data/sib200 before any timing (see sib200.py). Per arm, the split of
its seconds (warm-up, translate, encode, index, the rest) shows what a warm
run still spends, and the metrics of both runs must agree.

upsert_vs_rebuild: an index of N synthetic items (retrieval.py's
Zipf-distributed corpus, declared English, no translator) with bm25-fast and a
dense ranker over MiniLM (sentence-transformers, max_seq_length 128, its CPU default
ONNX Runtime int8). Then, each
through `pivotrec index` as a subprocess (start-up and model loading included
in both):
- upsert: `pivotrec index CONFIG --upsert new.jsonl` adds M new items to a copy
  of that index, with an empty embedding cache (only the M new texts are
  encoded);
- rebuild: `pivotrec index FINAL` builds the final N+M catalogue into a new
  folder with a new, empty embedding cache: every text is encoded again (a
  rebuild that read the cache would not be one).
The rebuild runs first; the same rebuild with its cache now warm is printed
too, for comparison. The N-item index is kept under --out and reused (by its
fingerprint) on the next run; the first run builds it from the vectors the
rebuild cached, so no run encodes more than the rebuild and the upsert do.
Both indexes then answer the same queries (synthetic ones, and the first words
of upserted items), and the top 10 of each must be the same items.

    python benchmarks/caches.py [--arms 1,4] [--items 100000] [--upserts 1000] [--parts compare,index]

Last line: RESULT warm_vs_cold=<warm s / cold s> upsert_vs_rebuild=<upsert s / rebuild s>
(targets: <= 0.2 and <= 0.05), with the raw seconds on the line above it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from arms import PIVOTREC, chosen_configs, prepare_split, run_arms, source_missing
from retrieval import synthetic_corpus
from sib200 import DATASET, METRICS, SOURCE

REPO = Path(__file__).resolve().parents[1]
#: Stages a warm run may still spend time in; everything else is summed as "other".
STAGES = ("warm-up", "normalise", "translate", "encode", "index")
#: Results compared between the upserted and the rebuilt index.
TOP_K = 10


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="compare,index", help="compare (warm_vs_cold), index (upsert_vs_rebuild), or both")
    parser.add_argument("--arms", help="comma-separated SIB-200 arm numbers (default: all in configs/sib200)")
    parser.add_argument("--dataset", type=Path, default=DATASET, help="prepared SIB-200 split (default: the test split, prepared if missing)")
    parser.add_argument("--items", type=int, default=100_000, help="items in the index before the upsert")
    parser.add_argument("--upserts", type=int, default=1000, help="new items upserted")
    parser.add_argument("--queries", type=int, default=40, help="queries both indexes answer in the check")
    parser.add_argument("--out", type=Path, default=REPO / "out" / "bench-caches", help="reports, the kept index and the work folders")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    if parts - {"compare", "index"}:
        parser.error(f"--parts: unknown {sorted(parts - {'compare', 'index'})}; choose compare, index or both")
    args.out.mkdir(parents=True, exist_ok=True)

    ratios: dict[str, float] = {}
    seconds: dict[str, float] = {}
    if "compare" in parts:
        if source_missing(SOURCE, "SIB-200"):
            return 2
        cold_s, warm_s = warm_and_cold(chosen_configs("sib200", args.arms), args.dataset, args.out)
        seconds |= {"cold_s": cold_s, "warm_s": warm_s}
        ratios["warm_vs_cold"] = warm_s / cold_s
    if "index" in parts:
        upsert_s, rebuild_s = upsert_and_rebuild(args.items, args.upserts, args.queries, args.out)
        seconds |= {"upsert_s": upsert_s, "rebuild_s": rebuild_s}
        ratios["upsert_vs_rebuild"] = upsert_s / rebuild_s
    print("seconds: " + " ".join(f"{key}={value:.1f}" for key, value in seconds.items()))
    print("RESULT " + " ".join(f"{key}={value:.3f}" for key, value in ratios.items()))
    return 0


# --- warm_vs_cold ---


def warm_and_cold(configs: list[Path], dataset: Path, out: Path) -> tuple[float, float]:
    """Seconds of `pivotrec compare` over ``configs`` with empty caches, then with the same caches warm."""
    prepare_split("sib200", SOURCE, dataset)  # before the timing: preparing is no part of either run
    print(f"pivotrec compare, {len(configs)} SIB-200 arm(s) on {dataset.name}: cold caches, then the same caches warm (subprocess)")
    with tempfile.TemporaryDirectory(prefix="caches-", dir=out) as folder:
        # Read by every config's defaults (translator.cache, embedding_cache) in the arms' processes.
        os.environ["PIVOTREC_CACHE"] = str(Path(folder) / "translations.sqlite")
        os.environ["PIVOTREC_EMBEDDING_CACHE"] = str(Path(folder) / "embeddings.sqlite")
        cold, cold_s = run_arms(configs, "sib200", SOURCE, dataset, METRICS, out / "cold")
        warm, warm_s = run_arms(configs, "sib200", SOURCE, dataset, METRICS, out / "warm")
    print_arms(cold, warm)
    print(f"compare: cold {cold_s:.1f} s, warm {warm_s:.1f} s: warm/cold {warm_s / cold_s:.3f} (target <= 0.2)")
    return cold_s, warm_s


def stage_split(cost: dict[str, Any]) -> list[float]:
    by_stage = cost["seconds_by_stage"]
    shown = [by_stage.get(stage, 0.0) for stage in STAGES]
    return [*shown, cost["seconds_total"] - sum(shown)]


def print_arms(cold: list[dict[str, Any]], warm: list[dict[str, Any]]) -> None:
    """Per arm: seconds cold and warm, the warm run's seconds by stage, what the caches served in it, and whether the metrics agree."""
    width = max(len(s["name"]) for s in cold)
    heads = [*STAGES, "other"]
    print(f"\n{'arm':<{width}} {'cold s':>7} {'warm s':>7} | warm run: " + " ".join(f"{h:>9}" for h in heads)
          + f" {'vectors now/cache':>18} {'texts now/cache':>15} {'glosses':>7} same metrics")
    for before, after in zip(cold, warm, strict=True):
        cost = after["cost"]
        same = before["metrics"] == after["metrics"]
        print(
            f"{after['name']:<{width}} {before['cost']['seconds_total']:>7.1f} {cost['seconds_total']:>7.1f} |           "
            + " ".join(f"{s:>9.1f}" for s in stage_split(cost))
            + f" {cost['vectors_encoded']:>8}/{cost['vectors_from_cache']:<9} {cost['texts_translated']:>7}/{cost['texts_from_cache']:<7} {cost['texts_glossed']:>7} {'yes' if same else 'NO'}"
        )


# --- upsert_vs_rebuild ---


def write_items(path: Path, texts: list[str], first_id: int) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for n, text in enumerate(texts, first_id):
            handle.write(json.dumps({"id": f"item-{n}", "text": text, "lang": "en"}) + "\n")


def write_config(path: Path, items: Path, embedding_cache: Path) -> Path:
    """The index config: bm25-fast and MiniLM over declared-English items, nothing translated."""
    config = {
        "pivot": "en",
        "input": {"items": str(items)},
        "translator": None,
        "encoder": {"plugin": "sentence-transformers", "params": {"max_seq_length": 128}},
        "embedding_cache": str(embedding_cache),
        "rankers": [{"plugin": "bm25-fast"}, {"plugin": "dense", "name": "minilm"}],
    }
    path.write_text(json.dumps(config, indent=1), encoding="utf-8")  # JSON is YAML
    return path


def timed_index(label: str, *args: str) -> float:
    """Seconds of one `pivotrec index` subprocess; its summary is printed indented."""
    start = time.perf_counter()
    done = subprocess.run([*PIVOTREC, "--quiet", "index", *args], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{label}: pivotrec index {' '.join(args)} failed (exit {done.returncode}) after {seconds:.0f} s:\n{done.stderr[-2000:]}")
    print(f"{label}: {seconds:.1f} s")
    for line in done.stdout.splitlines():
        print(f"    {line}")
    return seconds


def upsert_and_rebuild(n_items: int, n_upserts: int, n_queries: int, out: Path) -> tuple[float, float]:
    """Seconds of upserting ``n_upserts`` new items into an ``n_items`` index, and of rebuilding the final catalogue."""
    texts, queries = synthetic_corpus(n_items + n_upserts, n_queries // 2)
    base, work = out / "base", out / "run"
    base.mkdir(exist_ok=True)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    write_items(base / "items.jsonl", texts[:n_items], 0)
    write_items(work / "new.jsonl", texts[n_items:], n_items)
    shutil.copyfile(base / "items.jsonl", work / "final.jsonl")
    with (work / "final.jsonl").open("a", encoding="utf-8") as final, (work / "new.jsonl").open(encoding="utf-8") as new:
        final.write(new.read())
    print(f"\nindex of {n_items:,} synthetic items (bm25-fast + dense MiniLM, max_seq_length 128), then {n_upserts:,} new items (pivotrec index, subprocess)")

    rebuild_cache = work / "rebuild-cache" / "embeddings.sqlite"
    final_config = write_config(work / "final.yaml", work / "final.jsonl", rebuild_cache)
    rebuild_s = timed_index(f"full rebuild of the final {n_items + n_upserts:,} items (empty embedding cache)", str(final_config), "--out", str(work / "rebuilt"))
    timed_index("the same rebuild with that cache now warm (for comparison only)", str(final_config), "--out", str(work / "rebuilt-warm"))

    # The kept index is built (first run only) from the vectors the rebuild has just cached, then its
    # cache is emptied: the upsert encodes its new items, as it would in real use.
    upsert_cache = base / "upsert-cache" / "embeddings.sqlite"
    base_config = write_config(base / "index.yaml", base / "items.jsonl", upsert_cache)
    copy_cache(rebuild_cache, upsert_cache)
    timed_index(f"{n_items:,}-item index (kept in {base}; reused when up to date)", str(base_config), "--out", str(base / "index"))
    shutil.rmtree(upsert_cache.parent)
    shutil.copytree(base / "index", work / "upserted")
    upsert_s = timed_index(f"upsert of {n_upserts:,} new items (empty embedding cache)", str(base_config), "--out", str(work / "upserted"), "--upsert", str(work / "new.jsonl"))

    same, total = same_answers(work / "upserted", work / "rebuilt", queries + [" ".join(t.split()[:8]) for t in texts[n_items:][: n_queries - len(queries)]])
    print(f"check: the upserted and the rebuilt index give the same top {TOP_K} for {same} of {total} queries")
    if same != total:
        print("warning: the upserted index answers differently from the rebuilt one", file=sys.stderr)
    print(f"upsert {upsert_s:.1f} s, rebuild {rebuild_s:.1f} s: upsert/rebuild {upsert_s / rebuild_s:.3f} (target <= 0.05)")
    return upsert_s, rebuild_s


def copy_cache(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite cache (what its write-ahead log holds included)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    with contextlib.closing(sqlite3.connect(source)) as reading, contextlib.closing(sqlite3.connect(target)) as writing:
        reading.backup(writing)


def same_answers(first: Path, second: Path, queries: list[str]) -> tuple[int, int]:
    """How many of ``queries`` get the same top items, in the same order, from both indexes."""
    from pivotrec.pipeline import progress
    from pivotrec.pipeline.index.search import IndexSearcher
    from pivotrec.pipeline.index.store import open_index
    from pivotrec.pipeline.records import User

    progress.set_enabled(False)
    answers = []
    for folder in (first, second):
        searcher = IndexSearcher(open_index(folder))
        answers.append([
            [r.item_id for r in searcher.answer(User(f"q{n}", text, (), "en"), TOP_K, explain=False).recommendations]
            for n, text in enumerate(queries)
        ])
    return sum(a == b for a, b in zip(*answers, strict=True)), len(queries)


if __name__ == "__main__":
    sys.exit(main())
