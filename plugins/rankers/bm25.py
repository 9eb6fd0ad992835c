"""BM25 over pivot (or original) text with rank-bm25 (the reference implementation)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pivotrec.pipeline.records import Document, Hit, Query
from pivotrec.pipeline.text import tokenize
from pivotrec.plugins.rankers.scoring import common_term_idf, matched_terms, top_k_indices
from pivotrec.plugins.rankers.stopwords import stopwords_of


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
    #: Drop stopwords (the stopwords-iso lists) before indexing and matching: a
    #: document loses those of its text's language (the pivot language for a
    #: translation, the item's for an original), a query those of every language
    #: indexed (its own is not known). A language without a list keeps every token.
    #: Explanations never list stopwords, on or off.
    stopwords: bool = True


def document_text(doc: Document, text: str) -> str:
    """What a BM25 ranker indexes of ``doc`` under ``BM25Params.text``."""
    return _chosen(doc.pivot, doc.original, text)


def query_text(query: Query, text: str) -> str:
    """What a BM25 ranker matches of ``query`` under ``BM25Params.text``."""
    return _chosen(query.text, query.original, text)


def text_languages(doc: Document, text: str) -> frozenset[str]:
    """The languages of what a BM25 ranker indexes of ``doc`` under ``BM25Params.text``."""
    # A pivot that is the original (no translator served it, or one that copies) is in the item's language.
    copied = doc.translation.kept_original or doc.translation.method == "copy"
    pivot = doc.lang if copied else doc.translation.tgt_lang
    if text == "pivot":
        return frozenset({pivot})
    if text == "original":
        return frozenset({doc.lang})
    return frozenset({pivot, doc.lang})


def terms(text: str, dropped: frozenset[str]) -> list[str]:
    """The tokens of ``text`` that are not in ``dropped``."""
    return [token for token in tokenize(text) if token not in dropped]


def document_terms(docs: Sequence[Document], params: BM25Params) -> tuple[list[list[str]], frozenset[str]]:
    """Each document's terms as a BM25 ranker indexes them, and every language indexed (a query
    drops the stopwords of all of them: its own language is not known)."""
    corpus = []
    languages: set[str] = set()
    for doc in docs:
        doc_languages = text_languages(doc, params.text)
        languages |= doc_languages
        corpus.append(terms(document_text(doc, params.text), stopwords_of(doc_languages) if params.stopwords else frozenset()))
    return corpus, frozenset(languages)


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
        #: Every indexed language's stopwords: dropped from queries, and never in an explanation.
        self._stopwords: frozenset[str] = frozenset()
        self._tokens: list[set[str]] = []
        self._rows: dict[str, int] = {}

    def index(self, docs: Sequence[Document], vectors: np.ndarray | None, histories: Sequence[Sequence[str]] = ()) -> None:
        from rank_bm25 import BM25Okapi

        corpus, languages = document_terms(docs, self.params)
        self._stopwords = stopwords_of(languages)
        self._ids = [d.id for d in docs]
        self._tokens = [set(t) for t in corpus]
        self._rows = {item_id: row for row, item_id in enumerate(self._ids)}
        self._bm25 = BM25Okapi(corpus, k1=self.params.k1, b=self.params.b, epsilon=self.params.epsilon)

    def search(self, queries: Sequence[Query], vectors: np.ndarray | None, k: int) -> list[list[Hit]]:
        if self._bm25 is None:
            raise RuntimeError("search before index")
        results = []
        for query in queries:
            matched = terms(query_text(query, self.params.text), self._stopwords if self.params.stopwords else frozenset())
            scores = np.asarray(self._bm25.get_scores(matched), dtype=np.float64)
            results.append([Hit(self._ids[i], float(scores[i]), "bm25") for i in top_k_indices(scores, k) if scores[i] > 0])
        return results

    def explain(self, query: Query, item_ids: Sequence[str]) -> list[str | None]:
        informative = terms(query_text(query, self.params.text), self._stopwords)
        common = common_term_idf(len(self._ids), self.params.explain_max_df)
        return [matched_terms(informative, self._tokens[self._rows[i]], self._bm25.idf, self.params.explain_terms, common) for i in item_ids]
