"""Spearman's rank correlation and its percentile bootstrap interval over runs.

Spearman's rho is Pearson's correlation of the two variables' ranks, ties getting the mean of the
ranks they span (Spearman 1904; the definition of ``scipy.stats.spearmanr``). The interval resamples
the runs (pairs) with replacement: resample ``b`` is the runs ``indices[b]`` of
``numpy.random.default_rng(seed).integers(0, n, size=(resamples, n))``; rho is computed on each, and
the interval is the (1 - level)/2 and (1 + level)/2 percentiles (numpy's default linear
interpolation) of the resamples where rho is defined. A resample in which either variable is
constant (e.g. one run drawn n times) has no rho and is left out; ``used`` says how many counted.
"""

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Correlation:
    rho: float | None
    low: float | None  # bootstrap interval; None where no resample had a defined rho
    high: float | None
    used: int  # resamples with a defined rho


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n; tied values share the mean of the ranks they occupy."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(1, len(values) + 1)
    _, group = np.unique(values, return_inverse=True)
    return (np.bincount(group, weights=ranks) / np.bincount(group))[group]


def spearman(x: np.ndarray, y: np.ndarray) -> float | None:
    """Spearman's rho of paired samples; None when it is undefined (fewer than 2 pairs, or a constant)."""
    if len(x) < 2:
        return None
    rx, ry = average_ranks(np.asarray(x)), average_ranks(np.asarray(y))
    rx, ry = rx - rx.mean(), ry - ry.mean()
    norm = math.sqrt(float(rx @ rx) * float(ry @ ry))
    if norm == 0:
        return None
    return max(-1.0, min(1.0, float(rx @ ry) / norm))


def rank_correlation(x: np.ndarray, y: np.ndarray, resamples: int = 2000, seed: int = 0, level: float = 0.95) -> Correlation:
    """Spearman's rho of (x, y) and its percentile bootstrap interval over the pairs."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    indices = np.random.default_rng(seed).integers(0, len(x), size=(resamples, len(x)))
    values = [rho for rho in (spearman(x[i], y[i]) for i in indices) if rho is not None]
    if not values:
        return Correlation(spearman(x, y), None, None, 0)
    low, high = np.percentile(values, [50 * (1 - level), 50 * (1 + level)])
    return Correlation(spearman(x, y), float(low), float(high), len(values))
