"""How sure a comparison is: bootstrap confidence intervals, paired tests and Holm's correction.

Everything is seeded, so one set of rankings always gives the same report.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from pivotrec.pipeline.errors import PivotrecError

#: Bootstrap resamples per interval: enough for stable 2.5th/97.5th percentiles at report precision.
BOOTSTRAP_ROUNDS = 1000
CONFIDENCE = 0.95
SEED = 0
#: Sign-flip rounds of the paired randomisation test: p-values down to about 1e-4.
PERMUTATION_ROUNDS = 10_000
#: Resampled values held in memory at once (floats), whatever the number of queries.
_CHUNK_VALUES = 2_000_000


@dataclass(frozen=True)
class Estimate:
    """A mean over ``n`` queries with its bootstrap confidence interval [low, high]."""

    mean: float
    low: float
    high: float
    n: int

    def as_dict(self) -> dict[str, float | int | None]:
        """For JSON, which has no NaN: an empty sample's values are None."""
        return {key: None if isinstance(value, float) and math.isnan(value) else value for key, value in asdict(self).items()}


def bootstrap(values: Sequence[float], rounds: int = BOOTSTRAP_ROUNDS, confidence: float = CONFIDENCE, seed: int = SEED) -> Estimate:
    """The mean of ``values`` with a percentile bootstrap interval (queries resampled with replacement).

    An empty sample has a NaN mean and interval; one value has a zero-width interval.
    """
    sample = np.asarray(values, dtype=float)
    n = len(sample)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    rng = np.random.default_rng(seed)
    means = np.empty(rounds)
    chunk = max(1, _CHUNK_VALUES // n)
    for start in range(0, rounds, chunk):
        stop = min(start + chunk, rounds)
        means[start:stop] = sample[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return Estimate(float(sample.mean()), float(low), float(high), n)


def paired_randomisation_p(a: dict[str, float], b: dict[str, float], rounds: int = PERMUTATION_ROUNDS, seed: int = SEED) -> float:
    """Two-sided p-value that systems a and b have the same mean, by sign flipping per-query differences."""
    shared = sorted(set(a) & set(b))
    if not shared:
        return float("nan")
    diffs = np.array([a[q] - b[q] for q in shared])
    observed = abs(diffs.mean())
    if observed == 0:
        return 1.0
    rng = np.random.default_rng(seed)
    extreme = 0
    chunk = max(1, _CHUNK_VALUES // len(diffs))
    for start in range(0, rounds, chunk):
        signs = rng.choice((-1.0, 1.0), size=(min(chunk, rounds - start), len(diffs)))
        extreme += int((np.abs((signs * diffs).mean(axis=1)) >= observed - 1e-12).sum())
    return (extreme + 1) / (rounds + 1)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment: the family-wise error stays at the level for any number of tests.

    The i-th smallest of m p-values is multiplied by (m - i), made monotone and capped at 1.
    NaN (a test that could not run) stays NaN and does not count towards m.
    """
    tested = sorted((p, i) for i, p in enumerate(p_values) if not math.isnan(p))
    adjusted = [math.nan] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(tested):
        running = max(running, min(1.0, (len(tested) - rank) * p))
        adjusted[i] = running
    return adjusted


def parse_pairs(spec: str, names: Sequence[str]) -> list[tuple[int, int]]:
    """``"1:3,2:3"`` (arm numbers from 1, in command-line order) or ``"a:b"`` (arm names) -> index pairs."""
    pairs = []
    for part in (p.strip() for p in spec.split(",")):
        sides = part.split(":")
        if len(sides) != 2:
            raise PivotrecError(f"--pairs: {part!r} is not A:B (two arm numbers or names joined by ':')")
        index = tuple(_arm_index(side.strip(), names) for side in sides)
        if index[0] == index[1]:
            raise PivotrecError(f"--pairs: {part!r} compares an arm with itself")
        pairs.append((index[0], index[1]))
    return pairs


def _arm_index(side: str, names: Sequence[str]) -> int:
    listing = ", ".join(f"{n + 1}={name}" for n, name in enumerate(names))
    if side.isdigit():
        if not 1 <= int(side) <= len(names):
            raise PivotrecError(f"--pairs: arm {side} does not exist; arms: {listing}")
        return int(side) - 1
    matches = [n for n, name in enumerate(names) if name == side]
    if len(matches) != 1:
        problem = "is not an arm" if not matches else "names several arms (use their numbers)"
        raise PivotrecError(f"--pairs: {side!r} {problem}; arms: {listing}")
    return matches[0]
