"""Statistics of a daily return series for the tear sheet (pure numpy).

The tear sheet's return sections (monthly returns, the return histogram, rolling volatility
and beta, the worst drawdowns) read one daily series, either the replay of today's book
over past prices or the portfolio's actual time-weighted returns from stored snapshots
(RISK-CONVENTIONS C18; :func:`tearsheet_series` picks and labels it). The VaR backtest's
daily rows (:func:`backtest_days`) come from the stored snapshots (C17, C30).

Conventions: returns are simple fractions; a missing return (NaN) is a flat day for
compounding (as in ``series.wealth_and_drawdown``) and makes any rolling window that holds
it NaN (as pandas' ``rolling`` does with its default ``min_periods``). Volatility is
annualised with 252 and ddof 1 (C5). A drawdown's depth is a negative fraction.
"""

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from sigmasight.risk.types import TRADING_DAYS, FloatArray

ROLLING_WINDOW = 63
#: Sessions of known actual returns from which the actual series replaces the replay.
MIN_ACTUAL_RETURNS = 252
BACKTEST_WINDOW = 250

SeriesKind = Literal["actual", "replay"]


@dataclass(frozen=True)
class ReturnSeries:
    """A daily return series with its base date and what it is (C18).

    ``dates[i]`` is the session of ``returns[i]``; ``base`` the session before the first
    return (wealth 1 there). ``benchmark`` holds the benchmark's return over the same
    intervals (NaN where unknown).
    """

    kind: SeriesKind
    base: dt.date
    dates: tuple[dt.date, ...]
    returns: FloatArray
    benchmark: FloatArray | None = None
    benchmark_symbol: str | None = None

    @property
    def label(self) -> str:
        """What the series is, for a caption."""
        if self.kind == "actual":
            return "actual time-weighted returns from stored snapshots"
        return "replay of today's book over past prices (not the portfolio's performance)"


@dataclass(frozen=True)
class MonthlyRow:
    """One calendar year: the compounded return of each month (None without data) and the year."""

    year: int
    months: tuple[float | None, ...]
    total: float | None


@dataclass(frozen=True)
class Drawdown:
    """One drawdown episode of a wealth path.

    ``peak`` is the last session at the running maximum before the fall, ``start`` the
    first session below it, ``trough`` the lowest session, ``recovery`` the first session
    back at or above the peak (None while not recovered); ``depth`` = trough / peak - 1.
    """

    peak: dt.date
    start: dt.date
    trough: dt.date
    recovery: dt.date | None
    depth: float
    sessions: int  # from the start to the recovery (or the last session), inclusive


@dataclass(frozen=True)
class BacktestDay:
    """One backtest day (C30): the actual P&L and the previous session's VaR, in currency."""

    day: dt.date
    pnl: float
    var_95: float
    var_99: float

    @property
    def exception_95(self) -> bool:
        """The loss exceeded the previous session's 95 % VaR."""
        return -self.pnl > self.var_95

    @property
    def exception_99(self) -> bool:
        """The loss exceeded the previous session's 99 % VaR."""
        return -self.pnl > self.var_99


def _array(values: Sequence[float | None] | FloatArray) -> FloatArray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def wealth_path(returns: FloatArray) -> FloatArray:
    """Wealth from 1 before the first return; a NaN return is a flat day. Shape (n + 1,)."""
    growth = np.where(np.isnan(returns), 1.0, 1.0 + np.asarray(returns, dtype=np.float64))
    return np.concatenate([[1.0], np.cumprod(growth)])


