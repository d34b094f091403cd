r"""Pairwise-complete Pearson correlation of many return series, and correlation clusters.

Convention C13 (RISK-CONVENTIONS.md): Pearson correlation on **unfilled** simple
returns, pairwise-complete observations, NaN when the overlap is below 60 rows. The
result equals ``pandas.DataFrame.corr(method="pearson", min_periods=60)`` (absolute
1e-9) and ``scipy.stats.pearsonr`` on each pair after ``dropna``; the overlap counts are
returned alongside.

Implementation (vectorised, no loop over pairs): with ``M = isfinite(X)`` and
``X₀`` the data shifted by each column's own mean and zeroed where missing, every
pairwise sum is a masked matrix product, e.g. ``n_ij = (M'M)_ij``,
``Σx_i = (X₀'M)_ij``, ``Σx_i² = ((X₀∘X₀)'M)_ij``, ``Σx_i x_j = (X₀'X₀)_ij``. The shift
makes the one-pass formula ``Σxy − ΣxΣy/n`` numerically safe even for price-like
series with a large mean. Columns without missing values (the common case) take the
``np.corrcoef`` route, one symmetric product of the standardised data; only pairs that
involve an incomplete column (late listings, gaps) need the masked products, computed
in column blocks to bound memory.

Correlations are dimensionless in [-1, 1] (clipped against rounding) with their natural
sign.
"""

from collections.abc import Sequence

import numpy as np

from sigmasight.risk.types import BoolArray, FloatArray, IntArray

__all__ = ["clusters", "pairwise_corr"]

_ZERO_VAR_RTOL = 1e-11
"""A series counts as constant on a set of rows when its centred sum of squares is at
most this fraction of its (shifted) raw sum of squares, i.e. only rounding is left.
pandas returns NaN for a zero variance; this keeps rounding noise from producing a
spurious correlation instead."""

_BLOCK = 256
"""Incomplete columns processed per block of masked products (memory ~ 6 x n_assets x
_BLOCK floats)."""


def pairwise_corr(returns: FloatArray, min_periods: int = 60) -> tuple[FloatArray, IntArray]:
    r"""Pearson correlation matrix from pairwise-complete observations.

    For each pair ``(i, j)`` the rows where both columns are finite are used:

    .. math:: \rho_{ij} = \frac{\sum (x_i - \bar x_i)(x_j - \bar x_j)}
                               {\sqrt{\sum (x_i - \bar x_i)^2 \sum (x_j - \bar x_j)^2}}

    with the means taken over that overlap (pandas ``DataFrame.corr`` semantics; NaN
    and ±inf are both treated as missing, as pandas does).

    Parameters
    ----------
    returns : ndarray of shape (n_obs, n_assets)
        Unfilled simple returns (fractions), rows in time order; NaN where an asset
        has no return (before listing, gaps).
    min_periods : int, default=60
        Minimum overlap for a finite correlation, >= 1.

    Returns
    -------
    corr : ndarray of shape (n_assets, n_assets)
        Symmetric correlations in [-1, 1]. NaN where the overlap is below
        ``min_periods`` or either series is constant on the overlap. The diagonal is
        1.0 where the column has at least ``min_periods`` observations and is not
        constant, else NaN (as pandas).
    counts : ndarray of shape (n_assets, n_assets), dtype int64
        Overlap counts ``n_ij`` (rows where both are finite); the diagonal holds each
        column's own count.

    Raises
    ------
    ValueError
        If ``returns`` is not 2-D or ``min_periods < 1``.
    """
    x = np.asarray(returns, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"returns must be 2-D (n_obs, n_assets), got shape {x.shape}")
    if min_periods < 1:
        raise ValueError(f"min_periods must be >= 1, got {min_periods}")
    n_obs, n_assets = x.shape

    mask = np.isfinite(x)
    count = mask.sum(axis=0, dtype=np.int64)
    x0 = np.where(mask, x, 0.0)
    mean = np.divide(x0.sum(axis=0), count, out=np.zeros(n_assets), where=count > 0)
    x0 -= mean
    x0[~mask] = 0.0
    sx = x0.sum(axis=0)
    sxx = np.einsum("ij,ij->j", x0, x0)
    own_var = sxx - np.divide(sx * sx, count, out=np.zeros(n_assets), where=count > 0)
    own_ok = (count >= min_periods) & (own_var > _ZERO_VAR_RTOL * sxx)

    complete = count == n_obs
    incomplete = np.flatnonzero(~complete)

    if complete.any():
        ok_complete = own_ok & complete
        inv_sd = np.zeros(n_assets)
        np.divide(
            1.0,
            np.sqrt(own_var, where=ok_complete, out=np.ones(n_assets)),
            out=inv_sd,
            where=ok_complete,
        )
        z = x0 * inv_sd
        # Symmetric product (BLAS syrk): the np.corrcoef route for complete columns.
        # The residual column sums after mean-shifting are ~eps * mean, so the
        # Σx Σy / n correction is below rounding and is omitted here.
        corr = z.T @ z
        dead = complete & ~own_ok
        corr[dead, :] = np.nan
        corr[:, dead] = np.nan
    else:
        corr = np.empty((n_assets, n_assets))
    counts = np.minimum.outer(count, count)

    if incomplete.size:
        _fill_incomplete(corr, counts, x0, mask, incomplete, complete, min_periods)

    np.fill_diagonal(corr, np.where(own_ok, 1.0, np.nan))
    np.clip(corr, -1.0, 1.0, out=corr)
    return corr, counts


