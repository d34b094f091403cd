"""Return statistics: hand values, edge cases, properties, and the empyrical/quantstats anchors.

Tolerances are RISK-CONVENTIONS.md section 4 (relative 1e-6). The anchor libraries are
dev-only and imported inside the tests.
"""

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from sigmasight.risk import stats
from sigmasight.risk.stats import (
    QUANTILE_METHODS,
    Statistic,
    ann_vol,
    cumulative_return,
    hist_cvar,
    hist_var,
    max_drawdown,
    mean_std,
    param_cvar,
    param_var,
    sharpe,
    sortino,
)

NAN = np.nan
REL = 1e-6
Z_05 = -1.6448536269514722  # Phi^-1(0.05)
PHI_Z_05 = 0.10313564037537128  # phi(z_0.05)
ANCHOR_VERSIONS = {"empyrical": "0.7.1", "quantstats": "0.0.86"}

Metric = Callable[..., Any]
ALL_METRICS: list[Metric] = [
    hist_var,
    hist_cvar,
    param_var,
    param_cvar,
    ann_vol,
    max_drawdown,
    sharpe,
    sortino,
    cumulative_return,
]
TAIL_METRICS: list[Metric] = [hist_var, hist_cvar, param_var, param_cvar]
MIN_OBS = {
    hist_var: 2,
    hist_cvar: 2,
    param_var: 2,
    param_cvar: 2,
    ann_vol: 2,
    sharpe: 2,
    sortino: 2,
    max_drawdown: 1,
    cumulative_return: 1,
}


def ids(metric: Metric) -> str:
    return metric.__name__


def fat_tailed(seed: int, n: int = 360, n_series: int = 4) -> np.ndarray:
    """Student-t(3) daily returns (about 1.2 % scale) with NaNs in columns 1 and 3."""
    rng = np.random.default_rng(seed)
    returns = rng.standard_t(3, size=(n, n_series)) * 0.012 + 0.0004
    returns[rng.random(n) < 0.06, 1] = NAN
    returns[:25, 3] = NAN  # late start
    returns[rng.random(n) < 0.03, 3] = NAN
    return returns


SAMPLE = fat_tailed(seed=7)


def valid(column: np.ndarray) -> np.ndarray:
    kept: np.ndarray = column[~np.isnan(column)]
    return kept


def arr(value: Statistic) -> np.ndarray:
    """The 2-D result as an array (narrows ``float | ndarray`` for mypy)."""
    assert isinstance(value, np.ndarray)
    return value


# ---------------------------------------------------------------- golden values

R5 = np.array([-0.05, -0.01, 0.0, 0.01, 0.02])


@pytest.mark.parametrize(
    ("returns", "alpha", "method", "expected"),
    [
        (R5, 0.25, "linear", 0.01),  # h = 4 * 0.25 = 1 -> r_(1)
        (R5, 0.1, "linear", 0.034),  # h = 0.4 -> -0.05 + 0.4 * 0.04
        (R5, 0.1, "lower", 0.05),
        (R5, 0.1, "higher", 0.01),
        (R5, 0.1, "midpoint", 0.03),
        (R5, 0.1, "nearest", 0.05),
        (np.array([NAN, -0.02, 0.01]), 0.5, "linear", 0.005),  # NaN dropped
        (np.array([0.01, 0.02, 0.03]), 0.05, "linear", -0.011),  # tail is a gain
    ],
)
def test_hist_var_golden(returns, alpha, method, expected):
    assert hist_var(returns, alpha, method) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("returns", "alpha", "expected"),
    [
        (R5, 0.05, 0.05),  # k = floor(0.2) = 0 -> worst return
        (R5, 0.25, 0.03),  # k = 1 -> mean(-0.05, -0.01)
        (R5, 0.5, 0.02),  # k = 2 -> mean(-0.05, -0.01, 0)
        (R5, 0.99, 0.0125),  # k = floor(3.96) = 3 -> mean of the 4 smallest
        (np.array([NAN, 0.02, NAN, -0.04, 0.01]), 0.5, 0.015),  # n = 3, k = 1
    ],
)
def test_hist_cvar_golden(returns, alpha, expected):
    assert hist_cvar(returns, alpha) == pytest.approx(expected, rel=1e-12)


