"""Pairwise correlation (sigmasight.risk.correlation) against pandas and scipy.

Anchor (RISK-CONVENTIONS.md C13 and "Correlation matrix"): ``DataFrame.corr(method=
"pearson", min_periods=60)`` on unfilled returns at absolute 1e-9, cross-checked with
``scipy.stats.pearsonr`` on each pair after ``dropna``.
"""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import pearsonr

from sigmasight.risk import correlation
from sigmasight.risk.correlation import clusters, pairwise_corr

RNG = np.random.default_rng(42)
N_OBS = 400
ATOL = 1e-9


def factor_panel(rng: np.random.Generator, n_obs: int, n_assets: int) -> np.ndarray:
    """Returns with a common market factor (correlations roughly 0.2-0.8)."""
    market = rng.normal(0.0004, 0.01, (n_obs, 1))
    loadings = rng.uniform(0.3, 1.5, (1, n_assets))
    return market * loadings + rng.normal(0.0, 0.01, (n_obs, n_assets))


def late_listings(panel: np.ndarray, rng: np.random.Generator, n_late: int) -> np.ndarray:
    out = panel.copy()
    columns = rng.choice(out.shape[1], n_late, replace=False)
    for column, start in zip(columns, rng.integers(30, 360, n_late), strict=True):
        out[:start, column] = np.nan
    return out


def pandas_reference(x: np.ndarray, min_periods: int = 60) -> tuple[np.ndarray, np.ndarray]:
    frame = pd.DataFrame(x)
    notna = np.isfinite(x).astype(np.int64)
    return frame.corr(method="pearson", min_periods=min_periods).to_numpy(), notna.T @ notna


def assert_matches_pandas(x: np.ndarray, min_periods: int = 60) -> np.ndarray:
    corr, counts = pairwise_corr(x, min_periods=min_periods)
    expected, expected_counts = pandas_reference(x, min_periods)
    np.testing.assert_array_equal(np.isnan(corr), np.isnan(expected))
    np.testing.assert_allclose(corr, expected, rtol=0, atol=ATOL)
    np.testing.assert_array_equal(counts, expected_counts)
    assert counts.dtype == np.int64
    np.testing.assert_array_equal(corr, corr.T)
    return corr


