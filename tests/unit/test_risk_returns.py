"""Price forward-fill (C3) and simple returns (C4) against hand values and pandas."""

import numpy as np
import pandas as pd
import pytest

from sigmasight.risk.returns import ffill_prices, gap_too_long, simple_returns

NAN = np.nan
RNG = np.random.default_rng(20240611)


def random_panel(n_dates: int = 120, n_assets: int = 12) -> np.ndarray:
    """Prices with random holes, leading NaNs (IPOs), long interior and trailing gaps."""
    steps = RNG.standard_t(4, size=(n_dates, n_assets)) * 0.01
    prices = 50.0 * np.exp(np.cumsum(steps, axis=0))
    prices[RNG.random(prices.shape) < 0.15] = NAN
    prices[:10, 1] = NAN  # IPO
    prices[:40, 2] = NAN  # IPO, then holes
    prices[30:37, 3] = NAN  # 7-day gap
    prices[50:56, 4] = NAN  # exactly 6
    prices[60:65, 5] = NAN  # exactly 5
    prices[-8:, 6] = NAN  # stale at the end
    prices[:, 7] = NAN  # never traded
    prices[70:100, 8] = NAN  # 30-day gap
    prices[:, 10] = 100.0  # constant, no NaN
    return prices


PANEL = random_panel()


# ---------------------------------------------------------------- ffill_prices


def test_ffill_golden_values():
    prices = np.array(
        [
            [NAN, 10.0, 1.0],
            [NAN, NAN, NAN],
            [5.0, NAN, NAN],
            [NAN, 11.0, NAN],
            [6.0, NAN, NAN],
            [NAN, NAN, NAN],
            [NAN, NAN, NAN],
            [NAN, NAN, NAN],
            [NAN, NAN, 2.0],
        ]
    )
    # column 0: leading NaNs stay; column 1: a 5-day gap is filled completely;
    # column 2: in a 7-day gap only the first 5 days are filled
    expected = np.array(
        [
            [NAN, 10.0, 1.0],
            [NAN, 10.0, 1.0],
            [5.0, 10.0, 1.0],
            [5.0, 11.0, 1.0],
            [6.0, 11.0, 1.0],
            [6.0, 11.0, 1.0],
            [6.0, 11.0, NAN],
            [6.0, 11.0, NAN],
            [6.0, 11.0, 2.0],
        ]
    )
    np.testing.assert_array_equal(ffill_prices(prices), expected)


@pytest.mark.parametrize("limit", [0, 1, 2, 5, 16, 17, 40])
def test_ffill_matches_pandas(limit):
    # limits up to 16 use shifted copies, larger ones the gather path: both must agree
    expected = PANEL if limit == 0 else pd.DataFrame(PANEL).ffill(limit=limit).to_numpy()
    np.testing.assert_array_equal(ffill_prices(PANEL, limit=limit), expected)


def test_ffill_default_limit_is_five():
    np.testing.assert_array_equal(
        ffill_prices(PANEL), pd.DataFrame(PANEL).ffill(limit=5).to_numpy()
    )


def test_ffill_keeps_1d_shape_and_input_untouched():
    prices = np.array([NAN, 1.0, NAN, NAN, 2.0, NAN])
    before = prices.copy()
    filled = ffill_prices(prices, limit=1)
    np.testing.assert_array_equal(filled, [NAN, 1.0, 1.0, NAN, 2.0, 2.0])
    np.testing.assert_array_equal(prices, before)
    assert ffill_prices(PANEL) is not PANEL


@pytest.mark.parametrize("shape", [(0, 3), (1, 3), (0,), (4, 0)])
def test_ffill_degenerate_shapes(shape):
    prices = np.full(shape, NAN)
    assert ffill_prices(prices).shape == shape


def test_ffill_without_nan_is_a_copy():
    prices = np.arange(12.0).reshape(4, 3) + 1.0
    filled = ffill_prices(prices)
    np.testing.assert_array_equal(filled, prices)
    filled[0, 0] = -1.0
    assert prices[0, 0] == 1.0


