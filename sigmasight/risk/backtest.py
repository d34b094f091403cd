"""VaR backtest (RISK-CONVENTIONS C30): exceptions, Kupiec's test and the Basel zone.

Over the last :data:`WINDOW` sessions that have both an actual P&L (C17) and the previous
session's stored historical VaR (currency, full window), day t is an exception when
``-pnl_t > VaR_{t-1}``. Kupiec's proportion-of-failures statistic for N days and x
exceptions at tail probability p is

    LR = -2 ln[(1 - p)^(N - x) p^x] + 2 ln[(1 - x/N)^(N - x) (x/N)^x]

(the second term is 0 when x = 0 and uses ln 1 for x = N), with p-value 1 - chi2_1.cdf(LR).
"""

from collections.abc import Sequence
from math import log
from typing import Any

from scipy.stats import chi2

WINDOW = 250
MIN_DAYS = 60
TAILS = {"var_95": 0.05, "var_99": 0.01}


def kupiec(days: int, exceptions: int, p: float) -> tuple[float, float]:
    """Kupiec's LR statistic and its chi-square(1) p-value."""
    n, x = days, exceptions
    null = (n - x) * log(1.0 - p) + x * log(p)
    observed = 0.0
    if 0 < x < n:
        rate = x / n
        observed = (n - x) * log(1.0 - rate) + x * log(rate)
    lr = max(-2.0 * null + 2.0 * observed, 0.0)
    return lr, float(chi2.sf(lr, 1))


def basel_zone(exceptions: int) -> str:
    """The Basel traffic light for 99 % VaR over 250 days: green 0-4, yellow 5-9, red 10+."""
    return "green" if exceptions <= 4 else "yellow" if exceptions <= 9 else "red"


def backtest_block(
    days: Sequence[tuple[float, float, float]],
) -> tuple[dict[str, Any] | None, str | None]:
    """The document's ``backtest`` block from (pnl_t, VaR95_{t-1}, VaR99_{t-1}) days, oldest first.

    Returns the block (None with fewer than :data:`MIN_DAYS` days) and a warning when None.
    """
    window = list(days)[-WINDOW:]
    if len(window) < MIN_DAYS:
        return None, (
            f"backtest: {len(window)} sessions with an actual P&L and the previous VaR "
            f"(needs {MIN_DAYS})"
        )
    block: dict[str, Any] = {"window": WINDOW}
    for column, (key, p) in enumerate(TAILS.items(), start=1):
        n = len(window)
        x = sum(1 for day in window if -day[0] > day[column])
        lr, p_value = kupiec(n, x, p)
        entry: dict[str, Any] = {
            "days": n,
            "exceptions": x,
            "expected": n * p,
            "kupiec_lr": lr,
            "p_value": p_value,
        }
        if key == "var_99":
            entry["basel_zone"] = basel_zone(x) if n == WINDOW else None
        block[key] = entry
    return block, None
