"""Batched OLS (sigmasight.risk.regression) against statsmodels and empyrical.

Anchors (RISK-CONVENTIONS.md "Beta to SPY", "Multi-factor exposures", tolerances):
statsmodels ``OLS(y, add_constant(x)).fit()`` params/rsquared/tvalues at absolute 1e-6,
``empyrical.beta`` for one regressor, ``missing="drop"`` for the masked variant.
"""

import empyrical
import numpy as np
import pytest

# Narrow imports: statsmodels.api pulls in every model (~0.8 s more at collection).
from statsmodels.regression.linear_model import OLS
from statsmodels.tools.tools import add_constant

from sigmasight.risk.regression import (
    MaskedOlsResult,
    OlsResult,
    beta,
    last_window_rows,
    ols,
    ols_masked,
)

RNG = np.random.default_rng(20240611)
N_OBS = 150
N_SERIES = 5
ATOL = 1e-6


def factor_returns(rng: np.random.Generator, n_obs: int) -> np.ndarray:
    """SPY plus six ETFs that are SPY + a small spread (correlation ~0.96 with SPY)."""
    spy = rng.normal(0.0004, 0.011, n_obs)
    spreads = rng.normal(0.0, 0.003, (n_obs, 6))
    return np.column_stack([spy, spy[:, None] + spreads])


FACTORS = factor_returns(RNG, N_OBS)
TRUE_BETAS = RNG.normal(0.15, 0.4, (FACTORS.shape[1], N_SERIES))
Y = 0.0002 + FACTORS @ TRUE_BETAS + RNG.normal(0.0, 0.008, (N_OBS, N_SERIES))


def statsmodels_fit(y: np.ndarray, x: np.ndarray, missing: str = "none"):
    return OLS(y, add_constant(x, has_constant="add"), missing=missing).fit()


def assert_matches_statsmodels(result: OlsResult | MaskedOlsResult, j: int, fit) -> None:
    np.testing.assert_allclose(result.alpha[j], fit.params[0], rtol=0, atol=ATOL)
    np.testing.assert_allclose(result.betas[j], fit.params[1:], rtol=0, atol=ATOL)
    np.testing.assert_allclose(result.r2[j], fit.rsquared, rtol=0, atol=ATOL)
    np.testing.assert_allclose(result.t_stats[j], fit.tvalues, rtol=0, atol=ATOL)
    np.testing.assert_allclose(result.resid_std[j], np.sqrt(fit.scale), rtol=0, atol=ATOL)


def test_factor_etfs_are_highly_collinear():
    corr = np.corrcoef(FACTORS, rowvar=False)
    assert corr[0, 1:].min() > 0.9


def test_ols_matches_statsmodels_per_column():
    result = ols(Y, FACTORS)
    assert result.n_obs == N_OBS
    assert result.alpha.shape == (N_SERIES,)
    assert result.betas.shape == (N_SERIES, 7)
    assert result.t_stats.shape == (N_SERIES, 8)
    for j in range(N_SERIES):
        assert_matches_statsmodels(result, j, statsmodels_fit(Y[:, j], FACTORS))


def test_ols_one_dimensional_inputs():
    result = ols(Y[:, 0], FACTORS[:, 0])
    fit = statsmodels_fit(Y[:, 0], FACTORS[:, 0])
    assert result.betas.shape == (1, 1)
    assert result.t_stats.shape == (1, 2)
    assert_matches_statsmodels(result, 0, fit)


def test_beta_matches_empyrical_and_statsmodels():
    spy = FACTORS[:, 0]
    slopes = beta(Y, spy)
    assert slopes.shape == (N_SERIES,)
    for j in range(N_SERIES):
        assert slopes[j] == pytest.approx(empyrical.beta(Y[:, j], spy), abs=1e-12)
        assert slopes[j] == pytest.approx(statsmodels_fit(Y[:, j], spy).params[1], abs=ATOL)
    np.testing.assert_allclose(slopes, ols(Y, spy).betas[:, 0], rtol=0, atol=1e-12)


def test_beta_drops_nan_rows_per_column():
    spy = FACTORS[:, 0].copy()
    y = Y.copy()
    y[:30, 1] = np.nan
    y[RNG.choice(N_OBS, 10, replace=False), 2] = np.nan
    slopes = beta(y, spy)
    for j in range(N_SERIES):
        keep = ~np.isnan(y[:, j])
        assert slopes[j] == pytest.approx(empyrical.beta(y[:, j], spy), abs=1e-12)
        expected = statsmodels_fit(y[keep, j], spy[keep]).params[1]
        assert slopes[j] == pytest.approx(expected, abs=ATOL)


def test_beta_nan_when_too_few_rows_or_constant_regressor():
    y = np.column_stack([Y[:, 0], np.full(N_OBS, np.nan)])
    y[1:, 1] = np.nan
    y[0, 1] = 0.01
    assert np.isnan(beta(y, FACTORS[:, 0])[1])
    assert np.isnan(beta(Y[:, 0], np.full(N_OBS, 0.001))[0])
    assert beta(Y[:, 0], FACTORS[:, 0]).shape == (1,)