TWO = np.array([0.01, 0.03])  # mean 0.02, std (ddof 1) 0.01 * sqrt(2)
SD_TWO = 0.01 * math.sqrt(2.0)


@pytest.mark.parametrize(
    ("metric", "kwargs", "expected"),
    [
        (param_var, {}, -(0.02 + SD_TWO * Z_05)),
        (param_var, {"zero_mean": True}, -SD_TWO * Z_05),
        (param_var, {"alpha": 0.01}, -(0.02 + SD_TWO * -2.3263478740408408)),
        (param_cvar, {}, -(0.02 - SD_TWO * PHI_Z_05 / 0.05)),
        (ann_vol, {}, SD_TWO * math.sqrt(252)),
        (sharpe, {}, math.sqrt(2.0 * 252)),
        (sharpe, {"rf_daily": 0.01}, math.sqrt(0.5 * 252)),  # excess (0, 0.02)
        (cumulative_return, {}, 1.01 * 1.03 - 1),
    ],
)
def test_moment_metrics_golden(metric, kwargs, expected):
    assert metric(TWO, **kwargs) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("returns", "target", "expected"),
    [
        (np.array([-0.02, 0.04]), 0.0, math.sqrt(0.5 * 252)),  # DD over both obs
        (np.array([-0.02, 0.04, NAN]), 0.0, math.sqrt(0.5 * 252)),
        (np.array([-0.03, 0.05]), 0.01, 0.0),  # excess (-0.04, 0.04)
        (np.array([-0.02, -0.02, 0.07]), 0.0, 0.01 / math.sqrt(0.0008 / 3) * math.sqrt(252)),
    ],
)
def test_sortino_golden(returns, target, expected):
    assert sortino(returns, target) == pytest.approx(expected, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize(
    ("returns", "expected"),
    [
        ([-0.1], 0.1),  # W_0 = 1 is a peak
        ([0.1, -0.1], 0.1),  # 1 - 0.99 / 1.1
        ([-0.1, 0.05, -0.2, 0.5], 1 - 0.9 * 1.05 * 0.8),
        ([0.01, 0.02], 0.0),
        ([NAN, -0.1, NAN, 0.05], 0.1),
        ([-0.5, 1.0, -0.5], 0.5),
        ([-1.0, 0.5], 1.0),  # total loss
    ],
)
def test_max_drawdown_golden(returns, expected):
    assert max_drawdown(np.array(returns)) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_cumulative_return_and_mean_std_golden():
    assert cumulative_return(np.array([0.1, -0.1])) == pytest.approx(-0.01, rel=1e-12)
    assert cumulative_return(np.array([NAN, 0.5])) == pytest.approx(0.5, rel=1e-12)
    mean, std = mean_std(np.array([0.01, NAN, 0.03]))
    assert mean == pytest.approx(0.02, rel=1e-12)
    assert std == pytest.approx(SD_TWO, rel=1e-12)
    _, std0 = mean_std(np.array([0.01, 0.03]), ddof=0)
    assert std0 == pytest.approx(0.01, rel=1e-12)
    with pytest.raises(ValueError, match="ddof"):
        mean_std(TWO, ddof=-1)


# ---------------------------------------------------------------- edge cases


@pytest.mark.parametrize("metric", ALL_METRICS, ids=ids)
@pytest.mark.parametrize(
    "returns", [np.array([]), np.array([NAN, NAN, NAN])], ids=["empty", "all-nan"]
)
def test_no_observations_give_nan_float(metric, returns):
    result = metric(returns)
    assert isinstance(result, float)
    assert math.isnan(result)


@pytest.mark.parametrize("metric", ALL_METRICS, ids=ids)
def test_single_observation(metric):
    result = metric(np.array([NAN, -0.02, NAN]))
    if MIN_OBS[metric] > 1:
        assert math.isnan(result)
    else:
        assert result == pytest.approx(0.02 if metric is max_drawdown else -0.02)


@pytest.mark.parametrize("metric", ALL_METRICS, ids=ids)
def test_two_observations_are_enough(metric):
    assert math.isfinite(metric(np.array([-0.02, NAN, 0.03])))


@pytest.mark.parametrize("metric", ALL_METRICS, ids=ids)
def test_2d_shapes(metric):
    assert metric(np.empty((0, 3))).shape == (3,)
    assert np.isnan(metric(np.empty((0, 3)))).all()
    assert metric(np.empty((10, 0))).shape == (0,)


@pytest.mark.parametrize("metric", ALL_METRICS, ids=ids)
def test_nans_are_dropped(metric):
    column = SAMPLE[:, 1]
    assert np.isnan(column).any()
    assert metric(column) == pytest.approx(metric(valid(column)), rel=1e-12)


@pytest.mark.parametrize("metric", ALL_METRICS, ids=ids)
def test_2d_equals_1d_per_column(metric):
    panel = np.column_stack(
        [
            SAMPLE,
            np.full(SAMPLE.shape[0], NAN),  # no observation
            np.r_[0.01, np.full(SAMPLE.shape[0] - 1, NAN)],  # one observation
            np.r_[np.full(SAMPLE.shape[0] - 2, NAN), -0.01, 0.02],  # two
            np.where(np.isnan(SAMPLE[:, 3]), NAN, SAMPLE[:, 0]),  # same count as column 3
        ]
    )
    result = metric(panel)
    assert isinstance(result, np.ndarray)
    assert result.shape == (panel.shape[1],)
    expected = np.array([metric(valid(column)) for column in panel.T])
    np.testing.assert_allclose(result, expected, rtol=1e-12, atol=0)


@pytest.mark.parametrize("method", QUANTILE_METHODS)
def test_hist_var_2d_equals_1d_for_every_method(method):
    expected = [float(hist_var(valid(column), 0.05, method)) for column in SAMPLE.T]
    np.testing.assert_allclose(arr(hist_var(SAMPLE, 0.05, method)), expected, rtol=1e-12)


def test_zero_dispersion_ratios_are_nan():
    assert math.isnan(sharpe(np.array([0.0, 0.0, 0.0])))
    assert math.isnan(sortino(np.array([0.01, 0.02, 0.03])))  # no downside
    assert sortino(np.array([0.01, -0.02])) < 0


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize("metric", TAIL_METRICS, ids=ids)
@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.05, 1.5, NAN])
def test_alpha_outside_unit_interval_raises(metric, alpha):
    with pytest.raises(ValueError, match="alpha"):
        metric(SAMPLE[:, 0], alpha=alpha)
    with pytest.raises(ValueError, match="alpha"):
        metric(np.array([]), alpha=alpha)


