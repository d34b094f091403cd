r"""Prices in one basis from as-traded closes and corporate actions (RISK-CONVENTIONS C19-C21).

The stored close is the **as-traded** close; the series a risk date ``D`` uses is derived on
read, point in time, from the actions with ex-date ``E <= D`` (C14):

* a split of ratio ``k`` (new shares per old share) divides every price dated before ``E``
  by ``k``;
* a cash dividend ``d`` multiplies every price dated before ``E`` by
  ``(P - d) / P``, with ``P`` the last close before ``E`` in the split-adjusted basis of
  ``E`` (so ``d`` is the amount per share as traded on ``E``; a split on the same day, or
  between that close and ``E``, is applied to ``P`` first).

Factors multiply, so the last row (``D`` itself) is the as-traded close of ``D``: the price
positions are valued at, with the quantities held on ``D`` (C19). A window is adjusted as a
whole in the basis of its last date, so it never mixes two bases (C21).

A symbol with no action dated on or before ``D`` keeps its stored series as it is (the
vendor's adjusted close where one was imported, else the close), exactly as if no action
were known: a date before an action's ex-date computes as it did before the action arrived.

Dates are proleptic ordinals (:meth:`datetime.date.toordinal`). Prices are ``float64``
arrays of shape ``(n_dates, n_symbols)`` with NaN where there is no bar. Nothing here
reports a return or a loss measure.
"""

from dataclasses import dataclass

import numpy as np

from sigmasight.risk.types import BoolArray, FloatArray, IntArray

__all__ = ["NO_ACTION", "AdjustedWindow", "PanelActions", "adjusted_window"]

#: The ``first_*`` ordinal of a symbol with no action of that kind.
NO_ACTION = np.iinfo(np.int64).max


@dataclass(frozen=True)
class PanelActions:
    """Corporate actions of a panel's symbols (its columns), ordered by column then ex-date.

    Attributes
    ----------
    column : ndarray of shape (n_actions,)
        Column of the action's symbol.
    ex_day : ndarray of shape (n_actions,)
        Ex-date as a proleptic ordinal.
    is_split : ndarray of shape (n_actions,)
        True for a split, False for a cash dividend.
    value : ndarray of shape (n_actions,)
        Split ratio ``k``, or dividend amount ``d`` per share.
    first_action, first_dividend : ndarray of shape (n_columns,)
        Ex-date of each column's earliest action (of any kind; dividend), also counting
        actions older than ``column``/``ex_day`` hold; :data:`NO_ACTION` when none.
    """

    column: IntArray
    ex_day: IntArray
    is_split: BoolArray
    value: FloatArray
    first_action: IntArray
    first_dividend: IntArray

    @classmethod
    def empty(cls, n_columns: int) -> "PanelActions":
        """No action for any of ``n_columns`` columns."""
        none = np.full(n_columns, NO_ACTION, dtype=np.int64)
        return cls(
            column=np.empty(0, dtype=np.int64),
            ex_day=np.empty(0, dtype=np.int64),
            is_split=np.empty(0, dtype=bool),
            value=np.empty(0, dtype=np.float64),
            first_action=none,
            first_dividend=none.copy(),
        )

    def take(self, columns: IntArray) -> "PanelActions":
        """The actions of ``columns`` (in that order), renumbered ``0..len(columns)-1``."""
        cols = np.asarray(columns, dtype=np.int64)
        local = np.full(self.first_action.size, -1, dtype=np.int64)
        local[cols] = np.arange(cols.size)
        mapped = local[self.column] if self.column.size else self.column
        keep = mapped >= 0
        order = np.lexsort((self.ex_day[keep], mapped[keep]))
        return PanelActions(
            column=mapped[keep][order],
            ex_day=self.ex_day[keep][order],
            is_split=self.is_split[keep][order],
            value=self.value[keep][order],
            first_action=self.first_action[cols],
            first_dividend=self.first_dividend[cols],
        )


@dataclass(frozen=True)
class AdjustedWindow:
    """A price window in the basis of its last date.

    Attributes
    ----------
    prices : ndarray of shape (n_dates, n_symbols)
        The risk series: as-traded closes times the action factors (or the stored series
        of a symbol without actions).
    dividend_factor : ndarray of shape (n_symbols,)
        The dividend factors applied to the previous row's price for dividends going ex
        after it (on the last date); 1 where none. ``prices[-2] / dividend_factor`` is the
        previous price without them, which an option holder (who gets no dividend) sees.
    total_return : bool
        Whether any of the symbols has a dividend dated on or before the basis date
        (``price_basis`` ``total_return``; else ``split_only``).
    """

    prices: FloatArray
    dividend_factor: FloatArray
    total_return: bool