def test_portfolio_betas_are_weighted_sums_of_position_betas():
    weights = np.array([0.3, -0.2, 0.5, 0.4, 0.0])
    positions = ols(Y, FACTORS)
    portfolio = ols(Y @ weights, FACTORS)
    np.testing.assert_allclose(portfolio.betas[0], weights @ positions.betas, atol=1e-12)
    assert portfolio.alpha[0] == pytest.approx(weights @ positions.alpha, abs=1e-12)


def test_spread_reparametrisation_gives_total_market_beta():
    spy = FACTORS[:, :1]
    spreads = FACTORS[:, 1:] - spy
    raw = ols(Y, FACTORS)
    reparam = ols(Y, np.column_stack([spy, spreads]))
    np.testing.assert_allclose(reparam.betas[:, 0], raw.betas.sum(axis=1), atol=1e-10)
    np.testing.assert_allclose(reparam.betas[:, 1:], raw.betas[:, 1:], atol=1e-10)
    np.testing.assert_allclose(reparam.r2, raw.r2, atol=1e-12)
    np.testing.assert_allclose(reparam.alpha, raw.alpha, atol=1e-12)


def test_constant_dependent_series_has_nan_r2():
    y = np.column_stack([Y[:, 0], np.full(N_OBS, 0.002)])
    result = ols(y, FACTORS)
    assert np.isnan(result.r2[1])
    np.testing.assert_allclose(result.betas[1], 0.0, atol=1e-12)
    assert result.alpha[1] == pytest.approx(0.002, abs=1e-12)


@pytest.mark.parametrize(
    ("y", "x", "message"),
    [
        (np.where(np.arange(N_OBS) == 3, np.nan, Y[:, 0]), FACTORS, "finite"),
        (Y[:, 0], np.where(np.arange(N_OBS)[:, None] == 3, np.inf, FACTORS), "finite"),
        (Y[:8, 0], FACTORS[:8], "n_obs > k"),
        (Y[:, 0], FACTORS[:-1], "rows"),
        (Y[:, 0], np.column_stack([FACTORS[:, 0], 2.0 * FACTORS[:, 0]]), "collinear"),
        (Y[:, 0], np.column_stack([FACTORS[:, 0], np.full(N_OBS, 0.01)]), "collinear"),
        (Y[:, 0], np.empty((N_OBS, 0)), "at least one"),
    ],
)
def test_ols_rejects_invalid_input(y, x, message):
    with pytest.raises(ValueError, match=message):
        ols(y, x)


def masked_panel() -> tuple[np.ndarray, np.ndarray]:
    y = Y.copy()
    extra = 0.0001 + FACTORS @ TRUE_BETAS[:, :3] + RNG.normal(0.0, 0.008, (N_OBS, 3))
    y = np.column_stack([y, extra])  # 8 columns
    y[:40, 1] = np.nan  # late listing
    y[:40, 5] = np.nan  # same listing date: solved in the same group as column 1
    y[RNG.choice(N_OBS, 12, replace=False), 2] = np.nan  # scattered gaps
    y[:130, 3] = np.nan  # 20 rows: below min_obs
    y[:, 4] = np.nan  # never listed
    x = FACTORS.copy()
    x[[10, 100], 2] = np.nan  # a factor ETF missing two prints: dropped for every column
    return y, x


def test_ols_masked_matches_statsmodels_missing_drop():
    y, x = masked_panel()
    result = ols_masked(y, x, min_obs=30)
    x_ok = ~np.isnan(x).any(axis=1)
    expected_n = (~np.isnan(y) & x_ok[:, None]).sum(axis=0)
    np.testing.assert_array_equal(result.n_obs, expected_n)
    assert result.n_obs.dtype == np.int64
    np.testing.assert_array_equal(result.fitted, expected_n >= 30)
    for j in np.flatnonzero(result.fitted).tolist():
        assert_matches_statsmodels(result, j, statsmodels_fit(y[:, j], x, missing="drop"))
    for j in np.flatnonzero(~result.fitted).tolist():
        for field in (result.alpha, result.betas, result.r2, result.resid_std, result.t_stats):
            assert np.isnan(field[j]).all()


def test_ols_masked_groups_equal_column_by_column():
    y, x = masked_panel()
    together = ols_masked(y, x, min_obs=30)
    for j in range(y.shape[1]):
        alone = ols_masked(y[:, j], x, min_obs=30)
        np.testing.assert_allclose(alone.betas[0], together.betas[j], rtol=0, atol=1e-12)
        np.testing.assert_allclose(alone.t_stats[0], together.t_stats[j], rtol=0, atol=1e-9)
        assert alone.n_obs[0] == together.n_obs[j]


def test_ols_masked_without_nan_equals_ols():
    masked = ols_masked(Y, FACTORS, min_obs=120)
    plain = ols(Y, FACTORS)
    assert masked.fitted.all()
    np.testing.assert_array_equal(masked.n_obs, N_OBS)
    for name in ("alpha", "betas", "r2", "resid_std", "t_stats"):
        np.testing.assert_allclose(getattr(masked, name), getattr(plain, name), rtol=0, atol=1e-12)