def _fill_incomplete(
    corr: FloatArray,
    counts: IntArray,
    x0: FloatArray,
    mask: BoolArray,
    incomplete: IntArray,
    complete: BoolArray,
    min_periods: int,
) -> None:
    """Overwrite every row and column of ``corr``/``counts`` for incomplete columns.

    Columns are reordered incomplete-first, so block ``[p0, p1)`` only needs the rows
    from ``p0`` on (earlier pairs were filled by earlier blocks): about half the work
    when every column is incomplete.
    """
    order = np.concatenate([incomplete, np.flatnonzero(complete)])
    xp = x0[:, order]
    mp = mask[:, order].astype(np.float64)
    xp2 = xp * xp
    for p0 in range(0, incomplete.size, _BLOCK):
        p1 = min(p0 + _BLOCK, incomplete.size)
        width = p1 - p0
        xj = xp[:, p0:p1]
        mj = mp[:, p0:p1]
        # Sums over the overlap of (row asset i, column asset j), i from p0 on.
        left = mp[:, p0:].T @ np.hstack([mj, xj, xj * xj])
        n_ij, sx_j, sxx_j = left[:, :width], left[:, width : 2 * width], left[:, 2 * width :]
        right = xp[:, p0:].T @ np.hstack([mj, xj])
        sx_i, sxy = right[:, :width], right[:, width:]
        sxx_i = xp2[:, p0:].T @ mj
        with np.errstate(divide="ignore", invalid="ignore"):
            cov = sxy - sx_i * sx_j / n_ij
            var_i = sxx_i - sx_i * sx_i / n_ij
            var_j = sxx_j - sx_j * sx_j / n_ij
            block = cov / np.sqrt(var_i * var_j)
        bad = (
            (n_ij < min_periods)
            | ~(var_i > _ZERO_VAR_RTOL * sxx_i)
            | ~(var_j > _ZERO_VAR_RTOL * sxx_j)
        )
        block[bad] = np.nan
        square = block[:width]
        square[...] = np.triu(square) + np.triu(square, 1).T
        rows = order[p0:]
        cols = order[p0:p1]
        n_int = np.rint(n_ij).astype(np.int64)
        corr[np.ix_(rows, cols)] = block
        corr[np.ix_(cols, rows)] = block.T
        counts[np.ix_(rows, cols)] = n_int
        counts[np.ix_(cols, rows)] = n_int.T


def clusters(corr: FloatArray, labels: Sequence[str], threshold: float = 0.7) -> list[list[str]]:
    """Groups of assets linked by strong correlation (single-linkage components).

    Builds the undirected graph with an edge between ``i != j`` when
    ``|corr[i, j]| >= threshold`` (NaN is no edge) and returns its connected
    components. This is single linkage: two assets share a cluster when a *chain* of
    strong correlations joins them, even if their own correlation is weak; it is
    deterministic, needs no cluster count and flags concentration through chains of
    substitutes (for example several semiconductor names). Negative correlations count
    by magnitude (a strong hedge links too).

    Parameters
    ----------
    corr : ndarray of shape (n_assets, n_assets)
        Correlation matrix (e.g. from :func:`pairwise_corr`); an asymmetric input is
        treated as undirected (an edge in either triangle links).
    labels : sequence of str, length n_assets
        Asset names, in the order of ``corr``'s rows.
    threshold : float, default=0.7
        Minimum absolute correlation for an edge, in [0, 1].

    Returns
    -------
    list of list of str
        Components with at least 2 members; each sorted by name, the list sorted by
        size (largest first), then by the members' names.

    Raises
    ------
    ValueError
        If ``corr`` is not square, ``labels`` has the wrong length, or ``threshold``
        is outside [0, 1].
    """
    c = np.asarray(corr, dtype=np.float64)
    if c.ndim != 2 or c.shape[0] != c.shape[1]:
        raise ValueError(f"corr must be a square matrix, got shape {c.shape}")
    if len(labels) != c.shape[0]:
        raise ValueError(f"got {len(labels)} labels for a {c.shape[0]} x {c.shape[0]} matrix")
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    with np.errstate(invalid="ignore"):
        adjacency = np.abs(c) >= threshold
    np.fill_diagonal(adjacency, False)
    # Union-find over the edges: a portfolio's matrix has few strong pairs, and a sparse
    # graph per portfolio cost more in set-up than the search itself.
    first, second = np.nonzero(adjacency | adjacency.T)
    parent = list(range(c.shape[0]))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(first.tolist(), second.tolist(), strict=True):
        a, b = root(i), root(j)
        if a != b:
            parent[max(a, b)] = min(a, b)
    found: dict[int, list[str]] = {}
    for i in sorted({*first.tolist()}):
        found.setdefault(root(i), []).append(labels[i])
    groups = [sorted(members) for members in found.values() if len(members) >= 2]
    groups.sort(key=lambda members: (-len(members), members))
    return groups
