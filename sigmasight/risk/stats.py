r"""Return-series statistics: VaR, CVaR/ES, volatility, drawdown, Sharpe, Sortino.

Definitions follow RISK-CONVENTIONS.md section 2 (1-day horizon, 252 trading days,
``ddof = 1``, ``rf = 0`` unless given).

Sign convention: ``returns`` are simple daily returns as fractions (0.01 = +1 %).
Loss measures (:func:`hist_var`, :func:`param_var`, :func:`hist_cvar`,
:func:`param_cvar`, :func:`max_drawdown`) are **positive** fractions of NAV (a
negative value means the tail is a gain); multiply by NAV for currency. Volatility
is non-negative; Sharpe, Sortino, the mean and the cumulative return keep their
natural sign. ``alpha`` is the tail probability (0.05 for 95 %, 0.01 for 99 %).

Input shape and missing values, for every function:

- ``returns`` of shape ``(n_obs,)`` gives a Python ``float``; shape
  ``(n_obs, n_series)`` gives an ndarray of shape ``(n_series,)``, one value per
  column.
- NaNs are dropped per column: each column uses its own non-NaN rows, so the
  result equals the 1-D result of that column with its NaNs removed. Values must
  otherwise be finite.
- A column with fewer valid observations than the minimum below gives NaN:

  ===========================================================  =======
  function                                                     minimum
  ===========================================================  =======
  hist_var, hist_cvar, param_var, param_cvar, ann_vol, sharpe  2
  sortino                                                      2
  max_drawdown, cumulative_return                              1
  ===========================================================  =======

  :func:`sharpe` and :func:`sortino` are also NaN when their denominator is 0
  (constant excess returns, or no return below the target).
- Invalid parameters (``alpha`` outside (0, 1), an unknown quantile method, a
  non-finite ``rf_daily``/``target``, or ``returns`` with more than two dimensions)
  raise ``ValueError``, also for empty input.
"""

import math
from statistics import NormalDist
from typing import Literal, TypeAlias, get_args

import numpy as np

from sigmasight.risk.types import TRADING_DAYS, BoolArray, FloatArray, IntArray

__all__ = [
    "MIN_OBS_DISPERSION",
    "MIN_OBS_PATH",
    "MIN_OBS_TAIL",
    "QUANTILE_METHODS",
    "QuantileMethod",
    "Statistic",
    "ann_vol",
    "cumulative_return",
    "hist_cvar",
    "hist_var",
    "max_drawdown",
    "mean_std",
    "param_cvar",
    "param_var",
    "sharpe",
    "sortino",
]

QuantileMethod: TypeAlias = Literal[
    "inverted_cdf",
    "averaged_inverted_cdf",
    "closest_observation",
    "interpolated_inverted_cdf",
    "hazen",
    "weibull",
    "linear",
    "median_unbiased",
    "normal_unbiased",
    "lower",
    "higher",
    "nearest",
    "midpoint",
]
"""The 13 numpy quantile methods; ``"linear"`` (Hyndman-Fan type 7) is the default."""

QUANTILE_METHODS: tuple[QuantileMethod, ...] = get_args(QuantileMethod)

Statistic: TypeAlias = float | FloatArray
"""``float`` for 1-D ``returns``, ndarray of shape ``(n_series,)`` for 2-D ``returns``."""

MIN_OBS_TAIL = 2
"""Minimum valid observations for VaR and CVaR (historical and parametric)."""
MIN_OBS_DISPERSION = 2
"""Minimum valid observations for a sample std (ddof = 1): vol, Sharpe, Sortino."""
MIN_OBS_PATH = 1
"""Minimum valid observations for drawdown and cumulative return."""

_SQRT_YEAR = math.sqrt(TRADING_DAYS)
# The stdlib normal (Wichura AS241 quantile) agrees with scipy.special.ndtri to
# 1 ulp and, unlike scipy, ships type information.
_STANDARD_NORMAL = NormalDist()


# ---------------------------------------------------------------- input helpers


def _as_columns(returns: FloatArray) -> tuple[FloatArray, bool]:
    """Return ``returns`` as float64 of shape (n_obs, n_series) and whether it was 1-D."""
    array = np.asarray(returns, dtype=np.float64)
    if array.ndim == 1:
        return array[:, np.newaxis], True
    if array.ndim == 2:
        return array, False
    raise ValueError(f"returns must be 1-D or 2-D, got {array.ndim} dimensions")


