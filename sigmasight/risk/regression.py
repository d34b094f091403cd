r"""Batched ordinary least squares with intercept (beta, factor and rate regressions).

Every function solves **many dependent series at once**: the columns of ``y`` that
share the same regressor rows go through one QR factorisation of the regressors, not a
Python loop per series (RISK-CONVENTIONS.md "Beta to SPY", "Multi-factor exposures",
"Interest-rate sensitivity").

Model, for each column ``j`` of ``y``:

.. math:: y_{t,j} = \alpha_j + \sum_{k} \beta_{j,k}\, x_{t,k} + \varepsilon_{t,j}

Units and signs: ``y`` and ``x`` are in their own units (simple daily returns as
fractions for asset/factor returns, percentage points for ``Δy`` of DGS10); ``alpha``
is in units of ``y`` per observation (daily alpha for daily returns); ``betas`` are in
units of ``y`` per unit of ``x`` and keep their natural sign. ``resid_std`` is the
regression standard error ``sqrt(SSR / (n_obs - k - 1))`` (ddof = k + 1, as
``sqrt(statsmodels ... .fit().scale)``). ``r2`` is the centred R² (as statsmodels with a
constant). ``t_stats`` use the classical (non-robust) OLS covariance.

Numerics: the regressors are centred and scaled to unit norm before a reduced QR
factorisation, so the 0.9+ correlated factor ETFs never go through an explicit
``(X'X)^{-1}``. The intercept follows from the centred fit,
``alpha = mean(y) - mean(x) @ beta``, and its variance from
``s² (1/n + x̄' (X_c'X_c)^{-1} x̄)``.

Missing values: :func:`ols` requires finite input; :func:`ols_masked` and
:func:`beta` drop NaN rows per column (listwise deletion, as statsmodels
``missing="drop"``). Rolling "last N returns ending on T" windows are
built with :func:`last_window_rows`.
"""

from dataclasses import dataclass

import numpy as np

from sigmasight.risk.types import BoolArray, FloatArray, IntArray

__all__ = [
    "MaskedOlsResult",
    "OlsResult",
    "beta",
    "last_window_rows",
    "ols",
    "ols_masked",
]

_RANK_RTOL_FACTOR = 1e3
"""Round-off tolerance ``tol = factor * max(n, k) * eps``: the regressors are collinear
when a QR diagonal of the centred unit-norm design is below ``tol``; a series is
constant when its centred norm is below ``tol`` times its raw norm."""


@dataclass(frozen=True)
class OlsResult:
    """OLS-with-intercept results for ``n_series`` columns fitted on the same rows.

    Attributes
    ----------
    alpha : ndarray of shape (n_series,)
        Intercepts, in units of ``y`` per observation (daily alpha for daily returns).
    betas : ndarray of shape (n_series, k)
        Slopes, in units of ``y`` per unit of ``x``, natural sign.
    r2 : ndarray of shape (n_series,)
        Centred R²; NaN for a constant ``y`` column.
    resid_std : ndarray of shape (n_series,)
        Standard error of the regression, ``sqrt(SSR / (n_obs - k - 1))``.
    t_stats : ndarray of shape (n_series, k + 1)
        Classical t-statistics, intercept first, then one per regressor.
    n_obs : int
        Number of rows used (the same for every column).
    """

    alpha: FloatArray
    betas: FloatArray
    r2: FloatArray
    resid_std: FloatArray
    t_stats: FloatArray
    n_obs: int