def adjusted_window(
    days: IntArray,
    close: FloatArray,
    stored: FloatArray,
    actions: PanelActions,
    basis_day: int,
) -> AdjustedWindow:
    r"""Adjust a price window to the basis of ``basis_day`` with the actions dated up to it.

    .. math:: P^{adj}_{t} = C_t \prod_{a:\ t < E_a \le D} f_a, \qquad
              f_a = 1/k_a \ \text{(split)}, \quad f_a = (P_a - d_a)/P_a \ \text{(dividend)}

    Parameters
    ----------
    days : ndarray of shape (n_dates,)
        The window's dates (ordinals), ascending.
    close : ndarray of shape (n_dates, n_symbols)
        As-traded closes; NaN where there is no bar.
    stored : ndarray of shape (n_dates, n_symbols)
        The stored risk series (vendor adjusted close, else close) for symbols without
        actions.
    actions : PanelActions
        The actions of these columns (see :meth:`PanelActions.take`).
    basis_day : int
        The date ``D`` (ordinal) whose basis the window is expressed in; actions dated after
        it are ignored.

    Returns
    -------
    AdjustedWindow
        The adjusted prices; a dividend whose ``P`` is not above ``d`` makes the prices
        before its ex-date NaN (unknown), never a made-up number.
    """
    close = np.asarray(close, dtype=np.float64)
    n_dates, n_sym = close.shape
    known = actions.first_action <= basis_day
    dividend_factor = np.ones(n_sym)
    total_return = bool((actions.first_dividend <= basis_day).any())
    if not known.any():
        return AdjustedWindow(np.asarray(stored, dtype=np.float64), dividend_factor, total_return)
    prices = np.array(stored, dtype=np.float64)
    prices[:, known] = close[:, known]
    # The actions that move a row: dated up to D and after the window's first date.
    sel = (actions.ex_day <= basis_day) & (actions.ex_day > (days[0] if n_dates else basis_day))
    if not sel.any():
        return AdjustedWindow(prices, dividend_factor, total_return)
    col = actions.column[sel]
    ex = actions.ex_day[sel]
    split = actions.is_split[sel]
    value = actions.value[sel]
    # Rows before row[a] (the first dated on or after E) take the action's factor.
    row = np.searchsorted(days, ex, side="left")
    factor = np.empty(col.size)
    factor[split] = 1.0 / value[split]
    dividend = ~split
    if dividend.any():
        factor[dividend] = _dividend_factors(
            days, close, col[dividend], ex[dividend], row[dividend], value[dividend],
            col[split], ex[split], value[split],
        )  # fmt: skip
    cols, inverse = np.unique(col, return_inverse=True)
    step = np.ones((n_dates + 1, cols.size))
    np.multiply.at(step, (row, inverse), factor)
    # cumulative[t] = product of step[r] for r > t: every action whose ex-row is after t.
    cumulative = np.cumprod(step[::-1], axis=0)[::-1][1:]
    prices[:, cols] = close[:, cols] * cumulative
    last_row = n_dates - 1
    today = dividend & (row >= last_row)
    if today.any():
        np.multiply.at(dividend_factor, col[today], factor[today])
    return AdjustedWindow(prices, dividend_factor, total_return)


def _dividend_factors(
    days: IntArray,
    close: FloatArray,
    col: IntArray,
    ex: IntArray,
    row: IntArray,
    amount: FloatArray,
    split_col: IntArray,
    split_ex: IntArray,
    split_ratio: FloatArray,
) -> FloatArray:
    """``(P - d) / P`` per dividend, ``P`` the last close before E in E's split basis."""
    has_bar = ~np.isnan(close[:, col])
    rows = np.arange(close.shape[0])[:, None]
    last_bar = np.maximum.accumulate(np.where(has_bar, rows, -1), axis=0)
    prev = np.where(row > 0, last_bar[np.maximum(row - 1, 0), np.arange(col.size)], -1)
    price = np.where(prev >= 0, close[np.maximum(prev, 0), col], np.nan)
    prev_day = np.where(prev >= 0, days[np.maximum(prev, 0)], np.iinfo(np.int64).max)
    # A split between that close and E (or on E) puts P in the shares d is paid on.
    for c, e, k in zip(split_col.tolist(), split_ex.tolist(), split_ratio.tolist(), strict=True):
        price = np.where((col == c) & (prev_day < e) & (e <= ex), price / k, price)
    with np.errstate(invalid="ignore"):
        factor = (price - amount) / price
    return np.where(factor > 0, factor, np.nan)