def test_bad_parameters_raise():
    with pytest.raises(ValueError, match="method"):
        hist_var(SAMPLE, method="type7")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="rf_daily"):
        sharpe(SAMPLE, rf_daily=NAN)
    with pytest.raises(ValueError, match="target"):
        sortino(SAMPLE, target=math.inf)


@pytest.mark.parametrize("metric", [*ALL_METRICS, mean_std], ids=ids)
def test_3d_input_raises(metric):
    with pytest.raises(ValueError, match="1-D or 2-D"):
        metric(np.zeros((4, 2, 2)))


# ---------------------------------------------------------------- properties

MANY = np.random.default_rng(11).standard_t(3, size=(300, 200)) * 0.01


@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.1, 0.3])
def test_cvar_is_at_least_var(alpha):
    assert (arr(hist_cvar(MANY, alpha)) >= arr(hist_var(MANY, alpha)) - 1e-15).all()
    assert (arr(param_cvar(MANY, alpha)) >= arr(param_var(MANY, alpha))).all()


@pytest.mark.parametrize("metric", [*TAIL_METRICS, ann_vol], ids=ids)
@pytest.mark.parametrize("leverage", [0.5, 2.0, 3.7])
def test_risk_scales_linearly_with_leverage(metric, leverage):
    np.testing.assert_allclose(
        metric(leverage * SAMPLE), leverage * metric(SAMPLE), rtol=1e-12, atol=0
    )


