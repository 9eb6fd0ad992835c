"""Exact cosine top-k over L2-normalised vectors, in numpy."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from pivotrec.pipeline.records import Document, Hit, Query
from pivotrec.plugins.rankers.scoring import load_index, save_index, top_k_indices

KIND = "dense"
#: Queries from which an exact search is one BLAS product; fewer are split by catalogue rows between threads.
FEW_QUERIES = 64
BiasMethod = Literal["mean", "lir"]
#: Chosen on the XQuAD-R DEV split by benchmarks/language_bias.py (SIB-200 DEV agrees).
LIR_DIRECTIONS = 1


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def _codes(languages: Sequence[str], langs: Sequence[str]) -> np.ndarray:
    row = {lang: n for n, lang in enumerate(languages)}
    return np.array([row[lang] for lang in langs], dtype=np.int64)


def _mean_and_directions(vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean (dim) and top-``k`` right singular vectors (k x dim) of the uncentred ``vectors``."""
    directions = np.linalg.svd(vectors, full_matrices=False)[2][:k] if k else np.zeros((0, vectors.shape[1]))
    return vectors.mean(axis=0).astype(np.float32), directions.astype(np.float32)


@dataclass(frozen=True)
class LanguageBias:
    """Each language's mean vector and principal directions, fitted on a catalogue's vectors.

    ``method`` says what ``remove`` takes out: ``mean`` subtracts the
    language's mean vector; ``lir`` projects out its ``directions``, the top
    right singular vectors of its uncentred vectors, as Yang et al. do (the
    first is close to the mean's direction, the next ones spread the language
    apart). ``means`` (languages x dim) also tell a query's language;
    ``directions`` is languages x k x dim (k = 0 for ``mean``); row n belongs
    to ``languages[n]``. ``pooled`` names the languages with too few vectors
    (k + 1; 2 for the mean) for an estimate of their own: they share the whole
    catalogue's.
    """

    method: BiasMethod
    languages: tuple[str, ...]
    means: np.ndarray
    directions: np.ndarray
    pooled: tuple[str, ...] = ()

    @classmethod
    def fit(cls, vectors: np.ndarray, langs: Sequence[str], method: BiasMethod, k: int) -> "LanguageBias":
        """Fit on one or more vectors (rows) with their languages; ``k`` directions per language for ``lir``."""
        k = k if method == "lir" else 0
        languages = tuple(dict.fromkeys(langs))
        codes = _codes(languages, langs)
        # k directions of k vectors would erase them, as would a single vector's own mean.
        sizes = np.bincount(codes, minlength=len(languages))
        pooled = tuple(lang for lang, size in zip(languages, sizes) if size <= max(k, 1))
        fitted = {lang: _mean_and_directions(vectors[codes == code], k) for code, lang in enumerate(languages) if lang not in pooled}
        if pooled:
            whole = _mean_and_directions(vectors, k)
            fitted |= {lang: whole for lang in pooled}
        means = np.stack([fitted[lang][0] for lang in languages])
        return cls(method, languages, means, np.stack([fitted[lang][1] for lang in languages]), pooled)

    def codes(self, langs: Sequence[str]) -> np.ndarray:
        """Row of each language in ``means`` and ``directions``."""
        return _codes(self.languages, langs)

    def nearest(self, vectors: np.ndarray) -> np.ndarray:
        """Code of the language whose mean is most similar (cosine) to each vector: a query's likely language."""
        return (_unit_rows(vectors) @ _unit_rows(self.means).T).argmax(axis=1)

    def remove(self, vectors: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """Take each row's language out (``method``), then re-normalise."""
        out = vectors.astype(np.float32, copy=True)
        for code in np.unique(codes):
            rows = codes == code
            if self.method == "mean":
                out[rows] -= self.means[code]
            else:
                axes = self.directions[code]
                out[rows] -= (out[rows] @ axes.T) @ axes
        return _unit_rows(out)


class DenseRanker:
    """Scores every item by inner product with the query vector (cosine on unit vectors).

    Queries are scored in blocks of ``query_batch``: one matrix product serves
    many queries without holding a queries x catalogue matrix at once. Each
    hit is explained by the history item most similar to it.

    ``per_language`` corrects the language bias of multilingual encoders,
    which score candidates in the query's own language higher whatever their
    relevance. ``zscore`` z-normalises each query's scores within each
    candidate language (over the whole catalogue), so every language's best
    candidates compete on how far they stand above their own language's
    crowd. ``rank`` scores a candidate 1/r by its rank r within its own
    language (raw similarity breaks ties), so the lists interleave languages:
    every language's best first, then every language's second best.

    ``bias_removal`` takes the language out of the vectors themselves,
    fitted on the catalogue at index time: ``mean`` subtracts each language's
    mean vector; ``lir`` (Language Information Removal, Yang et al., EMNLP
    2021) projects out the top ``lir_directions`` singular directions of the
    language's vectors, which mostly encode the language, not the topic.
    Vectors are re-normalised after. A query carries no language, so it gets
    the removal of the language whose mean vector is nearest to it. It
    combines with ``per_language``, which then ranks the cleaned scores.

    ``search: ivf`` trades exactness for speed on large catalogues: a FAISS
    inverted-file index (k-means cells) scores, exactly, only the items in the
    ``nprobe`` cells nearest the query. Needs ``pip install faiss-cpu``.
    """

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        #: Queries scored per matrix product.
        query_batch: int = Field(256, ge=1)
        #: Correct an encoder's own-language bias by comparing scores within each candidate language.
        per_language: Literal["off", "zscore", "rank"] = "off"
        #: Take the language out of the vectors at index time: each language's mean, or its top directions (lir).
        bias_removal: Literal["off"] | BiasMethod = "off"
        #: Principal directions removed per language by ``bias_removal: lir``.
        lir_directions: int = Field(LIR_DIRECTIONS, ge=1)
        #: exact: every item scored (numpy); ivf: a FAISS inverted-file index, for large catalogues.
        search: Literal["exact", "ivf"] = "exact"
        #: IVF cells; default about 4 * sqrt(catalogue size).
        nlist: int | None = Field(None, ge=1)
        #: IVF cells scanned per query: higher is slower and closer to exact.
        nprobe: int = Field(32, ge=1)
        #: Threads sharing an exact search of a few queries (0: one per CPU core this process may use).
        threads: int = Field(0, ge=0)

        @model_validator(mode="after")
        def _exact_for_per_language(self) -> "DenseRanker.Params":
            if self.per_language != "off" and self.search != "exact":
                raise ValueError("per_language needs every candidate's score: use search: exact")
            return self

    needs_vectors = True

    def __init__(self, params: Params) -> None:
        self.params = params
        self._ivf: Any = None
        self._ids: list[str] = []
        self._langs: list[str] = []
        self._rows: dict[str, int] = {}
        self._matrix: np.ndarray | None = None
        self._bias: LanguageBias | None = None
        #: Threads of the exact search of a few queries, started on first use.
        self._pool: ThreadPoolExecutor | None = None

    def index(self, docs: Sequence[Document], vectors: np.ndarray | None, histories: Sequence[Sequence[str]] = ()) -> None:
        if vectors is None or vectors.shape[0] != len(docs):
            raise ValueError("dense ranker needs one vector per document")
        langs = [d.lang for d in docs]
        matrix = np.ascontiguousarray(vectors, dtype=np.float32)
        self._bias = None
        if self.params.bias_removal != "off" and docs:
            self._bias = LanguageBias.fit(matrix, langs, self.params.bias_removal, self.params.lir_directions)
            if self._bias.pooled:
                k = self._bias.directions.shape[1]
                warnings.warn(
                    f"dense ranker bias_removal {self.params.bias_removal!r}: too few items (at most {max(k, 1)}) to fit "
                    f"language(s) {', '.join(self._bias.pooled)}; they use the whole catalogue's mean and directions",
                    stacklevel=2,
                )
            matrix = self._bias.remove(matrix, self._bias.codes(langs))
        self._set([d.id for d in docs], langs, matrix)
        if self.params.search == "ivf":
            self._ivf = self._build_ivf(matrix)

    def _set(self, ids: list[str], langs: list[str], matrix: np.ndarray) -> None:
        self._ids = ids
        self._langs = langs
        self._rows = {item_id: row for row, item_id in enumerate(ids)}
        self._matrix = matrix
        codes = {lang: n for n, lang in enumerate(dict.fromkeys(langs))}
        self._lang_codes = np.array([codes[lang] for lang in langs], dtype=np.int64)
        self._lang_sizes = np.bincount(self._lang_codes, minlength=len(codes)).astype(np.float64)
        # The matrix's rows shared out between the threads of an exact search of a few queries.
        threads = self.params.threads or len(os.sched_getaffinity(0))
        bounds = np.linspace(0, matrix.shape[0], min(threads, max(matrix.shape[0], 1)) + 1).astype(np.int64)
        self._row_parts = [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]

    def _bias_setting(self) -> str:
        """``off``, ``mean`` or ``lir:<k>``: what a saved index records, so a load with other params is refused."""
        removal = self.params.bias_removal
        return f"lir:{self.params.lir_directions}" if removal == "lir" else removal

    def _build_ivf(self, matrix: np.ndarray) -> Any:
        try:
            import faiss
        except ImportError as exc:
            raise ImportError("dense ranker 'search: ivf' needs FAISS: pip install faiss-cpu") from exc
        n, dim = matrix.shape
        nlist = min(self.params.nlist or int(4 * np.sqrt(n)), max(n // 39, 1))  # FAISS wants ~39 points per cell to train
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.train(matrix)
        index.add(matrix)
        index.nprobe = min(self.params.nprobe, nlist)
        return index

    def _rank_per_language(self, scores: np.ndarray) -> np.ndarray:
        """1/rank within each candidate language (+ a tie-breaking trace of the raw score), per query row."""
        out = np.empty(scores.shape, dtype=np.float64)
        starts = np.concatenate([[0], np.cumsum(self._lang_sizes)[:-1]]).astype(np.int64)
        for row, values in enumerate(scores):
            # Grouped by language, best first within each group.
            order = np.lexsort((-values, self._lang_codes))
            ranks = np.arange(1, len(order) + 1) - starts[self._lang_codes[order]]
            out[row, order] = 1.0 / ranks + 1e-9 * values[order]
        return out

    def _zscore_per_language(self, scores: np.ndarray) -> np.ndarray:
        """z-scores within each candidate language, for a block of queries (rows)."""
        out = np.empty_like(scores)
        for row, values in enumerate(scores):
            values64 = values.astype(np.float64)
            mean = np.bincount(self._lang_codes, values64) / self._lang_sizes
            square = np.bincount(self._lang_codes, values64 * values64) / self._lang_sizes
            std = np.sqrt(np.maximum(square - mean * mean, 1e-12))
            out[row] = (values64 - mean[self._lang_codes]) / std[self._lang_codes]
        return out

    def search(self, queries: Sequence[Query], vectors: np.ndarray | None, k: int) -> list[list[Hit]]:
        if self._matrix is None:
            raise RuntimeError("search before index")
        if vectors is None or vectors.shape[0] != len(queries):
            raise ValueError("dense ranker needs one vector per query")
        if self._bias is not None:
            # The query's language is unknown: remove the nearest language's bias (on XQuAD-R
            # DEV as good as the true language's, and better than one projection for all).
            vectors = self._bias.remove(vectors, self._bias.nearest(vectors))
        if self._ivf is not None:
            # IVF-Flat scores are exact inner products over the scanned cells.
            scores, rows = self._ivf.search(np.ascontiguousarray(vectors, dtype=np.float32), k)
            return [[Hit(self._ids[i], float(s), KIND) for s, i in zip(srow, irow) if i >= 0] for srow, irow in zip(scores, rows)]
        results = []
        for start in range(0, len(queries), self.params.query_batch):
            block = self._inner_products(vectors[start : start + self.params.query_batch].astype(np.float32))
            if self.params.per_language == "zscore":
                block = self._zscore_per_language(block)
            elif self.params.per_language == "rank":
                block = self._rank_per_language(block)
            for scores in block:
                results.append([Hit(self._ids[i], float(scores[i]), KIND) for i in top_k_indices(scores, k)])
        return results

    def _inner_products(self, queries: np.ndarray) -> np.ndarray:
        """Queries x items inner products with the catalogue's matrix.

        Many queries are one matrix product, threaded by BLAS. A few queries (the
        service's batches) are bound by reading the matrix, not by arithmetic: they
        are multiplied as items x queries, about a third faster with OpenBLAS than
        queries x items, with the rows split between threads (numpy releases the
        GIL), so the matrix is read on every core even where BLAS runs one thread,
        as in the service (0.55x the time of one thread at 100k items on 2 cores).
        """
        assert self._matrix is not None
        matrix = self._matrix
        if len(queries) >= FEW_QUERIES:
            return queries @ matrix.T
        columns = np.ascontiguousarray(queries.T)
        products = np.empty((matrix.shape[0], len(queries)), dtype=np.float32)
        parts = self._row_parts
        if len(parts) <= 1:
            np.matmul(matrix, columns, out=products)
        else:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(len(parts), thread_name_prefix="dense-search")
            list(self._pool.map(lambda part: np.matmul(matrix[part], columns, out=products[part]), parts))
        return products.T

    def explain(self, query: Query, item_ids: Sequence[str]) -> list[str | None]:
        """The history item most similar to each recommended item."""
        if self._matrix is None:
            raise RuntimeError("explain before index")
        history = [self._rows[h] for h in query.history if h in self._rows]
        if not history or not item_ids:
            return [None] * len(item_ids)
        similarity = self._matrix[[self._rows[i] for i in item_ids]] @ self._matrix[history].T
        best = similarity.argmax(axis=1)
        return [f"most similar to history item {self._ids[history[b]]} ({similarity[n, b]:.2f})" for n, b in enumerate(best)]

    def save(self, directory: Path) -> None:
        if self._matrix is None:
            raise RuntimeError("save before index")
        meta: dict[str, Any] = {"kind": KIND, "ids": self._ids, "langs": self._langs, "bias_removal": self._bias_setting()}
        extra: dict[str, np.ndarray] = {}
        if self._ivf is not None:
            import faiss

            extra["ivf"] = faiss.serialize_index(self._ivf)  # a uint8 array: no pickle
        if self._bias is not None:
            meta |= {"bias_languages": list(self._bias.languages), "bias_pooled": list(self._bias.pooled)}
            extra |= {"bias_means": self._bias.means, "bias_directions": self._bias.directions}
        save_index(directory, meta, vectors=self._matrix, **extra)

    def load(self, directory: Path) -> None:
        meta, arrays = load_index(directory, KIND)
        # The saved vectors already had the bias removed (or not): queries must be treated alike.
        saved = meta.get("bias_removal", "off")
        if saved != self._bias_setting():
            raise ValueError(f"{directory}: index built with bias_removal {saved!r}, but the params ask for {self._bias_setting()!r}; rebuild the index")
        self._bias = None
        if self.params.bias_removal != "off" and "bias_means" in arrays:
            self._bias = LanguageBias(
                self.params.bias_removal, tuple(meta["bias_languages"]), arrays["bias_means"], arrays["bias_directions"], tuple(meta["bias_pooled"])
            )
        self._set(meta["ids"], meta["langs"], arrays["vectors"])
        if self.params.search == "ivf":
            import faiss

            self._ivf = faiss.deserialize_index(arrays["ivf"]) if "ivf" in arrays else self._build_ivf(arrays["vectors"])
            self._ivf.nprobe = min(self.params.nprobe, self._ivf.nlist)