@dataclass(frozen=True)
class MaskedOlsResult:
    """Per-column OLS-with-intercept results after listwise deletion.

    Same fields as :class:`OlsResult`, except that ``n_obs`` is per column. A column
    with fewer than ``min_obs`` usable rows (or whose usable rows make the regressors
    collinear) has NaN in every float field.

    Attributes
    ----------
    alpha : ndarray of shape (n_series,)
        Intercepts, in units of ``y`` per observation.
    betas : ndarray of shape (n_series, k)
        Slopes, in units of ``y`` per unit of ``x``.
    r2 : ndarray of shape (n_series,)
        Centred R².
    resid_std : ndarray of shape (n_series,)
        Standard error of the regression, ``sqrt(SSR / (n_obs - k - 1))``.
    t_stats : ndarray of shape (n_series, k + 1)
        Classical t-statistics, intercept first.
    n_obs : ndarray of shape (n_series,), dtype int64
        Usable rows per column (rows where that column of ``y`` and every regressor
        are non-NaN), reported even when the column is below ``min_obs``.
    fitted : ndarray of shape (n_series,), dtype bool
        True where the column was estimated (enough rows, regressors of full rank).
    """

    alpha: FloatArray
    betas: FloatArray
    r2: FloatArray
    resid_std: FloatArray
    t_stats: FloatArray
    n_obs: IntArray
    fitted: BoolArray


@dataclass(frozen=True)
class _Fit:
    alpha: FloatArray
    betas: FloatArray
    r2: FloatArray
    resid_std: FloatArray
    t_stats: FloatArray


def _as_2d(y: FloatArray, name: str) -> FloatArray:
    arr = np.asarray(y, dtype=np.float64)
    if arr.ndim == 1:
        return arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 1-D or 2-D, got shape {arr.shape}")
    return arr


def _check_shapes(y2: FloatArray, x2: FloatArray) -> None:
    if y2.shape[0] != x2.shape[0]:
        raise ValueError(f"y has {y2.shape[0]} rows but x has {x2.shape[0]}")
    if x2.shape[1] == 0:
        raise ValueError("x must have at least one regressor column")


def _solve_upper(r: FloatArray, b: FloatArray) -> FloatArray:
    """``R⁻¹ B`` for an upper-triangular, nonsingular ``R`` (k, k) and ``B`` (k, m), finite.

    Back substitution a row of ``B`` at a time, in the column order of LAPACK's reference
    ``dtrsm`` (the last unknown first, then removed from the rows above it). ``k`` is a
    handful of regressors and ``m`` up to thousands of series: scipy's ``solve_triangular``
    spent several milliseconds a call on that shape, this a few microseconds per row.
    """
    x = np.array(b, dtype=np.float64, copy=True)
    for j in range(r.shape[0] - 1, -1, -1):
        x[j] /= r[j, j]
        if j:
            x[:j] -= r[:j, j, None] * x[j]
    return x


def _fit(y: FloatArray, x: FloatArray, *, betas_only: bool = False) -> _Fit | None:
    """Fit all columns of finite ``y`` (n, m) on finite ``x`` (n, k), n > k + 1.

    Returns None when the regressors are collinear on these rows. ``betas_only`` stops
    after ``alpha`` and ``betas`` (computed as in a full fit, so to the same bits) and
    leaves ``r2``, ``resid_std`` and ``t_stats`` NaN: the residuals are most of the cost.
    """
    n, k = x.shape
    x_mean = x.mean(axis=0)
    y_mean = y.mean(axis=0)
    xc = x - x_mean
    yc = y - y_mean
    tol = _RANK_RTOL_FACTOR * max(n, k) * np.finfo(np.float64).eps
    scale = np.sqrt(np.einsum("ij,ij->j", xc, xc))
    if not np.all(scale > tol * np.sqrt(np.einsum("ij,ij->j", x, x))):
        return None  # a constant regressor (only centring round-off is left)
    q, r = np.linalg.qr(xc / scale)
    if not np.all(np.abs(np.diag(r)) > tol):
        return None

    qty = q.T @ yc  # (k, m)
    betas = _solve_upper(r, qty) / scale[:, None]
    alpha = y_mean - x_mean @ betas
    if betas_only:
        m = y.shape[1]
        return _Fit(
            alpha=alpha,
            betas=np.ascontiguousarray(betas.T),
            r2=np.full(m, np.nan),
            resid_std=np.full(m, np.nan),
            t_stats=np.full((m, k + 1), np.nan),
        )
    resid = yc - q @ qty
    ssr = np.einsum("ij,ij->j", resid, resid)
    sst = np.einsum("ij,ij->j", yc, yc)
    constant_y = sst <= tol**2 * np.einsum("ij,ij->j", y, y)
    dof = n - k - 1
    s2 = ssr / dof

    r_inv = _solve_upper(r, np.eye(k))
    # diag((X_c'X_c)^{-1}) and x̄'(X_c'X_c)^{-1}x̄ from R^{-1} of the unit-norm design.
    inv_diag = np.einsum("ij,ij->i", r_inv, r_inv) / scale**2
    lever = r_inv.T @ (x_mean / scale)
    var_alpha_unit = 1.0 / n + float(lever @ lever)

    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(constant_y, np.nan, 1.0 - ssr / sst)
        se_betas = np.sqrt(s2[:, None] * inv_diag[None, :])
        se_alpha = np.sqrt(s2 * var_alpha_unit)
        t_stats = np.empty((y.shape[1], k + 1))
        t_stats[:, 0] = alpha / se_alpha
        t_stats[:, 1:] = betas.T / se_betas
    return _Fit(
        alpha=alpha,
        betas=np.ascontiguousarray(betas.T),
        r2=r2,
        resid_std=np.sqrt(s2),
        t_stats=t_stats,
    )