@pytest.mark.parametrize("leverage", [0.5, 2.0])
def test_ratios_are_leverage_invariant(leverage):
    np.testing.assert_allclose(sharpe(leverage * SAMPLE), sharpe(SAMPLE), rtol=1e-10)
    np.testing.assert_allclose(sortino(leverage * SAMPLE), sortino(SAMPLE), rtol=1e-10)


def test_var_is_monotone_in_confidence():
    assert (arr(hist_var(MANY, 0.01)) >= arr(hist_var(MANY, 0.05))).all()
    assert (arr(param_var(MANY, 0.01)) > arr(param_var(MANY, 0.05))).all()


def test_zero_mean_var_ignores_drift():
    np.testing.assert_allclose(
        param_var(SAMPLE + 0.003, zero_mean=True), param_var(SAMPLE, zero_mean=True), rtol=1e-9
    )


def test_max_drawdown_bounds():
    drawdown = arr(max_drawdown(MANY))
    assert ((drawdown >= 0) & (drawdown <= 1)).all()
    assert (drawdown >= np.maximum(-MANY[0], 0.0) - 1e-15).all()  # day-1 loss counts


# ---------------------------------------------------------------- anchor libraries


@pytest.fixture(scope="module")
def empyrical() -> Any:
    import empyrical as module

    return module


@pytest.fixture(scope="module")
def qs() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import quantstats.stats as module
    return module


def test_anchor_library_versions(empyrical):
    import quantstats

    # the anchors changed definitions between releases (RISK-CONVENTIONS section 3)
    assert empyrical.__version__ == ANCHOR_VERSIONS["empyrical"]
    assert quantstats.__version__ == ANCHOR_VERSIONS["quantstats"]


def series(column: np.ndarray) -> pd.Series:
    dates = pd.bdate_range("2023-01-02", periods=column.size)
    return pd.Series(column, index=dates, dtype="float64")


def quiet(function: Callable[..., Any], *args: Any, **kwargs: Any) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(function(*args, **kwargs))


SEEDS = [1, 2, 3]
COLUMNS = range(SAMPLE.shape[1])


def anchor_cases() -> list[tuple[int, int]]:
    return [(seed, column) for seed in SEEDS for column in COLUMNS]


@pytest.mark.parametrize(("seed", "column"), anchor_cases())
def test_matches_empyrical(empyrical, seed, column):
    raw = fat_tailed(seed)[:, column]
    clean = valid(raw)
    for alpha in (0.05, 0.01):
        assert hist_var(raw, alpha) == pytest.approx(
            -empyrical.value_at_risk(clean, cutoff=alpha), rel=REL
        )
        assert hist_cvar(raw, alpha) == pytest.approx(
            -empyrical.conditional_value_at_risk(raw, cutoff=alpha), rel=REL
        )
    assert ann_vol(raw) == pytest.approx(empyrical.annual_volatility(clean), rel=REL)
    assert max_drawdown(raw) == pytest.approx(-empyrical.max_drawdown(clean), rel=REL)
    assert sharpe(raw) == pytest.approx(empyrical.sharpe_ratio(clean, risk_free=0), rel=REL)
    assert sharpe(raw, rf_daily=1e-4) == pytest.approx(
        empyrical.sharpe_ratio(clean, risk_free=1e-4), rel=REL
    )
    assert sortino(raw) == pytest.approx(empyrical.sortino_ratio(clean, required_return=0), rel=REL)
    assert sortino(raw, target=2e-4) == pytest.approx(
        empyrical.sortino_ratio(clean, required_return=2e-4), rel=REL
    )
    assert cumulative_return(raw) == pytest.approx(empyrical.cum_returns_final(clean), rel=REL)