def test_ols_masked_collinear_rows_give_nan_not_error():
    spy = FACTORS[:, 0]
    tracker = np.where(np.arange(N_OBS) >= 100, 2.0 * spy, RNG.normal(0.0, 0.01, N_OBS))
    y = Y[:, :2].copy()
    y[:100, 1] = np.nan  # on its 50 rows the two regressors are collinear
    result = ols_masked(y, np.column_stack([spy, tracker]), min_obs=20)
    np.testing.assert_array_equal(result.fitted, [True, False])
    assert np.isnan(result.betas[1]).all()
    assert result.n_obs[1] == 50


def test_ols_masked_min_obs_never_below_k_plus_two():
    y = Y[:, :1].copy()
    y[: N_OBS - 8] = np.nan  # 8 rows = k + 1 for 7 factors: no residual dof
    assert not ols_masked(y, FACTORS, min_obs=1).fitted[0]
    y[N_OBS - 9] = 0.001  # 9 rows: estimable
    assert ols_masked(y, FACTORS, min_obs=1).fitted[0]


@pytest.mark.parametrize(
    ("y", "x", "min_obs", "message"),
    [
        (Y, FACTORS, 0, "min_obs"),
        (Y, FACTORS[:-1], 30, "rows"),
        (np.where(np.arange(N_OBS)[:, None] == 0, np.inf, Y), FACTORS, 30, "infinity"),
        (Y[:, :, None], FACTORS, 30, "1-D or 2-D"),
    ],
)
def test_ols_masked_rejects_invalid_input(y, x, min_obs, message):
    with pytest.raises(ValueError, match=message):
        ols_masked(y, x, min_obs)


def test_last_window_rows_hand_example():
    valid = np.array(
        [
            [True, True, False],
            [True, False, False],
            [True, True, False],
            [False, True, True],
            [True, True, False],
        ]
    )
    last_three = np.array(
        [
            [False, False, False],
            [True, False, False],
            [True, True, False],
            [False, True, True],
            [True, True, False],
        ]
    )
    np.testing.assert_array_equal(last_window_rows(valid, 3), last_three)
    np.testing.assert_array_equal(
        last_window_rows(valid[:, 0], 2), [False, False, True, False, True]
    )
    np.testing.assert_array_equal(last_window_rows(valid, 10), valid)


def test_last_window_rows_picks_exactly_the_last_valid_rows():
    valid = RNG.random((300, 40)) < 0.8
    valid[:250, 0] = False  # fewer valid rows than the window: keep all
    selected = last_window_rows(valid, 150)
    assert selected.shape == valid.shape
    for j in range(valid.shape[1]):
        np.testing.assert_array_equal(
            np.flatnonzero(selected[:, j]), np.flatnonzero(valid[:, j])[-150:]
        )


def test_last_window_rows_rejects_bad_window():
    with pytest.raises(ValueError, match="window"):
        last_window_rows(np.ones((5, 2), dtype=bool), 0)


def test_rolling_window_regression_matches_statsmodels_on_the_window_rows():
    rng = np.random.default_rng(7)
    x = factor_returns(rng, 300)
    y = 0.0001 + x @ rng.normal(0.15, 0.4, (7, 4)) + rng.normal(0.0, 0.008, (300, 4))
    y[:200, 1] = np.nan  # listed late: only 100 rows
    y[rng.choice(300, 25, replace=False), 2] = np.nan
    x[[150, 290], 0] = np.nan
    valid = ~np.isnan(y) & ~np.isnan(x).any(axis=1)[:, None]
    window = last_window_rows(valid, 150)
    result = ols_masked(np.where(window, y, np.nan), x, min_obs=120)
    np.testing.assert_array_equal(result.n_obs, [150, 99, 150, 150])  # x gap on row 290
    np.testing.assert_array_equal(result.fitted, [True, False, True, True])
    for j in (0, 2, 3):
        rows = window[:, j]
        assert_matches_statsmodels(result, j, statsmodels_fit(y[rows, j], x[rows]))


def test_betas_only_gives_the_full_fits_slopes_to_the_bit():
    """``betas_only`` skips the residuals, not a single bit of alpha, betas or the flags."""
    rng = np.random.default_rng(7)
    y = rng.normal(0.0, 0.01, (300, 40))
    y[:285, ::3] = np.nan  # late listings, too short to fit
    y[rng.random(y.shape) < 0.01] = np.nan
    x = rng.normal(0.0, 0.01, (300, 3))
    x[5, 1] = np.nan
    for regressors, min_obs in ((x, 100), (x[:, 0], 20)):
        full = ols_masked(y, regressors, min_obs)
        slim = ols_masked(y, regressors, min_obs, betas_only=True)
        assert full.fitted.any() and not full.fitted.all()
        for name in ("alpha", "betas", "n_obs", "fitted"):
            assert np.array_equal(getattr(slim, name), getattr(full, name), equal_nan=True), name
        for name in ("r2", "resid_std", "t_stats"):
            assert np.isnan(getattr(slim, name)).all(), name