@pytest.mark.parametrize("limit", [-1, 2.5, True])
def test_ffill_rejects_bad_limit(limit):
    with pytest.raises(ValueError, match="limit"):
        ffill_prices(PANEL, limit=limit)
    with pytest.raises(ValueError, match="limit"):
        gap_too_long(PANEL, limit=limit)


def test_price_functions_reject_3d():
    cube = np.ones((3, 2, 2))
    for function in (ffill_prices, gap_too_long, simple_returns):
        with pytest.raises(ValueError, match="1-D or 2-D"):
            function(cube)


# ---------------------------------------------------------------- gap_too_long


def test_gap_too_long_flags_panel_columns():
    flags = gap_too_long(PANEL)
    assert flags.shape == (PANEL.shape[1],)
    assert flags.dtype == np.bool_
    assert flags[3]  # 7-day gap
    assert flags[4]  # 6-day gap
    assert flags[6]  # stale for 8 days at the end
    assert flags[8]  # 30-day gap
    assert not flags[7]  # never traded: not a gap
    assert not flags[10]


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        ([1.0, 2.0, 3.0], False),
        ([NAN, NAN, 1.0, 2.0], False),  # leading NaNs are not a gap
        ([1.0, *[NAN] * 5, 2.0], False),  # exactly limit
        ([1.0, *[NAN] * 6, 2.0], True),
        ([1.0, 2.0, *[NAN] * 6], True),  # trailing: stale price on T
        ([1.0, 2.0, *[NAN] * 5], False),
        ([*[NAN] * 20, 1.0], False),
        ([NAN, NAN], False),
        ([], False),
    ],
)
def test_gap_too_long_golden(column, expected):
    flag = gap_too_long(np.array(column, dtype=float))
    assert flag.shape == ()
    assert bool(flag) is expected
    assert bool(gap_too_long(np.array(column, dtype=float).reshape(-1, 1))[0]) is expected


@pytest.mark.parametrize("limit", [0, 1, 5, 20])
def test_gap_too_long_iff_fill_leaves_nan_after_first_price(limit):
    filled = ffill_prices(PANEL, limit=limit)
    started = np.cumsum(~np.isnan(PANEL), axis=0) > 0
    expected = (np.isnan(filled) & started).any(axis=0)
    np.testing.assert_array_equal(gap_too_long(PANEL, limit=limit), expected)


def test_gap_too_long_empty_panel():
    assert gap_too_long(np.empty((0, 4))).shape == (4,)
    assert not gap_too_long(np.empty((0, 4))).any()


# ---------------------------------------------------------------- simple_returns


def test_simple_returns_golden():
    prices = np.array([[100.0, NAN], [110.0, 20.0], [99.0, NAN], [NAN, 25.0], [99.0, 30.0]])
    expected = np.array([[0.1, NAN], [-0.1, NAN], [NAN, NAN], [NAN, 0.2]])
    np.testing.assert_allclose(simple_returns(prices), expected, rtol=1e-15, atol=0)


def test_simple_returns_match_pandas_pct_change():
    for panel in (PANEL, ffill_prices(PANEL)):
        expected = pd.DataFrame(panel).pct_change(fill_method=None).to_numpy()[1:]
        result = simple_returns(panel)
        assert result.shape == (panel.shape[0] - 1, panel.shape[1])
        np.testing.assert_array_equal(result, expected)


def test_c3_gap_day_returns_zero_and_next_day_carries_the_move():
    prices = np.array([100.0, NAN, NAN, 110.0])
    np.testing.assert_allclose(simple_returns(ffill_prices(prices)), [0.0, 0.0, 0.1], rtol=1e-15)


def test_simple_returns_1d_and_short_inputs():
    np.testing.assert_allclose(simple_returns(np.array([2.0, 3.0, 1.5])), [0.5, -0.5])
    assert simple_returns(np.array([5.0])).shape == (0,)
    assert simple_returns(np.empty((0, 3))).shape == (0, 3)
    assert simple_returns(np.ones((1, 3))).shape == (0, 3)


def test_simple_returns_zero_price_like_pandas_without_warning():
    prices = np.array([[0.0, 0.0], [1.0, 0.0]])
    expected = pd.DataFrame(prices).pct_change(fill_method=None).to_numpy()[1:]
    np.testing.assert_array_equal(simple_returns(prices), expected)  # inf and NaN