@pytest.mark.parametrize(("seed", "column"), anchor_cases())
def test_matches_quantstats(qs, seed, column):
    raw = fat_tailed(seed)[:, column]
    with_nan = series(raw)  # quantstats skips NaN itself
    clean = series(valid(raw))
    assert (clean < 0).any()  # else quantstats would read the series as prices
    for alpha in (0.05, 0.01):
        confidence = 1 - alpha
        assert param_var(raw, alpha) == pytest.approx(
            -quiet(qs.value_at_risk, with_nan, confidence=confidence), rel=REL
        )
        assert param_cvar(raw, alpha) == pytest.approx(
            -quiet(qs.cvar, with_nan, confidence=confidence, method="parametric"), rel=REL
        )
        # quantstats' historical ES averages r <= Q_alpha: a different accepted estimator,
        # so only check that it is a tail mean between VaR and the worst loss.
        historical = -quiet(qs.cvar, with_nan, confidence=confidence, method="historical")
        assert hist_var(raw, alpha) - 1e-12 <= historical <= -np.nanmin(raw) + 1e-12
    assert ann_vol(raw) == pytest.approx(quiet(qs.volatility, with_nan, periods=252), rel=REL)
    assert max_drawdown(raw) == pytest.approx(-quiet(qs.max_drawdown, clean), rel=REL)
    assert sharpe(raw) == pytest.approx(quiet(qs.sharpe, with_nan, rf=0, periods=252), rel=REL)
    assert sortino(raw) == pytest.approx(quiet(qs.sortino, with_nan, rf=0, periods=252), rel=REL)


@pytest.mark.parametrize("seed", SEEDS)
def test_first_day_loss_drawdown_matches_both_libraries(empyrical, qs, seed):
    rng = np.random.default_rng(seed)
    returns = np.abs(rng.standard_t(3, size=300)) * 0.002  # only gains after day 1
    returns[0] = -0.04
    assert max_drawdown(returns) == pytest.approx(0.04, rel=1e-12)
    assert max_drawdown(returns) == pytest.approx(-empyrical.max_drawdown(returns), rel=REL)
    assert max_drawdown(returns) == pytest.approx(-quiet(qs.max_drawdown, series(returns)), rel=REL)
    noisy = rng.standard_t(3, size=300) * 0.01
    noisy[0] = -0.03
    assert max_drawdown(noisy) == pytest.approx(-empyrical.max_drawdown(noisy), rel=REL)
    assert max_drawdown(noisy) == pytest.approx(-quiet(qs.max_drawdown, series(noisy)), rel=REL)


def test_2d_matches_empyrical_column_by_column(empyrical):
    expected = [-empyrical.conditional_value_at_risk(column) for column in SAMPLE.T]
    np.testing.assert_allclose(hist_cvar(SAMPLE), expected, rtol=REL)
    expected = [-empyrical.value_at_risk(valid(column)) for column in SAMPLE.T]
    np.testing.assert_allclose(hist_var(SAMPLE), expected, rtol=REL)


@pytest.mark.parametrize("method", [m for m in QUANTILE_METHODS if m != "linear"])
@pytest.mark.parametrize("alpha", [0.05, 0.01])
def test_other_quantile_methods_lie_within_numpy_spread(method, alpha):
    for column in SAMPLE.T:
        clean = valid(column)
        quantiles = [np.quantile(clean, alpha, method=m) for m in QUANTILE_METHODS]
        var = hist_var(column, alpha, method)
        assert -max(quantiles) - 1e-15 <= var <= -min(quantiles) + 1e-15
        assert var == pytest.approx(-np.quantile(clean, alpha, method=method), rel=1e-12)


def test_public_names_are_exported():
    assert set(stats.__all__) >= {metric.__name__ for metric in ALL_METRICS}
