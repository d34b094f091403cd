"""The tear sheet's return statistics against pandas, quantstats and empyrical."""

import datetime as dt

import empyrical
import numpy as np
import pandas as pd
import pytest
import quantstats.stats as qs

from sigmasight.reports.return_stats import (
    actual_returns,
    backtest_days,
    interval_returns,
    monthly_returns,
    return_histogram,
    rolling_beta,
    rolling_volatility,
    wealth_path,
    worst_drawdowns,
)
from sigmasight.risk.backtest import backtest_block

RNG = np.random.default_rng(20261203)
N = 420
INDEX = pd.bdate_range("2024-01-02", periods=N)
DATES = tuple(d.date() for d in INDEX)
BENCH = RNG.normal(0.0003, 0.011, N)
RETURNS = 0.8 * BENCH + RNG.normal(0.0001, 0.006, N)


def with_gaps(values: np.ndarray) -> np.ndarray:
    out = values.copy()
    out[[5, 6, 200]] = np.nan
    return out


def test_monthly_returns_compound_each_month_like_pandas_and_quantstats():
    r = with_gaps(RETURNS)
    rows = monthly_returns(DATES, r)
    series = pd.Series(r, index=INDEX)
    known = series.dropna()
    when = pd.DatetimeIndex(known.index)
    grouped = (1.0 + known).groupby([when.year, when.month]).prod() - 1.0
    yearly = (1.0 + known).groupby(when.year).prod() - 1.0
    table = qs.monthly_returns(series.fillna(0.0), eoy=True, compounded=True, prepare_returns=False)
    assert [row.year for row in rows] == sorted(set(INDEX.year))
    seen = 0
    for row in rows:
        assert row.total == pytest.approx(yearly[row.year], rel=1e-12)
        assert row.total == pytest.approx(table.loc[str(row.year), "EOY"], rel=1e-12)
        for month, value in enumerate(row.months, start=1):
            if (row.year, month) not in grouped.index:
                assert value is None  # no data: never 0
                continue
            seen += 1
            assert value == pytest.approx(grouped[(row.year, month)], rel=1e-12)
            name = dt.date(2000, month, 1).strftime("%b").upper()
            assert value == pytest.approx(table.loc[str(row.year), name], rel=1e-12, abs=1e-15)
    assert seen == len(grouped) >= 19


def test_monthly_returns_reject_mismatched_lengths():
    with pytest.raises(ValueError, match="dates"):
        monthly_returns(DATES[:3], RETURNS[:4])


def test_rolling_volatility_matches_pandas_quantstats_and_empyrical():
    ours = rolling_volatility(RETURNS, 63)
    series = pd.Series(RETURNS, index=INDEX)
    expected = series.rolling(63).std() * np.sqrt(252)
    np.testing.assert_allclose(ours, expected.to_numpy(), rtol=1e-10, equal_nan=True)
    np.testing.assert_allclose(
        ours,
        qs.rolling_volatility(series, 63, prepare_returns=False).to_numpy(),
        rtol=1e-10,
        equal_nan=True,
    )
    np.testing.assert_allclose(
        ours[62:], np.asarray(empyrical.roll_annual_volatility(RETURNS, 63)), rtol=1e-10
    )
    assert np.isnan(ours[:62]).all()


def test_rolling_volatility_is_nan_over_a_window_with_a_gap_as_pandas():
    r = with_gaps(RETURNS)
    expected = pd.Series(r).rolling(63).std().to_numpy() * np.sqrt(252)
    np.testing.assert_allclose(rolling_volatility(r, 63), expected, rtol=1e-10, equal_nan=True)
    with pytest.raises(ValueError, match="window"):
        rolling_volatility(RETURNS, 1)


def test_rolling_beta_matches_pandas_and_empyrical():
    ours = rolling_beta(RETURNS, BENCH, 63)
    r, b = pd.Series(RETURNS), pd.Series(BENCH)
    expected = r.rolling(63).cov(b) / b.rolling(63).var()
    np.testing.assert_allclose(ours, expected.to_numpy(), rtol=1e-9, equal_nan=True)
    np.testing.assert_allclose(
        ours[62:], np.asarray(empyrical.roll_beta(RETURNS, BENCH, 63)), rtol=1e-9
    )
    gaps = with_gaps(BENCH)
    expected_gaps = (
        r.rolling(63).cov(pd.Series(gaps)) / pd.Series(gaps).rolling(63).var()
    ).to_numpy()
    np.testing.assert_allclose(
        rolling_beta(RETURNS, gaps, 63), expected_gaps, rtol=1e-9, equal_nan=True
    )


def test_rolling_beta_of_a_flat_benchmark_is_nan():
    assert np.isnan(rolling_beta(RETURNS[:80], np.zeros(80), 63)).all()


def _pandas_drawdowns(returns: np.ndarray) -> list[tuple[object, object, object, float]]:
    """Independent: wealth with pandas, episodes between touches of the running peak."""
    wealth = pd.Series(np.r_[1.0, np.cumprod(1.0 + np.nan_to_num(returns))], index=[None, *DATES])
    peak = wealth.cummax()
    under = (wealth < peak).to_numpy()
    found = []
    i = 1
    while i < len(wealth):
        if not under[i]:
            i += 1
            continue
        start = i
        while i < len(wealth) and under[i]:
            i += 1
        part = wealth.iloc[start:i]
        depth = float(part.min()) / float(peak.iloc[start]) - 1.0
        found.append(
            (
                wealth.index[start],
                part.idxmin(),
                wealth.index[i] if i < len(wealth) else None,
                depth,
            )
        )
    found.sort(key=lambda e: (e[3], e[0]))
    return found[:5]


