"""VaR backtest (RISK-CONVENTIONS C30) against scipy and an independent Kupiec formula."""

import numpy as np
import pytest
from scipy.stats import chi2

from sigmasight.risk.backtest import backtest_block, basel_zone, kupiec


def reference_lr(n: int, x: int, p: float) -> float:
    """The contract's formula written out with numpy (log of the binomial likelihoods)."""
    null = np.log((1 - p) ** (n - x) * p**x)  # no underflow for n <= 250
    if x == 0:
        alt = 0.0
    elif x == n:
        alt = 0.0  # ln 1
    else:
        alt = (n - x) * np.log(1 - x / n) + x * np.log(x / n)
    return float(-2 * null + 2 * alt)


@pytest.mark.parametrize(
    ("n", "x", "p"),
    [
        (250, 0, 0.01),
        (250, 2, 0.01),
        (250, 12, 0.05),
        (120, 9, 0.05),
        (60, 60, 0.05),
        (250, 30, 0.01),
    ],
)
def test_kupiec_matches_the_formula_and_scipy(n, x, p):
    lr, p_value = kupiec(n, x, p)
    assert lr == pytest.approx(reference_lr(n, x, p), rel=1e-10, abs=1e-12)
    assert p_value == pytest.approx(1 - chi2.cdf(reference_lr(n, x, p), 1), rel=1e-9, abs=1e-15)


def test_the_basel_zones():
    assert [basel_zone(x) for x in (0, 4, 5, 9, 10, 30)] == [
        "green",
        "green",
        "yellow",
        "yellow",
        "red",
        "red",
    ]


def test_the_block_counts_exceptions_over_the_last_250_days():
    rng = np.random.default_rng(3)
    pnl = rng.normal(0, 1000, 300)
    var95 = np.full(300, 1645.0)
    var99 = np.full(300, 2326.0)
    days = list(zip(pnl.tolist(), var95.tolist(), var99.tolist(), strict=True))
    block, warning = backtest_block(days)
    assert warning is None and block is not None
    last = pnl[-250:]
    x95, x99 = int((-last > 1645.0).sum()), int((-last > 2326.0).sum())
    assert block["var_95"]["days"] == 250 and block["var_95"]["exceptions"] == x95
    assert block["var_99"]["exceptions"] == x99
    assert block["var_95"]["expected"] == pytest.approx(12.5)
    assert block["var_99"]["basel_zone"] == basel_zone(x99)
    assert block["var_99"]["kupiec_lr"] == pytest.approx(reference_lr(250, x99, 0.01), rel=1e-10)
    # A loss equal to the VaR is not an exception (strictly greater).
    edge, _ = backtest_block([(-1645.0, 1645.0, 2326.0)] * 60)
    assert edge is not None and edge["var_95"]["exceptions"] == 0
    assert edge["var_99"]["basel_zone"] is None  # only over exactly 250 days


def test_fewer_than_60_days_give_no_backtest_and_say_why():
    block, warning = backtest_block([(1.0, 2.0, 3.0)] * 59)
    assert block is None and warning is not None and "59 sessions" in warning
