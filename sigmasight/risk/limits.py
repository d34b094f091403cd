"""Risk limits (RISK-CONVENTIONS C31): the figure each limit bounds and its breach state.

A limit bounds one figure of a portfolio's document:

- ``hist_var_95_fraction``: ``risk.full.hist_var_95.fraction`` (a positive loss fraction);
- ``gross_leverage``, ``net_leverage``: ``valuation.gross_leverage`` / ``net_leverage``;
- ``beta_spy_150d``: ``beta_spy.150d``, bounded by a ``[min, max]`` range;
- ``max_position_weight``: the largest ``|sum of exposure| / NAV`` over the book's
  underlyings (an option adds its delta-equivalent exposure to its underlying's);
- ``worst_stress_fraction``: the largest loss of the linear ``stress`` scenarios as a
  positive fraction of NAV (0 when no scenario loses).

A single bound caps the figure's magnitude: ``|value| > bound`` is a breach (only
``net_leverage`` can be negative, for a net-short book). A range is a breach outside
``[min, max]``. A figure that cannot be computed is ``unknown``, never ``ok``. A breach is
``new`` when the limit was not in breach on the previous computed session (``new`` or
``continuing`` there), else ``continuing``; a limit in breach on the previous session that
is not in breach now is ``resolved``.

Pure: numbers and dicts in, JSON-able lists out.
"""

import math
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from sigmasight.risk.types import BoolArray, FloatArray, IntArray

#: Every limit key, in the order documents list them.
LIMIT_KEYS: Final = (
    "hist_var_95_fraction",
    "gross_leverage",
    "net_leverage",
    "beta_spy_150d",
    "max_position_weight",
    "worst_stress_fraction",
)
#: Limits given as a ``[min, max]`` range (any sign); the others are one bound >= 0.
RANGE_KEYS: Final = frozenset({"beta_spy_150d"})
STATUSES: Final = ("ok", "new", "continuing", "resolved", "unknown")
#: The statuses that mean "in breach on that session".
BREACH_STATUSES: Final = frozenset({"new", "continuing"})

#: Display rank of each status: breaches first, then unknown, resolved and ok.
SEVERITY: Final = {"new": 0, "continuing": 1, "unknown": 2, "resolved": 3, "ok": 4}

#: A single bound, or ``(min, max)`` for a range limit.
Bound = float | tuple[float, float]


def bound_problem(key: str, values: Sequence[float]) -> str | None:
    """Why ``values`` is not a valid bound of limit ``key`` (None when it is).

    A range limit takes two finite numbers with min <= max; any other limit one finite
    number >= 0.
    """
    if key not in LIMIT_KEYS:
        return f"unknown limit {key!r} (limits: {', '.join(LIMIT_KEYS)})"
    if not all(math.isfinite(v) for v in values):
        return "must be finite numbers" if key in RANGE_KEYS else "must be a finite number"
    if key in RANGE_KEYS:
        if len(values) != 2:
            return f"takes a range [min, max] of two numbers, got {len(values)}"
        low, high = values
        if low > high:
            return f"min {low:g} is above max {high:g}"
        return None
    if len(values) != 1:
        return f"takes one bound, got {len(values)} numbers"
    if values[0] < 0:
        return f"must be a number >= 0, got {values[0]:g}"
    return None


def make_bound(key: str, values: Sequence[float]) -> Bound:
    """The bound of ``key`` from checked ``values`` (raises ValueError when they are not valid)."""
    problem = bound_problem(key, values)
    if problem is not None:
        raise ValueError(f"{key}: {problem}")
    if key in RANGE_KEYS:
        return (float(values[0]), float(values[1]))
    return float(values[0])


def bound_json(bound: Bound) -> float | list[float]:
    """A bound as the document shows it: a number, or ``[min, max]``."""
    return list(bound) if isinstance(bound, tuple) else bound


@dataclass(frozen=True)
class LimitBook:
    """The limits in effect: defaults, and each portfolio's own (by internal portfolio id).

    A portfolio's own limit replaces the default of the same key.
    """

    defaults: Mapping[str, Bound] = field(default_factory=dict)
    own: Mapping[int, Mapping[str, Bound]] = field(default_factory=dict)

    def for_portfolio(self, portfolio_id: int) -> dict[str, Bound]:
        """The limits of one portfolio: the defaults overridden by its own."""
        return {**self.defaults, **self.own.get(portfolio_id, {})}


def severity(status: str) -> int:
    """A sort key that shows breaches first (new, continuing, unknown, resolved, ok)."""
    return SEVERITY.get(status, len(SEVERITY))


