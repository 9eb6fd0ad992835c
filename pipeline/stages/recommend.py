from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np

from pivotrec.pipeline.records import Document, Hit, Query, Recommendation, User
from pivotrec.pipeline.text import tokenize


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


class ProfileStage:
    """Turn users into queries.

    The text profile joins the user's own pivot text with the pivot texts of
    their history items, so BM25 matches across languages through the pivot.
    The dense profile averages history vectors (``mean``) or weights newer
    items more (``recency``: weight decay**age), then adds the user's own text
    vector with the weight of one history item.
    """

    def __init__(self, method: Literal["mean", "recency"] = "mean", recency_decay: float = 0.8) -> None:
        self.method = method
        self.recency_decay = recency_decay

    def queries(self, users: Sequence[User], user_docs: Mapping[str, Document], item_docs: Mapping[str, Document]) -> list[Query]:
        """One text query per user: the texts of its history and of its own text, in the pivot and as written."""
        queries = []
        for user in users:
            docs = [item_docs[i] for i in user.history] + ([user_docs[user.id]] if user.id in user_docs else [])
            queries.append(Query(user.id, " ".join(d.pivot for d in docs), user.history, " ".join(d.original for d in docs)))
        return queries

    def vectors(
        self, users: Sequence[User], item_rows: Mapping[str, int], item_vectors: np.ndarray, user_vectors: Mapping[str, np.ndarray]
    ) -> np.ndarray:
        """One profile vector per user, from one encoder's item vectors and user-text vectors."""
        rows = [self._vector(user, item_rows, item_vectors, user_vectors.get(user.id)) for user in users]
        return np.vstack(rows).astype(np.float32) if rows else np.zeros((0, item_vectors.shape[1]), dtype=np.float32)

    def _vector(self, user: User, item_rows: Mapping[str, int], item_vectors: np.ndarray, own: np.ndarray | None) -> np.ndarray:
        rows = [item_rows[i] for i in user.history]
        total = np.zeros(item_vectors.shape[1], dtype=np.float64)
        if rows:
            if self.method == "recency":
                weights = self.recency_decay ** np.arange(len(rows) - 1, -1, -1, dtype=np.float64)
            else:
                weights = np.ones(len(rows))
            total += _unit(weights @ item_vectors[rows] / weights.sum())
        if own is not None:
            total += own
        return _unit(total)


#: Two pivot texts sharing this share of their words say the same thing.
_SAME_PIVOT_WORDS = 0.8


@functools.lru_cache(maxsize=1 << 16)
def _words(pivot: str) -> frozenset[str]:
    """A pivot text's words, tokenized once: every candidate is compared with every seen item."""
    return frozenset(tokenize(pivot))


class RecommendStage:
    """Drop items the user has seen, keep the top ``k``, attach texts, scores and reasons.

    With ``translation_similarity``, items that translate each other count as one
    work: an item in another language than a seen item whose pivot text shares
    most words with it, or whose vector is at least that cosine-similar to it,
    counts as seen (reading it again in another language is no discovery), and
    with ``one_per_group`` a list shows one item of each such group. Items in the
    same language are never taken for translations: an encoder that cannot read
    a language finds all its texts alike.
    """

    def __init__(
        self, top_k: int = 10, exclude_seen: bool = True, translation_similarity: float | None = None, one_per_group: bool = False
    ) -> None:
        self.top_k = top_k
        self.exclude_seen = exclude_seen
        self.translation_similarity = translation_similarity
        self.one_per_group = one_per_group

    def run(
        self,
        user: User,
        fused: Sequence[Hit],
        per_ranker: Mapping[str, Sequence[Hit]],
        item_docs: Mapping[str, Document],
        vectors: tuple[Mapping[str, int], np.ndarray] | None = None,
    ) -> list[Recommendation]:
        seen = set(user.history) if self.exclude_seen else set()
        by_ranker = {name: {h.item_id: h for h in hits} for name, hits in per_ranker.items()}
        out: list[Recommendation] = []
        for hit in fused:
            listed = {r.item_id for r in out} if self.one_per_group else set()
            if hit.item_id in seen or self._translates_any(hit.item_id, seen | listed, item_docs, vectors):
                continue
            doc = item_docs[hit.item_id]
            found = {name: hits[hit.item_id] for name, hits in by_ranker.items() if hit.item_id in hits}
            out.append(
                Recommendation(
                    user_id=user.id,
                    rank=len(out) + 1,
                    item_id=hit.item_id,
                    score=float(hit.score),
                    lang=doc.lang,
                    original=doc.original,
                    pivot=doc.pivot,
                    ranker_scores={name: float(h.score) for name, h in found.items()},
                )
            )
            if len(out) == self.top_k:
                break
        return out

    def _translates_any(
        self, item_id: str, others: set[str], item_docs: Mapping[str, Document], vectors: tuple[Mapping[str, int], np.ndarray] | None
    ) -> bool:
        """Whether ``item_id`` is a translation of one of ``others`` (seen, or already listed)."""
        lang = item_docs[item_id].lang
        others = {other for other in others if item_docs[other].lang != lang}
        if self.translation_similarity is None or not others:
            return False
        words = _words(item_docs[item_id].pivot)
        for other in others:
            other_words = _words(item_docs[other].pivot)
            if words and len(words & other_words) / len(words | other_words) >= _SAME_PIVOT_WORDS:
                return True
        if vectors is None:
            return False
        rows, matrix = vectors
        similarity = matrix[[rows[o] for o in others]] @ matrix[rows[item_id]]
        return bool(similarity.max() >= self.translation_similarity)