def test_worst_drawdowns_match_an_independent_computation_and_quantstats():
    base = DATES[0] - dt.timedelta(days=1)
    ours = worst_drawdowns((base, *DATES), wealth_path(RETURNS), top=5)
    expected = _pandas_drawdowns(RETURNS)
    assert [(d.start, d.trough, d.recovery) for d in ours] == [e[:3] for e in expected]
    assert [d.depth for d in ours] == pytest.approx([e[3] for e in expected], rel=1e-12)
    assert all(d.depth < 0 and d.peak < d.start <= d.trough for d in ours)
    assert [d.depth for d in ours] == sorted(d.depth for d in ours)

    details = qs.drawdown_details(qs.to_drawdown_series(pd.Series(RETURNS, index=INDEX)))
    details = details.sort_values("max drawdown").head(5)
    assert [d.start.isoformat() for d in ours] == list(details["start"])
    assert [d.trough.isoformat() for d in ours] == list(details["valley"])
    assert [d.depth * 100 for d in ours] == pytest.approx(list(details["max drawdown"]), rel=1e-9)
    # quantstats' end is the last session under water; the recovery is the session after it.
    position = {d: i for i, d in enumerate(DATES)}
    for ours_one, end in zip(ours, details["end"], strict=True):
        if ours_one.recovery is not None:
            assert DATES[position[ours_one.recovery] - 1].isoformat() == end
        else:
            assert end == DATES[-1].isoformat()


def test_a_drawdown_not_yet_recovered_has_no_recovery_date():
    returns = np.array([0.01, -0.05, 0.01, -0.02, 0.01])
    days = tuple(dt.date(2025, 1, d) for d in range(1, 7))
    (only,) = worst_drawdowns(days, wealth_path(returns))
    assert only.peak == days[1] and only.start == days[2] and only.trough == days[4]
    assert only.recovery is None
    assert only.depth == pytest.approx(0.95 * 1.01 * 0.98 - 1.0)
    assert only.sessions == 4


def test_histogram_counts_the_known_returns():
    r = with_gaps(RETURNS)
    edges, counts = return_histogram(r, bins=30)
    expected_counts, expected_edges = np.histogram(r[~np.isnan(r)], bins=30)
    np.testing.assert_array_equal(counts, expected_counts)
    np.testing.assert_allclose(edges, expected_edges)
    assert counts.sum() == N - 3
    empty_edges, empty_counts = return_histogram(np.array([np.nan]))
    assert empty_edges.size == 0 and empty_counts.size == 0


def test_backtest_days_follow_the_risk_runs_rule_and_counts():
    n = 80
    nav = list(1e6 * np.cumprod(1 + RNG.normal(0, 0.01, n)))
    pnl: list[float | None] = [None, *np.diff(nav).tolist()]
    var95: list[float | None] = list(np.abs(RNG.normal(0.012, 0.002, n)))
    var99: list[float | None] = [v * 1.5 for v in var95 if v is not None]
    var95[30] = None  # the day after has no backtest row
    pnl[50] = None
    days = backtest_days(DATES[:n], nav, pnl, var95, var99)
    frame = pd.DataFrame({"nav": nav, "pnl": pnl, "v95": var95, "v99": var99}, dtype="float64")
    prev95 = (frame["v95"] * frame["nav"]).shift(1)
    prev99 = (frame["v99"] * frame["nav"]).shift(1)
    keep = frame["pnl"].notna() & prev95.notna() & prev99.notna()
    assert [d.day for d in days] == [DATES[i] for i in np.flatnonzero(keep)]
    assert [d.var_95 for d in days] == pytest.approx(list(prev95[keep]))
    exceptions = int((-frame["pnl"][keep] > prev95[keep]).sum())
    assert sum(d.exception_95 for d in days) == exceptions
    block, _ = backtest_block([(d.pnl, d.var_95, d.var_99) for d in days])
    assert block is not None
    assert block["var_95"]["exceptions"] == exceptions
    assert block["var_99"]["exceptions"] == sum(d.exception_99 for d in days)
    assert len(backtest_days(DATES[:n], nav, pnl, var95, var99, window=10)) == 10


def test_actual_returns_start_after_the_first_session_and_interval_returns_align():
    days = DATES[:4]
    base, dates, returns = actual_returns(days, [None, 0.01, None, -0.02])
    assert base == days[0] and dates == days[1:]
    np.testing.assert_array_equal(np.isnan(returns), [False, True, False])
    levels = np.array([100.0, 101.0, 99.0])
    out = interval_returns(days[0], (days[1], days[3]), (days[0], days[1], days[3]), levels)
    np.testing.assert_allclose(out, [0.01, 99.0 / 101.0 - 1.0])
    missing = interval_returns(days[0], (days[2],), (days[0], days[1]), levels[:2])
    assert np.isnan(missing).all()