def test_complete_panel_matches_pandas_and_corrcoef():
    x = factor_panel(RNG, N_OBS, 40)
    corr = assert_matches_pandas(x)
    np.testing.assert_allclose(corr, np.corrcoef(x, rowvar=False), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(np.diag(corr), 1.0)


def test_late_listings_and_gaps_match_pandas():
    x = late_listings(factor_panel(RNG, N_OBS, 60), RNG, 8)
    x[RNG.random(x.shape) < 0.02] = np.nan
    x[:, 3] = np.nan  # never listed
    x[:-45, 7] = np.nan  # only 45 rows: below min_periods everywhere
    corr = assert_matches_pandas(x)
    assert np.isnan(corr[3]).all() and np.isnan(corr[7]).all()


def test_large_mean_price_like_series_match_pandas():
    walks = 100.0 + np.cumsum(RNG.normal(0.0, 1.0, (N_OBS, 30)), axis=0)
    walks[:, 10:] += 5_000.0  # very large level relative to the variation
    assert_matches_pandas(late_listings(walks, RNG, 6))


@pytest.mark.parametrize("block", [1, 4, 256])
def test_every_column_incomplete_blocked_path_matches_pandas(monkeypatch, block):
    monkeypatch.setattr(correlation, "_BLOCK", block)
    x = late_listings(factor_panel(RNG, 200, 25), RNG, 10)
    x[RNG.random(x.shape) < 0.05] = np.nan
    assert np.isnan(x).any(axis=0).all()
    assert_matches_pandas(x)


def test_pearsonr_on_each_pair_after_dropna():
    x = late_listings(factor_panel(RNG, N_OBS, 12), RNG, 4)
    x[RNG.random(x.shape) < 0.03] = np.nan
    corr, counts = pairwise_corr(x)
    for i in range(12):
        for j in range(i + 1, 12):
            both = ~np.isnan(x[:, i]) & ~np.isnan(x[:, j])
            assert counts[i, j] == both.sum()
            if both.sum() >= 60:
                expected = pearsonr(x[both, i], x[both, j]).statistic
                assert corr[i, j] == pytest.approx(expected, abs=ATOL)


def test_min_periods_boundary():
    x = factor_panel(RNG, 100, 3)
    x[:41, 1] = np.nan  # 59 rows
    x[:40, 2] = np.nan  # 60 rows
    corr, counts = pairwise_corr(x, min_periods=60)
    assert counts[0, 1] == 59 and counts[0, 2] == 60 and counts[1, 2] == 59
    assert np.isnan(corr[0, 1]) and np.isnan(corr[1, 2]) and np.isfinite(corr[0, 2])
    assert np.isnan(corr[1, 1]) and corr[2, 2] == 1.0
    relaxed, _ = pairwise_corr(x, min_periods=59)
    assert np.isfinite(relaxed).all()
    assert_matches_pandas(x, min_periods=60)
    assert_matches_pandas(x, min_periods=59)


def test_constant_series_give_nan_like_pandas():
    x = factor_panel(RNG, 300, 5)
    x[:, 1] = 0.0  # constant everywhere (a complete column)
    x[150:, 2] = 0.01  # constant only where column 3 is listed
    x[:150, 3] = np.nan
    x[:, 4] = 0.003  # constant, complete, non-zero (centring round-off)
    corr = assert_matches_pandas(x)
    assert np.isnan(corr[1]).all() and np.isnan(corr[4]).all()
    assert np.isnan(corr[2, 3]) and np.isfinite(corr[0, 2])


def test_infinite_values_are_missing_like_pandas():
    x = factor_panel(RNG, 200, 4)
    x[5, 0] = np.inf
    x[9, 2] = -np.inf
    _, counts = pairwise_corr(x)
    assert counts[0, 0] == 199 and counts[0, 2] == 198
    assert_matches_pandas(x)


def test_degenerate_shapes():
    corr, counts = pairwise_corr(np.empty((400, 0)))
    assert corr.shape == (0, 0) and counts.shape == (0, 0)
    corr, counts = pairwise_corr(np.empty((0, 3)))
    assert np.isnan(corr).all()
    np.testing.assert_array_equal(counts, 0)


@pytest.mark.parametrize(
    ("returns", "min_periods", "message"),
    [(np.zeros(10), 60, "2-D"), (np.zeros((10, 2)), 0, "min_periods")],
)
def test_invalid_input(returns, min_periods, message):
    with pytest.raises(ValueError, match=message):
        pairwise_corr(returns, min_periods=min_periods)


LABELS = ["AAPL", "MSFT", "NVDA", "XOM", "CVX", "GLD", "TLT"]
HAND_MADE = np.array(
    [
        #  AAPL  MSFT   NVDA   XOM    CVX   GLD     TLT
        [1.00, 0.80, 0.50, 0.10, 0.00, 0.00, np.nan],
        [0.80, 1.00, 0.75, 0.10, 0.00, 0.00, 0.00],
        [0.50, 0.75, 1.00, 0.00, 0.00, 0.00, 0.00],
        [0.10, 0.10, 0.00, 1.00, 0.90, 0.10, 0.00],
        [0.00, 0.00, 0.00, 0.90, 1.00, 0.10, 0.00],
        [0.00, 0.00, 0.00, 0.10, 0.10, 1.00, -0.72],
        [np.nan, 0.00, 0.00, 0.00, 0.00, -0.72, 1.00],
    ]
)


@pytest.mark.parametrize(
    ("threshold", "expected"),
    [
        # AAPL-NVDA is only 0.5 but the chain through MSFT links them (single linkage).
        (0.7, [["AAPL", "MSFT", "NVDA"], ["CVX", "XOM"], ["GLD", "TLT"]]),
        (0.76, [["AAPL", "MSFT"], ["CVX", "XOM"]]),  # equal size: by name
        (0.95, []),
        (0.0, [sorted(LABELS)]),  # NaN is still no edge, but TLT links through MSFT
    ],
)
def test_clusters_hand_made(threshold, expected):
    assert clusters(HAND_MADE, LABELS, threshold) == expected


@pytest.mark.parametrize("seed", range(6))
def test_clusters_are_scipy_s_connected_components(seed):
    """The union-find against scipy's graph components, on random matrices with NaN and
    asymmetric cells (an edge in either triangle links)."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    rng = np.random.default_rng(seed)
    n = 40
    corr = rng.uniform(-1.0, 1.0, (n, n))
    corr[rng.random((n, n)) < 0.05] = np.nan
    labels = [f"S{rng.integers(10_000):04d}{i}" for i in range(n)]
    threshold = 0.985
    with np.errstate(invalid="ignore"):
        edges = np.abs(corr) >= threshold
    np.fill_diagonal(edges, False)
    _, component = connected_components(csr_matrix(edges), directed=False)
    expected = [
        sorted(labels[i] for i in np.flatnonzero(component == g))
        for g in np.unique(component)
        if np.count_nonzero(component == g) >= 2
    ]
    expected.sort(key=lambda members: (-len(members), members))
    assert expected  # the draw has strong pairs to group
    assert clusters(corr, labels, threshold) == expected


def test_clusters_on_pairwise_corr_output():
    x = factor_panel(RNG, 300, 4)
    x[:, 1] = x[:, 0] + RNG.normal(0.0, 0.001, 300)
    x[:250, 3] = np.nan  # too short: NaN row, never clustered
    corr, _ = pairwise_corr(x)
    assert clusters(corr, ["A", "B", "C", "D"], 0.9) == [["A", "B"]]


@pytest.mark.parametrize(
    ("corr", "labels", "threshold", "message"),
    [
        (np.eye(3)[:2], ["a", "b"], 0.7, "square"),
        (np.eye(3), ["a", "b"], 0.7, "labels"),
        (np.eye(2), ["a", "b"], 1.5, "threshold"),
    ],
)
def test_clusters_invalid_input(corr, labels, threshold, message):
    with pytest.raises(ValueError, match=message):
        clusters(corr, labels, threshold)
