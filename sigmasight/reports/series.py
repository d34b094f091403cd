"""The return path behind the report's cumulative-return and drawdown chart (pure numpy).

The stored results hold the statistics of the book's return series (cumulative return,
maximum drawdown), not the series. The chart rebuilds it exactly as the risk engine built
it (RISK-CONVENTIONS C3/C4): adjusted closes forward-filled up to 5 sessions, simple returns,
weighted by today's stored position weights (exposure / NAV, options on their underlying),
a day undefined when any held asset has no return. Nothing here estimates a risk figure;
the last point of the path equals the stored ``performance.cumulative_return`` and its
deepest point the stored ``performance.max_drawdown`` (the tests check both).

Sign convention: returns are simple fractions; a drawdown is a negative fraction (-0.2 is
20 % below the running peak).
"""

import math
from collections.abc import Mapping, Sequence
from functools import lru_cache

import numpy as np

from sigmasight.documents import Position
from sigmasight.risk.engine import FFILL_LIMIT
from sigmasight.risk.returns import ffill_prices, simple_returns
from sigmasight.risk.types import FloatArray


def asset_weights(positions: Sequence[Position]) -> dict[str, float]:
    """Weights per asset from the document's ``positions`` (an option counts on its underlying).

    Positions whose weight is missing are left out, as the engine leaves them out.
    """
    weights: dict[str, float] = {}
    for position in positions:
        weight = position.weight
        if weight is None or not math.isfinite(weight):
            continue
        asset = position.underlying or position.symbol
        weights[asset] = weights.get(asset, 0.0) + float(weight)
    return weights


@lru_cache(maxsize=8)
def _columns(symbols: tuple[str, ...]) -> dict[str, int]:
    """Column of each symbol; cached, as a reports run passes the same panel for many books.

    Only read, never changed, by the callers.
    """
    return {s: i for i, s in enumerate(symbols)}


def book_returns(
    prices: FloatArray, symbols: Sequence[str], weights: Mapping[str, float]
) -> FloatArray:
    """Daily returns of a fixed-weight book over a price panel.

    Parameters
    ----------
    prices : ndarray of shape (n_dates, n_symbols)
        Adjusted closes, dates ascending, NaN where there is no bar.
    symbols : sequence of str, length n_symbols
        Column labels of ``prices``.
    weights : mapping of str to float
        Weight of each asset as a fraction of NAV; assets missing from ``symbols`` are
        ignored.

    Returns
    -------
    ndarray of shape (n_dates - 1,)
        ``sum_a w_a r_a,t``; NaN on a day when a held asset has no return.
    """
    index = _columns(symbols) if isinstance(symbols, tuple) else _columns(tuple(symbols))
    held = [(index[a], w) for a, w in weights.items() if a in index]
    n_returns = max(prices.shape[0] - 1, 0)
    if not held:
        return np.full(n_returns, np.nan)
    cols = [c for c, _ in held]
    w = np.array([x for _, x in held], dtype=np.float64)
    returns = simple_returns(ffill_prices(prices[:, cols], FFILL_LIMIT))
    return np.asarray(returns @ w, dtype=np.float64)


def wealth_and_drawdown(returns: FloatArray) -> tuple[FloatArray, FloatArray]:
    r"""Compounded wealth from 1 and the drawdown below its running peak.

    .. math:: W_0 = 1,\quad W_t = \prod_{s \le t}(1 + r_s),\quad D_t = W_t / \max(1, \max_{s \le t} W_s) - 1

    A NaN return counts as a flat day, as in ``sigmasight.risk.stats.max_drawdown``.

    Parameters
    ----------
    returns : ndarray of shape (n,)
        Daily simple returns.

    Returns
    -------
    tuple of two ndarrays of shape (n + 1,)
        Wealth (starting at 1.0) and drawdown (starting at 0.0, never positive).
    """
    growth = np.where(np.isnan(returns), 1.0, 1.0 + np.asarray(returns, dtype=np.float64))
    wealth = np.concatenate([[1.0], np.cumprod(growth)])
    peak = np.maximum.accumulate(np.maximum(wealth, 1.0))
    return wealth, wealth / peak - 1.0