def ols(y: FloatArray, x: FloatArray) -> OlsResult:
    r"""OLS with intercept of every column of ``y`` on the same regressors ``x``.

    One QR factorisation of the (centred, unit-norm) regressors serves all columns.
    Equals ``statsmodels.api.OLS(y[:, j], add_constant(x)).fit()`` for each ``j``
    (``params``, ``rsquared``, ``tvalues``, ``sqrt(scale)``).

    .. math:: y_{t,j} = \alpha_j + x_t \beta_j + \varepsilon_{t,j}

    Parameters
    ----------
    y : ndarray of shape (n_obs, n_series) or (n_obs,)
        Dependent series (e.g. simple daily returns of positions or portfolios).
        A 1-D ``y`` is treated as one series (``n_series = 1``).
    x : ndarray of shape (n_obs, k) or (n_obs,)
        Regressors (e.g. factor ETF returns, or ``Δy`` in percentage points); no
        constant column, the intercept is added here.

    Returns
    -------
    OlsResult
        ``alpha`` (n_series,), ``betas`` (n_series, k), ``r2`` (n_series,),
        ``resid_std`` (n_series,), ``t_stats`` (n_series, k + 1) with the intercept
        first, ``n_obs`` = n_obs.

    Raises
    ------
    ValueError
        If ``y`` or ``x`` contains NaN or infinity, the row counts differ,
        ``n_obs <= k + 1`` (no residual degree of freedom), or the regressors are
        collinear (or one is constant).
    """
    y2 = _as_2d(y, "y")
    x2 = _as_2d(x, "x")
    _check_shapes(y2, x2)
    n, k = x2.shape
    if not (np.isfinite(y2).all() and np.isfinite(x2).all()):
        raise ValueError("y and x must be finite (no NaN); use ols_masked for missing rows")
    if n <= k + 1:
        raise ValueError(f"need n_obs > k + 1 = {k + 1} rows, got {n}")
    fit = _fit(y2, x2)
    if fit is None:
        raise ValueError("regressors are collinear or constant on these rows")
    return OlsResult(
        alpha=fit.alpha,
        betas=fit.betas,
        r2=fit.r2,
        resid_std=fit.resid_std,
        t_stats=fit.t_stats,
        n_obs=n,
    )


