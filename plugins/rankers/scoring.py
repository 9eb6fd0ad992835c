"""Helpers shared by the built-in rankers."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np


class ItemRows:
    """A ranker's catalogue: item ids in document order, and each id's row (built once per index)."""

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self.ids = list(ids)
        self.row = {item_id: row for row, item_id in enumerate(self.ids)}

    def __len__(self) -> int:
        return len(self.ids)


class HistoryRanker:
    """What the rankers that learn from histories alone start from: no vectors, their params,
    the catalogue's item rows (set when indexed)."""

    needs_vectors = False

    def __init__(self, params: Any) -> None:
        self.params = params
        self._items = ItemRows()


def top_k_indices(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest scores, best first (ties broken by lower index)."""
    k = min(k, scores.shape[0])
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    part = np.argpartition(-scores, k - 1)[:k]
    # argpartition keeps an arbitrary one of several scores tied at the k-th place: take them all, then cut.
    tied_or_better = np.flatnonzero(scores >= scores[part].min())
    return tied_or_better[np.lexsort((tied_or_better, -scores[tied_or_better]))][:k]


def common_term_idf(n_docs: int, max_df: float) -> float:
    """The BM25 idf of a term found in ``max_df`` of ``n_docs`` documents: terms below
    it are too common (function words, particles) to explain a match."""
    df = max_df * n_docs
    return float(np.log(n_docs - df + 0.5) - np.log(df + 0.5))


def matched_terms(query_terms: list[str], doc_terms: set[str], idf: dict[str, float], limit: int, min_idf: float) -> str | None:
    """``"matched a, b"``: informative query terms found in the document, rarest (highest idf) first."""
    matched = [t for t in dict.fromkeys(query_terms) if t in doc_terms and idf.get(t, 0.0) >= min_idf]
    matched.sort(key=lambda t: -idf.get(t, 0.0))
    return "matched " + ", ".join(matched[:limit]) if matched and limit else None


def save_index(directory: Path, meta: dict[str, Any], **arrays: np.ndarray) -> None:
    """Write ``meta.json`` and ``arrays.npz``: plain JSON and numeric arrays, never pickle."""
    directory.mkdir(parents=True, exist_ok=True)
    np.savez(directory / "arrays.npz", allow_pickle=False, **arrays)
    (directory / "meta.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")


def load_index(directory: Path, kind: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read what ``save_index`` wrote; ``allow_pickle=False`` so a crafted file cannot run code."""
    meta = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
    if meta.get("kind") != kind:
        raise ValueError(f"{directory} holds a {meta.get('kind')!r} index, not {kind!r}")
    with np.load(directory / "arrays.npz", allow_pickle=False) as data:
        return meta, {name: data[name] for name in data.files}
