r"""Explaining risk: contributions of positions and factors, benchmark-relative risk.

Definitions are RISK-CONVENTIONS.md section 7 (C22-C27). Every function works on a whole
chunk of portfolios at once; per-position moments are one pass over the chunk's
portfolios, each gathering its positions' return rows once.

Notation: for portfolio ``p``, ``X`` holds the return columns of its positions on exactly
the rows where its series ``r_p`` is defined (an option's column is its underlying's
returns), ``w`` the weights (exposure / NAV), so ``r_p = X w``. Then, with ddof = 1,

.. math:: (\Sigma w)_i = \operatorname{cov}(X_i, r_p), \qquad
          \sigma_p^2 = w^\top \Sigma w = \sum_i w_i (\Sigma w)_i

so contributions are built from per-position moments against the portfolio series
(:func:`position_moments`) without forming any covariance matrix.

Sign convention: returns are simple fractions; loss measures (VaR, ES and their
components) are **positive** fractions of NAV, so a hedge has a negative component.
Volatility contributions keep their natural sign.
"""

from dataclasses import dataclass
from functools import cached_property
from math import sqrt
from statistics import NormalDist

import numpy as np

from sigmasight.risk import stats
from sigmasight.risk.types import TRADING_DAYS, BoolArray, FloatArray, IntArray

__all__ = [
    "ComponentRisk",
    "GroupSums",
    "PositionMoments",
    "active_risk",
    "component_risk",
    "factor_variance_split",
    "group_sums",
    "position_moments",
]


@dataclass(frozen=True)
class PositionMoments:
    """Moments of each position's return column on its portfolio's rows.

    Attributes
    ----------
    mean : ndarray of shape (n_positions,)
        ``mean_t X_{t,i}`` over the rows of ``r_p``.
    cov : ndarray of shape (n_positions,)
        ``cov(X_i, r_p)`` (ddof = 1), which is ``(Σ w)_i``.
    tail_mean : ndarray of shape (n_positions,)
        ``mean_{t∈T} X_{t,i}`` over the tail set ``T`` of C25.
    """

    mean: FloatArray
    cov: FloatArray
    tail_mean: FloatArray