def ols_masked(
    y: FloatArray, x: FloatArray, min_obs: int, *, betas_only: bool = False
) -> MaskedOlsResult:
    """OLS with intercept per column of ``y`` with listwise deletion of NaN rows.

    Column ``j`` uses the rows where ``y[:, j]`` and every regressor are non-NaN, so
    its result equals ``statsmodels.api.OLS(y[:, j], add_constant(x),
    missing="drop").fit()``. Columns with the same usable-row pattern (the common case:
    no NaN at all, or the same listing date) are solved together with one
    factorisation; the patterns are grouped exactly (bit-packed masks compared with
    ``np.unique``), so the number of solves equals the number of distinct patterns.

    Parameters
    ----------
    y : ndarray of shape (n_obs, n_series) or (n_obs,)
        Dependent series; NaN marks a missing observation of that series.
    x : ndarray of shape (n_obs, k) or (n_obs,)
        Regressors; a row with NaN in any regressor is dropped for every column.
    min_obs : int
        Minimum usable rows for a column to be estimated (e.g. ``ceil(0.8 * 150)``
        for the factor window). Values below ``k + 2`` are raised to ``k + 2`` (one
        residual degree of freedom is always required).
    betas_only : bool, default False
        Estimate only ``alpha`` and ``betas`` (the same values as a full fit) and leave
        ``r2``, ``resid_std`` and ``t_stats`` NaN: for callers that use the slopes only.

    Returns
    -------
    MaskedOlsResult
        Fields as :class:`OlsResult` with ``n_obs`` an int64 array of shape
        (n_series,) and a ``fitted`` flag; columns that were not estimated (too few
        rows, or collinear regressors on their rows) are NaN in every float field.

    Raises
    ------
    ValueError
        If ``min_obs < 1``, the row counts differ, or ``y`` / ``x`` contain infinity
        (infinity is a data error, not a missing value).
    """
    y2 = _as_2d(y, "y")
    x2 = _as_2d(x, "x")
    _check_shapes(y2, x2)
    if min_obs < 1:
        raise ValueError(f"min_obs must be >= 1, got {min_obs}")
    if np.isinf(y2).any() or np.isinf(x2).any():
        raise ValueError("y and x must not contain infinity")
    k = x2.shape[1]
    m = y2.shape[1]

    valid: BoolArray = ~np.isnan(y2) & ~np.isnan(x2).any(axis=1, keepdims=True)
    n_obs = valid.sum(axis=0).astype(np.int64)
    alpha = np.full(m, np.nan)
    betas = np.full((m, k), np.nan)
    r2 = np.full(m, np.nan)
    resid_std = np.full(m, np.nan)
    t_stats = np.full((m, k + 1), np.nan)
    fitted = np.zeros(m, dtype=np.bool_)

    eligible = np.flatnonzero(n_obs >= max(min_obs, k + 2))
    if m > 0 and eligible.size == m and valid.all():
        groups = [eligible]  # no NaN anywhere: one solve, no grouping cost
    elif eligible.size:
        # One key per column (its bit-packed mask); a dict groups equal keys, each group's
        # columns in ascending order (np.unique over the columns sorts the keys: slower).
        keys = np.ascontiguousarray(np.packbits(valid[:, eligible], axis=0).T)
        members: dict[bytes, list[int]] = {}
        for i, key in enumerate(keys):
            members.setdefault(key.tobytes(), []).append(i)
        groups = [eligible[np.array(part, dtype=np.intp)] for part in members.values()]
    else:
        groups = []
    for cols in groups:
        rows = valid[:, cols[0]]
        if not rows.all():
            fit = _fit(y2[np.ix_(rows, cols)], x2[rows], betas_only=betas_only)
        else:
            # Avoid copying the whole panel in the common no-NaN case.
            fit = _fit(y2 if cols.size == m else y2[:, cols], x2, betas_only=betas_only)
        if fit is None:
            continue
        alpha[cols] = fit.alpha
        betas[cols] = fit.betas
        r2[cols] = fit.r2
        resid_std[cols] = fit.resid_std
        t_stats[cols] = fit.t_stats
        fitted[cols] = True
    return MaskedOlsResult(
        alpha=alpha,
        betas=betas,
        r2=r2,
        resid_std=resid_std,
        t_stats=t_stats,
        n_obs=n_obs,
        fitted=fitted,
    )