def breached(value: float, bound: Bound) -> bool:
    """Whether ``value`` is beyond ``bound`` (outside a range, or above a cap in magnitude)."""
    if isinstance(bound, tuple):
        return value < bound[0] or value > bound[1]
    return abs(value) > bound


def max_underlying_weight(
    weight: FloatArray,
    owner: IntArray,
    asset: Sequence[str],
    n_portfolios: int,
    nav_usable: BoolArray,
) -> FloatArray:
    """The largest ``|sum of weights|`` over each portfolio's underlyings.

    Parameters
    ----------
    weight : ndarray of shape (n_positions,)
        Exposure / NAV of each position (an option's delta-equivalent exposure).
    owner : ndarray of shape (n_positions,)
        The portfolio row of each position.
    asset : sequence of str, length n_positions
        Each position's underlying (the symbol itself for a stock or ETF).
    n_portfolios : int
        Number of portfolio rows.
    nav_usable : ndarray of shape (n_portfolios,)
        Whether the portfolio's NAV is finite and positive.

    Returns
    -------
    ndarray of shape (n_portfolios,)
        NaN when NAV is not usable or a position has no weight; 0 for a book without
        positions.
    """
    found = np.zeros(n_portfolios, dtype=np.float64)
    if len(asset):
        # A hash per position, not a sort of strings: this runs for every chunk.
        index: dict[str, int] = {}
        code = np.fromiter(
            (index.setdefault(a, len(index)) for a in asset), dtype=np.int64, count=len(asset)
        )
        key = owner.astype(np.int64) * len(index) + code
        groups, inverse = np.unique(key, return_inverse=True)
        sums = np.zeros(groups.size, dtype=np.float64)
        np.add.at(sums, inverse, weight)
        rows = groups // len(index)
        gap = np.isnan(sums)
        np.maximum.at(found, rows, np.where(gap, 0.0, np.abs(sums)))
        # One position without a weight makes its portfolio's figure unknown.
        found[rows[gap]] = np.nan
    return np.where(nav_usable, found, np.nan)


def _finite(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _at(document: Mapping[str, Any], *path: str) -> Any:
    node: Any = document
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def worst_stress_fraction(document: Mapping[str, Any]) -> float | None:
    """The largest linear stress loss / NAV (positive; 0 when no scenario loses).

    None when NAV is not positive, there is no scenario, or any scenario has no P&L (the
    largest loss is then not known).
    """
    nav = _finite(_at(document, "valuation", "nav"))
    stress = document.get("stress")
    if nav is None or nav <= 0 or not isinstance(stress, Mapping) or not stress:
        return None
    pnls = [_finite(_at(stress, name, "pnl")) for name in stress]
    if any(p is None for p in pnls):
        return None
    worst = min(p for p in pnls if p is not None)
    return max(0.0, -worst / nav)


def limit_figures(
    document: Mapping[str, Any], max_position_weight: float | None
) -> dict[str, float | None]:
    """Each limit's figure from a portfolio's document (``max_position_weight`` from the positions)."""
    return {
        "hist_var_95_fraction": _finite(_at(document, "risk", "full", "hist_var_95", "fraction")),
        "gross_leverage": _finite(_at(document, "valuation", "gross_leverage")),
        "net_leverage": _finite(_at(document, "valuation", "net_leverage")),
        "beta_spy_150d": _finite(_at(document, "beta_spy", "150d")),
        "max_position_weight": _finite(max_position_weight),
        "worst_stress_fraction": worst_stress_fraction(document),
    }


def limit_states(
    limits: Mapping[str, Bound],
    figures: Mapping[str, float | None],
    previous_breaches: Set[str],
) -> list[dict[str, Any]]:
    """The document's ``limits`` block: ``{limit, value, bound, status}`` per configured limit.

    ``previous_breaches`` are the limits in breach on the previous computed session.
    """
    states: list[dict[str, Any]] = []
    for key in LIMIT_KEYS:
        if key not in limits:
            continue
        bound = limits[key]
        value = figures.get(key)
        was = key in previous_breaches
        if value is None or not math.isfinite(value):
            status, value = "unknown", None
        elif breached(value, bound):
            status = "continuing" if was else "new"
        else:
            status = "resolved" if was else "ok"
        states.append({"limit": key, "value": value, "bound": bound_json(bound), "status": status})
    return states


def breaches_of(states: Sequence[Mapping[str, Any]] | None) -> frozenset[str]:
    """The limits in breach (``new`` or ``continuing``) in a stored ``limits`` block."""
    if not states:
        return frozenset()
    return frozenset(
        str(s["limit"])
        for s in states
        if isinstance(s, Mapping) and s.get("status") in BREACH_STATUSES and "limit" in s
    )