def position_moments(
    returns: FloatArray,
    portfolio_returns: FloatArray,
    asset: IntArray,
    owner: IntArray,
    alpha: float,
) -> PositionMoments:
    r"""Mean, covariance with ``r_p`` and tail mean of every position's return column.

    The tail set of portfolio ``p`` is the ``k + 1`` rows with the lowest ``r_p``,
    ``k = ⌊(n - 1) α⌋`` (empyrical's estimator), ties by row order (a stable sort).

    Parameters
    ----------
    returns : ndarray of shape (n_rows, n_assets)
        Asset returns (NaN allowed outside the rows each portfolio uses).
    portfolio_returns : ndarray of shape (n_rows, n_portfolios)
        ``r_p``; NaN marks a row the portfolio does not use. On every row it uses, each
        of its positions' columns must be non-NaN (the engine makes ``r_p`` NaN there).
    asset : ndarray of shape (n_positions,)
        Column of ``returns`` for each position (its underlying for an option); -1 gives
        NaN moments.
    owner : ndarray of shape (n_positions,)
        Column of ``portfolio_returns`` owning each position.
    alpha : float
        Tail probability in (0, 1) for ``tail_mean``.

    Returns
    -------
    PositionMoments
        NaN where the portfolio has fewer than 2 rows.
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    port = np.asarray(portfolio_returns, dtype=np.float64)
    n_pos = asset.size
    valid = ~np.isnan(port)
    counts = valid.sum(axis=0)
    mean_p, _ = stats.mean_std(port)
    # Performance: one row per series (transposed, contiguous) makes the per-position
    # gathers below row copies, about twice as fast as gathering columns.
    centred = np.ascontiguousarray(np.where(valid, port - np.asarray(mean_p), 0.0).T)
    mask = np.ascontiguousarray(valid.T, dtype=np.float64)
    filled = np.ascontiguousarray(np.where(np.isnan(returns), 0.0, returns).T)

    enough = counts >= 2
    tail_last = np.where(enough, np.floor((counts - 1) * alpha), 0).astype(np.intp)
    depth = int(tail_last[enough].max()) + 1 if enough.any() else 0
    # np.argsort puts NaN last, so the first k + 1 rows of a column are its tail set.
    tail_rows = np.ascontiguousarray(np.argsort(port, axis=0, kind="stable")[:depth].T)

    mean = np.full(n_pos, np.nan)
    cov = np.full(n_pos, np.nan)
    tail_mean = np.full(n_pos, np.nan)
    usable = np.flatnonzero((asset >= 0) & enough[owner])
    own = owner[usable]
    order = np.argsort(own, kind="stable")  # the engine's rows are grouped already
    usable, own = usable[order], own[order]
    cuts = (np.flatnonzero(np.diff(own)) + 1).tolist()
    n_of, last_of = counts.tolist(), tail_last.tolist()
    # Performance: one portfolio at a time, its positions' rows gathered once and each
    # figure a matrix-vector product with the portfolio's own row (mask, centred returns):
    # about three times faster than gathering the portfolio's rows once per position.
    bounds = zip([0, *cuts], [*cuts, usable.size], strict=True) if usable.size else iter(())
    for start, stop in bounds:
        rows = usable[start:stop]
        p = int(own[start])
        x = filled[asset[rows]]
        n = n_of[p]
        mean[rows] = (x @ mask[p]) / n
        cov[rows] = (x @ centred[p]) / (n - 1)
        k = last_of[p] + 1
        tail_mean[rows] = x[:, tail_rows[p, :k]].sum(axis=1) / k
    return PositionMoments(mean=mean, cov=cov, tail_mean=tail_mean)


@dataclass(frozen=True)
class ComponentRisk:
    """Per-position contributions (C22-C25), fractions of NAV unless named otherwise.

    Attributes
    ----------
    mctr_daily : ndarray of shape (n_positions,)
        ``(Σ w)_i / σ_p``.
    ctr_daily : ndarray of shape (n_positions,)
        ``w_i · MCTR_i``; sums to ``σ_p`` (daily).
    param_var : ndarray of shape (n_positions,)
        Mean-inclusive component parametric VaR; sums to the portfolio's.
    cvar : ndarray of shape (n_positions,)
        Component historical ES (empyrical's tail set); sums to the portfolio's.
    """

    mctr_daily: FloatArray
    ctr_daily: FloatArray
    param_var: FloatArray
    cvar: FloatArray


def component_risk(
    moments: PositionMoments, weight: FloatArray, sigma: FloatArray, alpha: float
) -> ComponentRisk:
    r"""Marginal and component risk of each position.

    .. math:: \mathrm{MCTR}_i = \frac{(\Sigma w)_i}{\sigma_p}, \quad
              \mathrm{CTR}_i = w_i \mathrm{MCTR}_i, \quad
              \mathrm{cVaR}_i = -(w_i \mu_i + z_\alpha \mathrm{CTR}_i), \quad
              \mathrm{cES}_i = -w_i \operatorname{mean}_{t \in T} X_{t,i}

    Parameters
    ----------
    moments : PositionMoments
        From :func:`position_moments` with the same ``alpha``.
    weight : ndarray of shape (n_positions,)
        Exposure / NAV.
    sigma : ndarray of shape (n_positions,)
        Daily volatility ``σ_p`` of each position's portfolio; not positive gives NaN.
    alpha : float
        Tail probability in (0, 1).

    Returns
    -------
    ComponentRisk
    """
    z = NormalDist().inv_cdf(alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        mctr = np.where(sigma > 0, moments.cov / sigma, np.nan)
    ctr = weight * mctr
    return ComponentRisk(
        mctr_daily=mctr,
        ctr_daily=ctr,
        param_var=-(weight * moments.mean + z * ctr),
        cvar=-weight * moments.tail_mean,
    )


@dataclass(frozen=True)
class GroupSums:
    """Per-portfolio sums of position figures over a grouping, alphabetical per portfolio.

    Attributes
    ----------
    offsets : ndarray of shape (n_portfolios + 1,)
        The groups of portfolio ``p`` are rows ``offsets[p]:offsets[p + 1]``.
    names : tuple of str
        The distinct labels, sorted.
    codes : ndarray of shape (n_groups,)
        Each group's label as an index into ``names`` (``labels`` spells them out).
    values : dict of str to ndarray of shape (n_groups,)
        A NaN in any member makes the group's sum NaN.
    """

    offsets: IntArray
    names: tuple[str, ...]
    codes: IntArray
    values: dict[str, FloatArray]

    @cached_property
    def labels(self) -> tuple[str, ...]:
        """Each group's label (tuple of str, length n_groups)."""
        names = self.names
        return tuple([names[c] for c in self.codes.tolist()])


def group_sums(
    owner: IntArray, labels: tuple[str, ...], values: dict[str, FloatArray], n_portfolios: int
) -> GroupSums:
    """Sum ``values`` per (portfolio, label), vectorised over the chunk."""
    # Sorted distinct labels and each label's index among them (as np.unique of the labels
    # as str gives; a dict codes 50,000 labels several times faster than sorting them).
    names = np.array(sorted(set(labels)), dtype=str)
    index = {name: i for i, name in enumerate(names.tolist())}
    code = np.fromiter(map(index.__getitem__, labels), dtype=np.intp, count=len(labels))
    key = owner.astype(np.int64) * max(names.size, 1) + code
    groups, inverse = np.unique(key, return_inverse=True)
    group_owner = groups // max(names.size, 1)
    return GroupSums(
        offsets=np.searchsorted(group_owner, np.arange(n_portfolios + 1)).astype(np.int64),
        names=tuple(names.tolist()),
        codes=(groups % max(names.size, 1)).astype(np.int64),
        values={
            k: np.bincount(inverse, weights=v, minlength=groups.size).astype(np.float64)
            for k, v in values.items()
        },
    )


def factor_variance_split(
    portfolio_returns: FloatArray, factor_returns: FloatArray, rows: BoolArray, betas: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    r"""Total, systematic and per-factor variance of each portfolio on its regression rows (C26).

    .. math:: V = \operatorname{var}(r_p), \quad S = \beta^\top F \beta, \quad
              FC_k = \beta_k (F\beta)_k, \quad \sum_k FC_k = S

    ``F`` is the sample covariance (ddof = 1) of the factor returns on the portfolio's own
    rows, so ``S / V`` is the regression's R² when ``β`` was fitted on those rows.

    Parameters
    ----------
    portfolio_returns : ndarray of shape (n_rows, n_portfolios)
    factor_returns : ndarray of shape (n_rows, k)
    rows : ndarray of shape (n_rows, n_portfolios), bool
        The rows of each portfolio's factor regression.
    betas : ndarray of shape (n_portfolios, k)
        Raw OLS betas (NaN gives NaN).

    Returns
    -------
    total : ndarray of shape (n_portfolios,)
    systematic : ndarray of shape (n_portfolios,)
    contributions : ndarray of shape (n_portfolios, k)
        ``FC_k`` (variance, not yet a share).
    """
    used = rows.any(axis=1)
    m = rows[used].astype(np.float64)
    n = m.sum(axis=0)
    f = np.where(np.isnan(factor_returns[used]), 0.0, factor_returns[used])
    y = np.where(rows[used], portfolio_returns[used], 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        f_mean = (m.T @ f) / n[:, None]
        y_centred = (y - y.sum(axis=0) / n) * m
        f_centred = (f[:, None, :] - f_mean[None, :, :]) * m[:, :, None]
        fitted = np.einsum("tpk,pk->tp", f_centred, betas)
        total = np.einsum("tp,tp->p", y_centred, y_centred) / (n - 1)
        contributions = betas * np.einsum("tpk,tp->pk", f_centred, fitted) / (n - 1)[:, None]
    systematic = contributions.sum(axis=1)
    return total, systematic, contributions


def active_risk(
    portfolio_returns: FloatArray, benchmark_returns: FloatArray
) -> tuple[FloatArray, FloatArray]:
    r"""Tracking error and information ratio against a benchmark (C27).

    .. math:: a_t = r_{p,t} - r_{b,t}, \quad TE = \operatorname{std}(a)\sqrt{252}, \quad
              IR = \frac{\operatorname{mean}(a) \cdot 252}{TE}

    Parameters
    ----------
    portfolio_returns : ndarray of shape (n_rows, n_portfolios)
        NaN rows are dropped per portfolio.
    benchmark_returns : ndarray of shape (n_rows,)

    Returns
    -------
    tracking_error : ndarray of shape (n_portfolios,)
        Annualised, >= 0; NaN with fewer than 2 rows.
    information_ratio : ndarray of shape (n_portfolios,)
        NaN where the tracking error is NaN or 0.
    """
    active = (
        np.asarray(portfolio_returns, dtype=np.float64) - np.asarray(benchmark_returns)[:, None]
    )
    mean, std = stats.mean_std(active)
    tracking = np.asarray(std, dtype=np.float64) * sqrt(TRADING_DAYS)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(tracking > 0, np.asarray(mean) * TRADING_DAYS / tracking, np.nan)
    return tracking, ratio