def last_window_rows(valid: BoolArray, window: int) -> BoolArray:
    """Select, per column, its last ``window`` usable rows.

    For "the last 150 returns ending on T" regressions: row ``t`` of column ``j`` is
    selected when it is usable and at most ``window - 1`` usable rows of that column
    follow it. A column with fewer than ``window`` usable rows keeps all of them (the
    ``min_obs`` of :func:`ols_masked` then decides). Vectorised as a reversed
    cumulative count.

    Note that this counts *usable observations*, not calendar rows: a column with
    gaps reaches further back than ``window`` dates. For the convention "last
    ``window`` dates, listwise deletion inside, at least 0.8 x window rows", slice the
    last ``window`` rows instead and pass ``min_obs`` to :func:`ols_masked`.

    Parameters
    ----------
    valid : ndarray of shape (n_obs, n_series) or (n_obs,), dtype bool
        True where the row is usable for that column (typically
        ``~isnan(y) & ~isnan(x).any(axis=1)[:, None]``), rows in time order.
    window : int
        Number of most recent usable rows to keep, >= 1.

    Returns
    -------
    ndarray of the same shape as ``valid``, dtype bool
        True for the selected rows.

    Raises
    ------
    ValueError
        If ``window < 1`` or ``valid`` has more than two dimensions.
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    mask = np.asarray(valid, dtype=np.bool_)
    if mask.ndim not in (1, 2):
        raise ValueError(f"valid must be 1-D or 2-D, got shape {mask.shape}")
    from_end = np.cumsum(mask[::-1], axis=0, dtype=np.int64)[::-1]
    selected: BoolArray = mask & (from_end <= window)
    return selected


def beta(y: FloatArray, x: FloatArray) -> FloatArray:
    r"""Single-regressor OLS slope ``Cov(y, x) / Var(x)`` per column of ``y``.

    .. math:: \beta_j = \frac{\sum_t (x_t - \bar x_j)(y_{t,j} - \bar y_j)}
                             {\sum_t (x_t - \bar x_j)^2}

    Covariance and variance share the same ddof, so this is exactly the OLS slope
    with intercept (= ``statsmodels`` ``params[1]``, = ``empyrical.beta`` when ``x``
    has no NaN). Rows where ``y[:, j]`` or ``x`` is NaN are dropped for column ``j``
    (listwise, = statsmodels ``missing="drop"``); the means are taken over the same
    rows (two-pass, numerically stable).

    Parameters
    ----------
    y : ndarray of shape (n_obs, n_series) or (n_obs,)
        Dependent series (e.g. portfolio returns).
    x : ndarray of shape (n_obs,)
        The regressor (e.g. SPY returns, or ``Δy`` in percentage points).

    Returns
    -------
    ndarray of shape (n_series,)
        Slopes in units of ``y`` per unit of ``x`` (``n_series = 1`` for a 1-D
        ``y``); NaN where fewer than 2 rows remain or ``x`` is constant on them.

    Raises
    ------
    ValueError
        If ``x`` is not 1-D, the row counts differ, or either contains infinity.
    """
    y2 = _as_2d(y, "y")
    xv = np.asarray(x, dtype=np.float64)
    if xv.ndim != 1:
        raise ValueError(f"x must be 1-D, got shape {xv.shape}")
    if y2.shape[0] != xv.shape[0]:
        raise ValueError(f"y has {y2.shape[0]} rows but x has {xv.shape[0]}")
    if np.isinf(y2).any() or np.isinf(xv).any():
        raise ValueError("y and x must not contain infinity")
    valid = ~np.isnan(y2) & ~np.isnan(xv)[:, None]
    count = valid.sum(axis=0)
    xm = np.where(valid, xv[:, None], 0.0)
    ym = np.where(valid, y2, 0.0)
    tol = _RANK_RTOL_FACTOR * max(y2.shape[0], 1) * np.finfo(np.float64).eps
    with np.errstate(divide="ignore", invalid="ignore"):
        dx = np.where(valid, xm - xm.sum(axis=0) / count, 0.0)
        dy = np.where(valid, ym - ym.sum(axis=0) / count, 0.0)
        sxy = np.einsum("ij,ij->j", dx, dy)
        sxx = np.einsum("ij,ij->j", dx, dx)
        # A constant x leaves only centring round-off in sxx: treat it as zero.
        varies = sxx > tol**2 * np.einsum("ij,ij->j", xm, xm)
        slope: FloatArray = np.where((count >= 2) & varies, sxy / sxx, np.nan)
    return slope