def _finish(values: FloatArray, was_1d: bool) -> Statistic:
    return float(values[0]) if was_1d else values


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")


def _check_finite(name: str, value: float) -> None:
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")


def _valid_counts(x: FloatArray) -> tuple[BoolArray, IntArray]:
    """NaN mask and the number of non-NaN rows per column."""
    missing = np.isnan(x)
    counts: IntArray = x.shape[0] - np.count_nonzero(missing, axis=0)
    return missing, counts


def _mean_std(x: FloatArray, ddof: int = 1) -> tuple[FloatArray, FloatArray, IntArray]:
    """Per-column NaN-skipping mean and std (two-pass), with the valid counts.

    The mean is NaN for a column without observations, the std for ``n <= ddof``.
    """
    missing, counts = _valid_counts(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        if x.shape[0] and not missing.any():
            mean = x.mean(axis=0)
            dev = x - mean
        else:
            mean = np.where(missing, 0.0, x).sum(axis=0) / counts
            dev = np.where(missing, 0.0, x - mean)
        var = np.einsum("ij,ij->j", dev, dev) / (counts - ddof)
    mean = np.where(counts >= 1, mean, np.nan)
    std = np.where(counts > ddof, np.sqrt(var), np.nan)
    return mean, std, counts


def _sorted_block(x: FloatArray, columns: IntArray) -> FloatArray:
    """Columns ``columns`` of ``x`` sorted ascending along axis 0, NaNs last."""
    return np.sort(x[:, columns], axis=0)


# ---------------------------------------------------------------- mean / std


def mean_std(returns: FloatArray, ddof: int = 1) -> tuple[Statistic, Statistic]:
    r"""Sample mean and standard deviation per column, NaNs dropped.

    .. math:: \mu = \frac{1}{n}\sum_t r_t, \qquad
              \sigma = \sqrt{\frac{1}{n - \mathrm{ddof}}\sum_t (r_t - \mu)^2}

    Parameters
    ----------
    returns : ndarray of shape (n_obs,) or (n_obs, n_series)
        Daily simple returns (fractions); NaNs are dropped per column.
    ddof : int, default=1
        Delta degrees of freedom of the std, >= 0 (C5 uses 1).

    Returns
    -------
    mean : float or ndarray of shape (n_series,)
        Daily mean return (signed fraction); NaN without observations.
    std : float or ndarray of shape (n_series,)
        Daily standard deviation (fraction, >= 0); NaN when ``n <= ddof``.

    Raises
    ------
    ValueError
        If ``ddof`` is negative or ``returns`` has more than two dimensions.
    """
    if ddof < 0:
        raise ValueError(f"ddof must be >= 0, got {ddof}")
    x, was_1d = _as_columns(returns)
    mean, std, _ = _mean_std(x, ddof)
    return _finish(mean, was_1d), _finish(std, was_1d)


def ann_vol(returns: FloatArray) -> Statistic:
    r"""Annualised volatility.

    .. math:: \sigma_{ann} = \sigma \sqrt{252}, \quad \sigma \text{ with ddof} = 1

    Same definition as ``empyrical.annual_volatility(r)`` and
    ``quantstats.stats.volatility(r, periods=252)``.

    Parameters
    ----------
    returns : ndarray of shape (n_obs,) or (n_obs, n_series)
        Daily simple returns (fractions); NaNs are dropped per column.

    Returns
    -------
    float or ndarray of shape (n_series,)
        Annualised volatility as a fraction (0.2 = 20 % a year), >= 0; NaN with
        fewer than 2 observations.
    """
    x, was_1d = _as_columns(returns)
    _, std, _ = _mean_std(x)
    return _finish(std * _SQRT_YEAR, was_1d)


# ---------------------------------------------------------------- VaR / CVaR


def hist_var(
    returns: FloatArray, alpha: float = 0.05, method: QuantileMethod = "linear"
) -> Statistic:
    r"""Historical-simulation 1-day Value at Risk.

    .. math:: \mathrm{VaR}_\alpha = -Q_\alpha(r)

    ``Q_alpha`` is ``numpy.quantile(r, alpha, method=method)``. With the default
    linear rule this equals ``-empyrical.value_at_risk(r, cutoff=alpha)`` on the
    NaN-free series.

    Parameters
    ----------
    returns : ndarray of shape (n_obs,) or (n_obs, n_series)
        Daily simple returns (fractions); NaNs are dropped per column.
    alpha : float, default=0.05
        Tail probability in (0, 1); 0.05 is the 95 % VaR.
    method : str, default="linear"
        One of the 13 numpy quantile methods (:data:`QUANTILE_METHODS`); record it
        as ``quantile_method``.

    Returns
    -------
    float or ndarray of shape (n_series,)
        Loss threshold as a positive fraction of NAV (negative if even the tail
        quantile is a gain); NaN with fewer than 2 observations.

    Raises
    ------
    ValueError
        If ``alpha`` is outside (0, 1) or ``method`` is not a numpy quantile method.
    """
    _check_alpha(alpha)
    if method not in QUANTILE_METHODS:
        raise ValueError(f"method must be one of {QUANTILE_METHODS}, got {method!r}")
    x, was_1d = _as_columns(returns)
    missing, counts = _valid_counts(x)
    quantile = np.full(x.shape[1], np.nan)
    has_gap = missing.any(axis=0)
    if x.shape[0] >= MIN_OBS_TAIL:
        if not has_gap.any():
            quantile = np.quantile(x, alpha, axis=0, method=method)
        elif not has_gap.all():
            complete = np.flatnonzero(~has_gap)
            quantile[complete] = np.quantile(x[:, complete], alpha, axis=0, method=method)
    gappy = np.flatnonzero(has_gap & (counts >= MIN_OBS_TAIL))
    if gappy.size:
        # Performance: np.nanquantile loops over columns in Python. Sorting puts the
        # NaNs last, so columns sharing a count n are one (n, k) block for np.quantile.
        block = _sorted_block(x, gappy)
        block_counts = counts[gappy]
        for n in np.unique(block_counts):
            members = np.flatnonzero(block_counts == n)
            quantile[gappy[members]] = np.quantile(block[:n, members], alpha, axis=0, method=method)
    return _finish(-quantile, was_1d)


def hist_cvar(returns: FloatArray, alpha: float = 0.05) -> Statistic:
    r"""Historical 1-day CVaR / expected shortfall, empyrical's estimator.

    .. math:: \mathrm{ES}_\alpha = -\frac{1}{k+1}\sum_{i=0}^{k} r_{(i)}, \qquad
              k = \lfloor (n-1)\,\alpha \rfloor

    where :math:`r_{(0)} \le r_{(1)} \le \dots` are the sorted valid returns and
    ``k`` is evaluated in float64 as ``empyrical.conditional_value_at_risk(r,
    cutoff=alpha)`` does, so the two agree. The tail always holds at least the worst
    return, hence ``hist_cvar >= hist_var`` (linear rule) for every sample.

    Parameters
    ----------
    returns : ndarray of shape (n_obs,) or (n_obs, n_series)
        Daily simple returns (fractions); NaNs are dropped per column (also when
        counting ``n``).
    alpha : float, default=0.05
        Tail probability in (0, 1).

    Returns
    -------
    float or ndarray of shape (n_series,)
        Mean tail loss as a positive fraction of NAV; NaN with fewer than 2
        observations.

    Raises
    ------
    ValueError
        If ``alpha`` is outside (0, 1).
    """
    _check_alpha(alpha)
    x, was_1d = _as_columns(returns)
    _, counts = _valid_counts(x)
    cvar = np.full(x.shape[1], np.nan)
    usable = np.flatnonzero(counts >= MIN_OBS_TAIL)
    if usable.size:
        n = counts[usable]
        tail_last = np.floor((n - 1) * alpha).astype(np.intp)
        deepest = int(tail_last.max())
        # np.partition puts NaNs last, so the first deepest + 1 rows hold each
        # column's smallest valid returns; only that slice needs sorting.
        subset = x[:, usable]
        if deepest + 1 < subset.shape[0]:
            subset = np.partition(subset, deepest, axis=0)[: deepest + 1]
        head = np.sort(subset, axis=0)
        in_tail = np.arange(head.shape[0])[:, np.newaxis] <= tail_last
        cvar[usable] = -np.where(in_tail, head, 0.0).sum(axis=0) / (tail_last + 1)
    return _finish(cvar, was_1d)


def param_var(returns: FloatArray, alpha: float = 0.05, zero_mean: bool = False) -> Statistic:
    r"""Parametric (normal, variance-covariance) 1-day Value at Risk.

    .. math:: \mathrm{VaR}_\alpha = -(\mu + \sigma z_\alpha)
              \quad\text{or, zero-mean,}\quad -\sigma z_\alpha,
              \qquad z_\alpha = \Phi^{-1}(\alpha) < 0

    ``sigma`` uses ddof = 1. The mean-inclusive form equals
    ``-quantstats.stats.value_at_risk(r, confidence=1 - alpha)``. Only the
    zero-mean form may be scaled by :math:`\sqrt{h}` to ``h`` days (C10).

    Parameters
    ----------
    returns : ndarray of shape (n_obs,) or (n_obs, n_series)
        Daily simple returns (fractions); NaNs are dropped per column.
    alpha : float, default=0.05
        Tail probability in (0, 1).
    zero_mean : bool, default=False
        Drop the mean term (report ``param_var_95_method = "zero_mean"``).

    Returns
    -------
    float or ndarray of shape (n_series,)
        Loss threshold as a positive fraction of NAV; NaN with fewer than 2
        observations.

    Raises
    ------
    ValueError
        If ``alpha`` is outside (0, 1).
    """
    _check_alpha(alpha)
    x, was_1d = _as_columns(returns)
    mean, std, _ = _mean_std(x)
    z = _STANDARD_NORMAL.inv_cdf(alpha)
    var = -std * z if zero_mean else -(mean + std * z)
    return _finish(var, was_1d)


def param_cvar(returns: FloatArray, alpha: float = 0.05) -> Statistic:
    r"""Parametric (normal) 1-day expected shortfall, mean-inclusive.

    .. math:: \mathrm{ES}_\alpha = -\left(\mu - \sigma\,\frac{\varphi(z_\alpha)}{\alpha}\right)

    ``sigma`` uses ddof = 1. Equals ``-quantstats.stats.cvar(r, confidence=1 -
    alpha, method="parametric")`` and is never below :func:`param_var`.

    Parameters
    ----------
    returns : ndarray of shape (n_obs,) or (n_obs, n_series)
        Daily simple returns (fractions); NaNs are dropped per column.
    alpha : float, default=0.05
        Tail probability in (0, 1).

    Returns
    -------
    float or ndarray of shape (n_series,)
        Mean tail loss as a positive fraction of NAV; NaN with fewer than 2
        observations.

    Raises
    ------
    ValueError
        If ``alpha`` is outside (0, 1).
    """
    _check_alpha(alpha)
    x, was_1d = _as_columns(returns)
    mean, std, _ = _mean_std(x)
    density = _STANDARD_NORMAL.pdf(_STANDARD_NORMAL.inv_cdf(alpha))
    return _finish(-(mean - std * density / alpha), was_1d)


# ---------------------------------------------------------------- path statistics


def max_drawdown(returns: FloatArray) -> Statistic:
    r"""Maximum drawdown of the compounded wealth path.

    .. math:: W_0 = 1,\quad W_t = \prod_{s \le t}(1 + r_s), \qquad
              \mathrm{MDD} = -\min_t\left(\frac{W_t}{\max_{s \le t} W_s} - 1\right)

    The start ``W_0 = 1`` counts as a peak, so a loss on the first day is a
    drawdown. Dropping a NaN return equals a flat day, so NaNs are treated as 0.
    Equals ``-empyrical.max_drawdown(r)`` and ``-quantstats.stats.max_drawdown(r)``.

    Parameters
    ----------
    returns : ndarray of shape (n_obs,) or (n_obs, n_series)
        Daily simple returns (fractions), dates ascending; NaNs are dropped.

    Returns
    -------
    float or ndarray of shape (n_series,)
        Largest peak-to-trough loss as a positive fraction in [0, 1] for returns
        >= -1 (0 if wealth never falls below a previous peak); NaN without
        observations.
    """
    x, was_1d = _as_columns(returns)
    missing, counts = _valid_counts(x)
    growth = np.where(missing, 1.0, 1.0 + x)
    wealth = np.cumprod(growth, axis=0)
    peak = np.maximum(np.maximum.accumulate(wealth, axis=0), 1.0)
    trough = (wealth / peak).min(axis=0, initial=1.0)
    drawdown = np.where(counts >= MIN_OBS_PATH, 1.0 - np.minimum(trough, 1.0), np.nan)
    return _finish(drawdown, was_1d)


def cumulative_return(returns: FloatArray) -> Statistic:
    r"""Compounded total return.

    .. math:: R = \prod_t (1 + r_t) - 1

    Equals ``empyrical.cum_returns_final(r)`` on the NaN-free series.

    Parameters
    ----------
    returns : ndarray of shape (n_obs,) or (n_obs, n_series)
        Daily simple returns (fractions); NaNs are dropped per column.

    Returns
    -------
    float or ndarray of shape (n_series,)
        Total return over the sample as a signed fraction; NaN without
        observations.
    """
    x, was_1d = _as_columns(returns)
    missing, counts = _valid_counts(x)
    total = np.prod(np.where(missing, 1.0, 1.0 + x), axis=0) - 1.0
    return _finish(np.where(counts >= MIN_OBS_PATH, total, np.nan), was_1d)


# ---------------------------------------------------------------- ratios


def sharpe(returns: FloatArray, rf_daily: float = 0.0) -> Statistic:
    r"""Annualised Sharpe ratio.

    .. math:: S = \frac{\operatorname{mean}(r - r_f)}{\sigma(r - r_f)}\sqrt{252}

    ``sigma`` uses ddof = 1. Equals ``empyrical.sharpe_ratio(r, risk_free=rf_daily)``
    and, for ``rf_daily = 0``, ``quantstats.stats.sharpe(r, rf=0, periods=252)``.

    Parameters
    ----------
    returns : ndarray of shape (n_obs,) or (n_obs, n_series)
        Daily simple returns (fractions); NaNs are dropped per column.
    rf_daily : float, default=0.0
        Risk-free return per trading day as a fraction (not annual, C11).

    Returns
    -------
    float or ndarray of shape (n_series,)
        Signed ratio (per square-root year); NaN with fewer than 2 observations or
        a zero standard deviation.

    Raises
    ------
    ValueError
        If ``rf_daily`` is not finite.
    """
    _check_finite("rf_daily", rf_daily)
    x, was_1d = _as_columns(returns)
    mean, std, _ = _mean_std(x - rf_daily)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(std > 0.0, mean / std * _SQRT_YEAR, np.nan)
    return _finish(ratio, was_1d)


def sortino(returns: FloatArray, target: float = 0.0) -> Statistic:
    r"""Annualised Sortino ratio.

    .. math:: \mathrm{So} = \frac{\operatorname{mean}(r - \tau)\cdot 252}{DD},
              \qquad DD = \sqrt{\frac{1}{n}\sum_{t=1}^{n}\min(r_t - \tau, 0)^2}\,\sqrt{252}

    The mean of squared shortfalls runs over **all** ``n`` valid observations, not
    only the losing ones. Equals ``empyrical.sortino_ratio(r, required_return=target)``
    and, for ``target = 0``, ``quantstats.stats.sortino(r, rf=0, periods=252)``.

    Parameters
    ----------
    returns : ndarray of shape (n_obs,) or (n_obs, n_series)
        Daily simple returns (fractions); NaNs are dropped per column.
    target : float, default=0.0
        Minimum acceptable daily return ``tau`` as a fraction.

    Returns
    -------
    float or ndarray of shape (n_series,)
        Signed ratio; NaN with fewer than 2 observations or when no return falls
        below ``target`` (zero downside deviation).

    Raises
    ------
    ValueError
        If ``target`` is not finite.
    """
    _check_finite("target", target)
    x, was_1d = _as_columns(returns)
    excess = x - target
    mean, _, counts = _mean_std(excess)
    shortfall = np.where(np.isnan(excess), 0.0, np.minimum(excess, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        downside = np.sqrt(np.einsum("ij,ij->j", shortfall, shortfall) / counts) * _SQRT_YEAR
        ratio = np.where(
            (counts >= MIN_OBS_DISPERSION) & (downside > 0.0),
            mean * TRADING_DAYS / downside,
            np.nan,
        )
    return _finish(ratio, was_1d)