def monthly_returns(dates: Sequence[dt.date], returns: FloatArray) -> list[MonthlyRow]:
    r"""Compounded return per calendar month and per year, oldest year first.

    .. math:: R_m = \prod_{t \in m} (1 + r_t) - 1

    over the known returns of month m (NaN days are skipped); a month without any known
    return is None, never 0. The year's figure compounds its known returns the same way.

    Parameters
    ----------
    dates : sequence of date, length n
        Session of each return, ascending.
    returns : ndarray of shape (n,)
        Daily simple returns.

    Returns
    -------
    list of MonthlyRow
        One row per calendar year that has a date in ``dates``.
    """
    r = np.asarray(returns, dtype=np.float64)
    if len(dates) != r.size:
        raise ValueError(f"{len(dates)} dates for {r.size} returns")
    growth: dict[tuple[int, int], float] = {}
    for day, value in zip(dates, r.tolist(), strict=True):
        key = (day.year, day.month)
        if value == value:  # known
            growth[key] = growth.get(key, 1.0) * (1.0 + value)
    rows = []
    for year in sorted({d.year for d in dates}):
        months = tuple(
            growth[(year, m)] - 1.0 if (year, m) in growth else None for m in range(1, 13)
        )
        known = [growth[(year, m)] for m in range(1, 13) if (year, m) in growth]
        total = float(np.prod(known)) - 1.0 if known else None
        rows.append(MonthlyRow(year, months, total))
    return rows


def rolling_volatility(returns: FloatArray, window: int = ROLLING_WINDOW) -> FloatArray:
    r"""Annualised rolling volatility, :math:`\sigma_t = \mathrm{std}(r_{t-w+1..t}) \sqrt{252}` (ddof 1).

    Parameters
    ----------
    returns : ndarray of shape (n,)
        Daily simple returns.
    window : int, default=63
        Returns per window (at least 2).

    Returns
    -------
    ndarray of shape (n,)
        NaN for the first ``window - 1`` entries and for any window holding a NaN.
    """
    if window < 2:
        raise ValueError(f"window must be at least 2, got {window}")
    r = np.asarray(returns, dtype=np.float64)
    out = np.full(r.size, np.nan)
    if r.size >= window:
        out[window - 1 :] = sliding_window_view(r, window).std(axis=1, ddof=1) * np.sqrt(
            TRADING_DAYS
        )
    return out


