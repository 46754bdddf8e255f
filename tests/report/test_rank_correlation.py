"""Spearman's rho and its bootstrap interval against independent computations written out here
(and scipy.stats.spearmanr as an oracle)."""

import importlib.util

import numpy as np
import pytest

from advconf.report.rank_correlation import rank_correlation, spearman
from tests.conftest import require


def oracle_rho(x: np.ndarray, y: np.ndarray) -> float | None:
    """Pearson's r of mid-ranks: rank_i = #{v < v_i} + (#{v == v_i} + 1) / 2, counted pair by pair."""
    def mid_ranks(v: np.ndarray) -> np.ndarray:
        return np.array([(v < a).sum() + ((v == a).sum() + 1) / 2 for a in v])

    rx, ry = mid_ranks(x), mid_ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return None
    return float(np.corrcoef(rx, ry)[0, 1])


def test_spearman_with_ties_matches_the_hand_computed_value():
    # x ranks 1, 2.5, 2.5, 4, 5 and y ranks 2, 1, 3.5, 3.5, 5 (mean 3): deviations (-2, -.5, -.5, 1, 2) and
    # (-1, -2, .5, .5, 2); sum of products 7.25, sums of squares 9.5 and 9.5: rho = 7.25 / 9.5 = 29/38.
    assert spearman(np.array([1, 2, 2, 3, 5]), np.array([2, 1, 4, 4, 6])) == pytest.approx(29 / 38)


def test_spearman_without_ties_matches_one_minus_six_sum_d_squared_formula():
    x, y = np.array([0.9, 0.1, 0.5, 0.7, 0.3, 0.2]), np.array([0.2, 0.8, 0.4, 0.1, 0.6, 0.9])
    # ranks x: 6 1 4 5 3 2; ranks y: 2 5 3 1 4 6; d^2: 16 16 1 16 1 16 = 66; n(n^2 - 1) = 210
    assert spearman(x, y) == pytest.approx(1 - 6 * 66 / 210)


@pytest.mark.parametrize(("x", "y"), [([1.0], [2.0]), ([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]), ([1.0, 2.0], [5.0, 5.0])])
def test_spearman_is_undefined_for_one_pair_or_a_constant_variable(x, y):
    assert spearman(np.array(x), np.array(y)) is None


def test_spearman_agrees_with_scipy_on_random_data_with_ties():
    require(importlib.util.find_spec("scipy") is not None, "scipy (test oracle) is not installed")
    from scipy.stats import spearmanr

    rng = np.random.default_rng(1)
    for n in (4, 7, 30):
        x, y = rng.integers(0, 5, n).astype(float), rng.normal(size=n).round(1)
        assert spearman(x, y) == pytest.approx(spearmanr(x, y).statistic, abs=1e-12)


def test_bootstrap_interval_is_the_percentile_interval_of_rho_over_seeded_resamples_of_the_runs():
    x = np.array([0.99, 0.95, 0.97, 0.80, 0.85, 0.60, 0.70, 0.90])
    y = np.array([0.10, 0.25, 0.15, 0.40, 0.20, 0.55, 0.50, 0.30])

    result = rank_correlation(x, y, resamples=500, seed=3, level=0.9)

    # The documented procedure, computed independently: resample b uses runs
    # default_rng(seed).integers(0, n, size=(resamples, n))[b]; undefined resamples are dropped.
    indices = np.random.default_rng(3).integers(0, len(x), size=(500, len(x)))
    values = [r for r in (oracle_rho(x[i], y[i]) for i in indices) if r is not None]
    low, high = np.percentile(values, [5, 95])
    assert result.rho == pytest.approx(oracle_rho(x, y))
    assert (result.low, result.high, result.used) == (pytest.approx(low), pytest.approx(high), len(values))
    assert result.low < result.rho < result.high


def test_bootstrap_of_a_perfectly_monotone_relation_is_minus_one_everywhere_and_reproducible():
    x = np.array([0.5, 0.7, 0.9])  # 3 runs: 1 resample in 9 draws a single run
    result = rank_correlation(x, 1 - x, resamples=200, seed=0)
    assert (result.rho, result.low, result.high) == (-1.0, -1.0, -1.0)
    assert 0 < result.used < 200  # resamples drawing a single run have no rho and are left out
    assert rank_correlation(x, 1 - x, resamples=200, seed=0) == result
