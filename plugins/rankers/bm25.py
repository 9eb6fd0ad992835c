"""BM25 over pivot (or original) text with rank-bm25 (the reference implementation)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pivotrec.pipeline.records import Document, Hit, Query
from pivotrec.pipeline.text import tokenize
from pivotrec.plugins.rankers.scoring import common_term_idf, matched_terms, top_k_indices


class BM25Params(BaseModel):
    """Okapi BM25 options, shared by both BM25 rankers so they score alike."""

    model_config = ConfigDict(extra="forbid")
    #: Term-frequency saturation: how much a term's repeats add (0: nothing beyond the first).
    k1: float = Field(1.5, gt=0)
    #: Length normalisation: 0 ignores document length, 1 divides it out fully.
    b: float = Field(0.75, ge=0, le=1)
    #: Floor for negative idf (terms in over half the documents), as a
    #: fraction of the mean idf: rank-bm25's BM25Okapi rule.
    epsilon: float = Field(0.25, ge=0)
    #: How many matched terms an explanation lists.
    explain_terms: int = Field(5, ge=0)
    #: Terms found in more than this share of documents never explain a match.
    explain_max_df: float = Field(0.2, gt=0, le=1)
    #: Which text is indexed and matched: the pivot translation, the original text
    #: (same-language matches, e.g. names and terms a translator mangles), or both.
    text: Literal["pivot", "original", "both"] = "pivot"


def document_text(doc: Document, text: str) -> str:
    """What a BM25 ranker indexes of ``doc`` under ``BM25Params.text``."""
    return _chosen(doc.pivot, doc.original, text)


def query_text(query: Query, text: str) -> str:
    """What a BM25 ranker matches of ``query`` under ``BM25Params.text``."""
    return _chosen(query.text, query.original, text)


def _chosen(pivot: str, original: str, text: str) -> str:
    if text == "pivot":
        return pivot
    if text == "original":
        return original
    # A text already in the pivot once, not twice: doubled counts would favour pivot-language items.
    return pivot if pivot == original else f"{pivot} {original}"


class RankBM25Ranker:
    """Okapi BM25 from the ``rank-bm25`` package; scores every document per query in Python.

    Kept as the reference; ``bm25-fast`` gives the same scores far faster.
    """

    Params = BM25Params
    needs_vectors = False

    def __init__(self, params: BM25Params) -> None:
        self.params = params
        self._bm25: Any = None
        self._ids: list[str] = []
        self._tokens: list[set[str]] = []
        self._rows: dict[str, int] = {}

    def index(self, docs: Sequence[Document], vectors: np.ndarray | None, histories: Sequence[Sequence[str]] = ()) -> None:
        from rank_bm25 import BM25Okapi

        corpus = [tokenize(document_text(d, self.params.text)) for d in docs]
        self._ids = [d.id for d in docs]
        self._tokens = [set(t) for t in corpus]
        self._rows = {item_id: row for row, item_id in enumerate(self._ids)}
        self._bm25 = BM25Okapi(corpus, k1=self.params.k1, b=self.params.b, epsilon=self.params.epsilon)

    def search(self, queries: Sequence[Query], vectors: np.ndarray | None, k: int) -> list[list[Hit]]:
        if self._bm25 is None:
            raise RuntimeError("search before index")
        results = []
        for query in queries:
            terms = tokenize(query_text(query, self.params.text))
            scores = np.asarray(self._bm25.get_scores(terms), dtype=np.float64)
            results.append([Hit(self._ids[i], float(scores[i]), "bm25") for i in top_k_indices(scores, k) if scores[i] > 0])
        return results

    def explain(self, query: Query, item_ids: Sequence[str]) -> list[str | None]:
        terms = tokenize(query_text(query, self.params.text))
        common = common_term_idf(len(self._ids), self.params.explain_max_df)
        return [matched_terms(terms, self._tokens[self._rows[i]], self._bm25.idf, self.params.explain_terms, common) for i in item_ids]