def rolling_beta(
    returns: FloatArray, benchmark: FloatArray, window: int = ROLLING_WINDOW
) -> FloatArray:
    r"""Rolling beta to the benchmark, :math:`\mathrm{cov}(r, b) / \mathrm{var}(b)` per window (ddof 1).

    Parameters
    ----------
    returns, benchmark : ndarray of shape (n,)
        Daily simple returns of the series and of the benchmark over the same days.
    window : int, default=63
        Returns per window (at least 2).

    Returns
    -------
    ndarray of shape (n,)
        NaN for the first ``window - 1`` entries, for any window holding a NaN in either
        series, and where the benchmark does not move.
    """
    if window < 2:
        raise ValueError(f"window must be at least 2, got {window}")
    r = np.asarray(returns, dtype=np.float64)
    b = np.asarray(benchmark, dtype=np.float64)
    if r.shape != b.shape:
        raise ValueError(f"returns {r.shape} and benchmark {b.shape} differ in shape")
    out = np.full(r.size, np.nan)
    if r.size >= window:
        rw = sliding_window_view(r, window)
        bw = sliding_window_view(b, window)
        rc = rw - rw.mean(axis=1, keepdims=True)
        bc = bw - bw.mean(axis=1, keepdims=True)
        cov = (rc * bc).sum(axis=1) / (window - 1)
        var = (bc * bc).sum(axis=1) / (window - 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[window - 1 :] = np.where(var > 0, cov / var, np.nan)
    return out


def worst_drawdowns(dates: Sequence[dt.date], wealth: FloatArray, top: int = 5) -> list[Drawdown]:
    """The ``top`` deepest drawdown episodes of a wealth path, deepest first.

    Parameters
    ----------
    dates : sequence of date, length n
        Session of each wealth point, ascending (the first is the base).
    wealth : ndarray of shape (n,)
        Wealth path (e.g. :func:`wealth_path`), positive.
    top : int, default=5
        Episodes to return.

    Returns
    -------
    list of Drawdown
        Sorted by depth (deepest first; ties by the earlier start).
    """
    w = np.asarray(wealth, dtype=np.float64)
    if len(dates) != w.size:
        raise ValueError(f"{len(dates)} dates for {w.size} wealth points")
    episodes: list[Drawdown] = []
    peak_i = 0
    i = 1
    n = w.size
    while i < n:
        if w[i] >= w[peak_i]:
            peak_i = i
            i += 1
            continue
        start = i
        trough = i
        while i < n and w[i] < w[peak_i]:
            if w[i] < w[trough]:
                trough = i
            i += 1
        recovered = i < n
        episodes.append(
            Drawdown(
                peak=dates[peak_i],
                start=dates[start],
                trough=dates[trough],
                recovery=dates[i] if recovered else None,
                depth=float(w[trough] / w[peak_i] - 1.0),
                sessions=(i if recovered else n - 1) - start + 1,
            )
        )
    episodes.sort(key=lambda e: (e.depth, e.start))
    return episodes[:top]


def return_histogram(returns: FloatArray, bins: int = 40) -> tuple[FloatArray, FloatArray]:
    """Counts of the known returns in ``bins`` equal bins over their range (``numpy.histogram``).

    Returns
    -------
    tuple of ndarray of shape (bins + 1,) and ndarray of shape (bins,)
        Bin edges and counts; both empty without a known return.
    """
    r = np.asarray(returns, dtype=np.float64)
    r = r[~np.isnan(r)]
    if r.size == 0:
        return np.empty(0), np.empty(0)
    counts, edges = np.histogram(r, bins=bins)
    return edges.astype(np.float64), counts.astype(np.float64)


def backtest_days(
    dates: Sequence[dt.date],
    nav: Sequence[float | None],
    pnl: Sequence[float | None],
    var_95: Sequence[float | None],
    var_99: Sequence[float | None],
    window: int = BACKTEST_WINDOW,
) -> list[BacktestDay]:
    """The backtest days of a stored snapshot series (C30), the last ``window`` of them.

    Day t of the series (computed sessions, ascending) counts when its actual P&L is known
    and the previous computed session's NAV and historical VaR (fractions, full window) are:
    its VaR in currency is that fraction times that NAV, as the risk run stores it.
    """
    n = len(dates)
    if not len(nav) == len(pnl) == len(var_95) == len(var_99) == n:
        raise ValueError("dates, nav, pnl and VaR series differ in length")
    days = []
    for t in range(1, n):
        p, prev_nav, v95, v99 = pnl[t], nav[t - 1], var_95[t - 1], var_99[t - 1]
        if p is None or prev_nav is None or v95 is None or v99 is None:
            continue
        days.append(BacktestDay(dates[t], p, v95 * prev_nav, v99 * prev_nav))
    return days[-window:] if window > 0 else []


def actual_returns(
    dates: Sequence[dt.date], twr_daily: Sequence[float | None]
) -> tuple[dt.date, tuple[dt.date, ...], FloatArray]:
    """A snapshot series' daily returns as (base, dates, returns).

    ``twr_daily[i]`` is the return from session ``dates[i - 1]`` to ``dates[i]`` (C17), so
    the first session is the base; an unknown return is NaN.
    """
    if len(dates) != len(twr_daily):
        raise ValueError(f"{len(dates)} dates for {len(twr_daily)} returns")
    if not dates:
        raise ValueError("no sessions")
    return dates[0], tuple(dates[1:]), _array(twr_daily[1:])


def interval_returns(
    base: dt.date,
    dates: Sequence[dt.date],
    level_dates: Sequence[dt.date],
    levels: FloatArray,
) -> FloatArray:
    """Returns of a level series (e.g. a benchmark's wealth) over each ``(previous, date]``.

    The interval of ``dates[i]`` starts at ``dates[i - 1]`` (``base`` for the first); NaN
    when either end is not in ``level_dates``.
    """
    at = {d: float(v) for d, v in zip(level_dates, np.asarray(levels).tolist(), strict=True)}
    out = np.full(len(dates), np.nan)
    previous = base
    for i, day in enumerate(dates):
        a, b = at.get(previous), at.get(day)
        if a is not None and b is not None and a != 0:
            out[i] = b / a - 1.0
        previous = day
    return out


def known_count(values: FloatArray) -> int:
    """How many entries are not NaN."""
    return int(np.count_nonzero(~np.isnan(np.asarray(values, dtype=np.float64))))
