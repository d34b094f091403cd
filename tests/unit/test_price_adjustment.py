"""Prices in one basis from as-traded closes and actions (RISK-CONVENTIONS C19-C21).

The reference below walks every row and every action with plain Python floats, straight
from the definitions of C19 and C20; the code under test builds factor matrices.
"""

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pytest

from sigmasight.risk.adjustment import NO_ACTION, PanelActions, adjusted_window
from sigmasight.trading_calendar import sessions

DAYS = sessions(dt.date(2025, 1, 2), dt.date(2025, 3, 31))
ORD = np.array([d.toordinal() for d in DAYS], dtype=np.int64)
RNG = np.random.default_rng(7)


@dataclass(frozen=True)
class Act:
    col: int
    ex: dt.date
    split: bool
    value: float


def panel_actions(acts: list[Act], n_cols: int, older: dict[int, dt.date] | None = None):
    """``acts`` as PanelActions; ``older`` adds an earlier action date per column."""
    first = np.full(n_cols, NO_ACTION, dtype=np.int64)
    first_div = first.copy()
    for a in acts:
        first[a.col] = min(first[a.col], a.ex.toordinal())
        if not a.split:
            first_div[a.col] = min(first_div[a.col], a.ex.toordinal())
    for col, day in (older or {}).items():
        first[col] = min(first[col], day.toordinal())
    acts = sorted(acts, key=lambda a: (a.col, a.ex))
    return PanelActions(
        column=np.array([a.col for a in acts], dtype=np.int64),
        ex_day=np.array([a.ex.toordinal() for a in acts], dtype=np.int64),
        is_split=np.array([a.split for a in acts], dtype=bool),
        value=np.array([a.value for a in acts], dtype=np.float64),
        first_action=first,
        first_dividend=first_div,
    )


def reference(days, close, stored, acts, basis: dt.date):
    """C19/C20 row by row: every price before E times the action's factor."""
    out = np.array(stored, dtype=float)
    for col in range(close.shape[1]):
        mine = [a for a in acts if a.col == col and a.ex <= basis]
        if not mine:
            continue
        for t in range(len(days)):
            value = close[t, col]
            for a in mine:
                if not days[t] < a.ex:
                    continue
                if a.split:
                    value /= a.value
                    continue
                before = [
                    s for s in range(len(days)) if days[s] < a.ex and not np.isnan(close[s, col])
                ]
                p = close[before[-1], col]
                for s in mine:  # a split between that close and E puts P in E's shares
                    if s.split and days[before[-1]] < s.ex <= a.ex:
                        p /= s.value
                value *= (p - a.value) / p
            out[t, col] = value
    return out


def raw_panel(n_cols: int) -> np.ndarray:
    returns = RNG.normal(0.0005, 0.015, (len(DAYS), n_cols))
    return 50.0 * np.cumprod(1.0 + returns, axis=0)


def test_splits_and_dividends_match_the_row_by_row_reference():
    close = raw_panel(4)
    close[10:14, 2] = np.nan  # a gap just before column 2's dividend
    stored = close * 1.02  # a vendor series, ignored once a symbol has an action
    acts = [
        Act(0, DAYS[20], True, 4.0),
        Act(0, DAYS[40], False, 0.35),
        Act(1, DAYS[30], True, 0.1),
        Act(1, DAYS[30], False, 3.0),  # same-day split and dividend (per new share)
        Act(2, DAYS[14], False, 1.1),  # its last close before E is 5 rows back
        Act(3, DAYS[50], False, 0.2),  # after the basis date: ignored
    ]
    basis = DAYS[45]
    rows = ORD[:46]
    got = adjusted_window(rows, close[:46], stored[:46], panel_actions(acts, 4), basis.toordinal())
    want = reference(DAYS[:46], close[:46], stored[:46], acts, basis)
    np.testing.assert_allclose(got.prices, want, rtol=1e-13)
    assert np.array_equal(got.prices[:, 3], stored[:46, 3])  # no action yet: untouched
    assert got.total_return


def test_the_last_row_is_the_as_traded_close_and_no_split_makes_a_return():
    close = raw_panel(2)
    e = 25
    close[e:, 0] /= 4.0  # a 4-for-1 split: the as-traded close drops to a quarter
    close[e:, 1] *= 10.0  # 1-for-10 reverse
    acts = [Act(0, DAYS[e], True, 4.0), Act(1, DAYS[e], True, 0.1)]
    got = adjusted_window(ORD, close, close, panel_actions(acts, 2), ORD[-1]).prices
    assert np.array_equal(got[-1], close[-1])
    raw_move = close[e] / close[e - 1] - 1.0
    adjusted_move = got[e] / got[e - 1] - 1.0
    assert raw_move[0] < -0.7 and raw_move[1] > 8.0
    # The adjusted return is the market move the raw series would have had without the split.
    market = np.array([close[e, 0] * 4.0, close[e, 1] / 10.0]) / close[e - 1] - 1.0
    np.testing.assert_allclose(adjusted_move, market, rtol=1e-12)
    assert np.abs(adjusted_move).max() < 0.1


def test_a_dividend_return_is_the_price_move_plus_the_dividend_and_marks_total_return():
    close = raw_panel(1)
    e, d = 30, 2.5
    acts = [Act(0, DAYS[e], False, d)]
    got = adjusted_window(ORD, close, close, panel_actions(acts, 1), ORD[-1])
    p = close[e - 1, 0]
    assert got.prices[e, 0] / got.prices[e - 1, 0] - 1.0 == pytest.approx(
        close[e, 0] / (p - d) - 1.0, rel=1e-13
    )
    assert got.total_return
    assert got.dividend_factor.tolist() == [1.0]  # not going ex on the last date


def test_a_dividend_on_the_last_date_is_reported_for_the_options():
    close = raw_panel(2)
    d = 1.5
    acts = [Act(1, DAYS[-1], False, d)]
    got = adjusted_window(ORD, close, close, panel_actions(acts, 2), ORD[-1])
    p = close[-2, 1]
    assert got.dividend_factor.tolist() == [1.0, pytest.approx((p - d) / p, rel=1e-15)]
    # The previous price without the dividend, which an option holder sees.
    assert got.prices[-2, 1] / got.dividend_factor[1] == pytest.approx(p, rel=1e-15)


def test_a_symbol_without_an_action_up_to_the_date_keeps_the_stored_series_bit_for_bit():
    close = raw_panel(3)
    stored = close * np.array([1.0, 1.015, 0.97])  # vendor adjusted closes
    later = [Act(1, DAYS[-1] + dt.timedelta(days=3), True, 2.0)]  # after the basis date
    got = adjusted_window(ORD, close, stored, panel_actions(later, 3), ORD[-1])
    assert got.prices.tobytes() == stored.tobytes()
    assert not got.total_return
    # An action older than the window: the symbol is priced from its closes, unfactored.
    old = panel_actions([], 3, older={1: DAYS[0] - dt.timedelta(days=400)})
    prices = adjusted_window(ORD, close, stored, old, ORD[-1]).prices
    assert np.array_equal(prices[:, 1], close[:, 1])
    assert np.array_equal(prices[:, [0, 2]], stored[:, [0, 2]])


def test_returns_are_the_same_in_any_later_basis():
    """C21: a window ending on D, in D's basis or in a later one, has the same returns."""
    close = raw_panel(2)
    close[40:, 0] /= 3.0
    acts = [Act(0, DAYS[40], True, 3.0), Act(1, DAYS[45], False, 0.8)]
    actions = panel_actions(acts, 2)
    early = adjusted_window(ORD[:35], close[:35], close[:35], actions, ORD[34]).prices
    late = adjusted_window(ORD, close, close, actions, ORD[-1]).prices[:35]
    np.testing.assert_allclose(late[1:] / late[:-1], early[1:] / early[:-1], rtol=1e-13, atol=0.0)


def test_a_dividend_not_below_the_previous_close_leaves_the_earlier_prices_unknown():
    close = raw_panel(1)
    acts = [Act(0, DAYS[20], False, float(close[19, 0]) + 1.0)]
    got = adjusted_window(ORD, close, close, panel_actions(acts, 1), ORD[-1]).prices
    assert np.isnan(got[:20, 0]).all()
    assert np.array_equal(got[20:, 0], close[20:, 0])


def test_take_selects_and_renumbers_columns():
    acts = [Act(0, DAYS[3], True, 2.0), Act(2, DAYS[5], False, 0.1), Act(2, DAYS[1], True, 3.0)]
    actions = panel_actions(acts, 3)
    taken = actions.take(np.array([2, 1]))
    assert taken.column.tolist() == [0, 0]
    assert taken.ex_day.tolist() == [DAYS[1].toordinal(), DAYS[5].toordinal()]
    assert taken.is_split.tolist() == [True, False]
    assert taken.first_action.tolist() == [DAYS[1].toordinal(), NO_ACTION]
    assert taken.first_dividend.tolist() == [DAYS[5].toordinal(), NO_ACTION]
    assert PanelActions.empty(2).take(np.array([1])).column.size == 0
