"""The ``sigmasight.risk/1`` document (FORMATS.md sections 5 and 8) from engine results.

Pure: engine arrays in, JSON-able dicts out. A NaN becomes ``null``; the reason is in
``warnings``. The document is stored in two parts (the headline document, then positions and
correlations in their own tables) and joined again by :func:`assemble`. The per-position list
``decomposition.positions`` is position-level detail too: it is stored with the positions
(:class:`DecompositionRow`) and rebuilt by :func:`assemble`, while the rest of the
``decomposition`` block stays in the headline document.
"""

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from sigmasight.risk.decomposition import GroupSums
from sigmasight.risk.engine import CONVENTIONS, CORR_MIN_OVERLAP, FACTOR_WINDOW, BookResults, Books
from sigmasight.risk.types import TRADING_DAYS, FloatArray

SCHEMA = "sigmasight.risk/1"
RISK_KEYS = ("hist_var_95", "hist_var_99", "param_var_95", "param_var_99", "cvar_95", "cvar_99")
GREEK_KEYS = (
    "delta",
    "gamma",
    "vega_per_1pct_vol",
    "theta_per_calendar_day",
    "rho_per_1pct_rate",
    "delta_dollars",
    "gamma_shares_per_1usd",
    "vega_usd_per_1pct_vol",
    "theta_usd_per_calendar_day",
    "rho_usd_per_1pct_rate",
)


def num(value: float | np.floating[Any] | None) -> float | None:
    """A finite float, else None."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


class Lists:
    """A chunk's result arrays as Python lists, each converted once, on first use.

    A document reads one cell of dozens of arrays per portfolio; a numpy scalar per cell
    (and a ``float()`` of it) cost more than the rest of building the document. Lists of
    the same float64 values give the same numbers. Keep one per :class:`BookResults`.
    """

    def __init__(self) -> None:
        self._found: dict[int, tuple[Any, list[Any]]] = {}
        self._finite: dict[int, tuple[Any, list[float | None]]] = {}

    def __call__(self, array: Any) -> list[Any]:
        """``array.tolist()``, converted once (the array is kept, so its id stays its own)."""
        found = self._found.get(id(array))
        if found is None:
            found = (array, np.asarray(array).tolist())
            self._found[id(array)] = found
        return found[1]

    def finite(self, array: Any) -> list[float | None]:
        """:func:`num` of every value of a float array, converted once."""
        found = self._finite.get(id(array))
        if found is None:
            isfinite = math.isfinite
            found = (array, [float(v) if isfinite(v) else None for v in self(array)])
            self._finite[id(array)] = found
        return found[1]


def headline(
    result: BookResults,
    p: int,
    *,
    external_id: str,
    as_of: dt.date,
    run_id: str,
    data_as_of: dt.date,
    factors: Sequence[str],
    lists: Lists | None = None,
) -> dict[str, Any]:
    """Everything but ``positions``, ``correlation`` and ``decomposition.positions`` for row ``p``.

    ``lists`` holds the chunk's arrays as lists: pass the same one for every row of a chunk.
    """
    at = lists if lists is not None else Lists()
    nav = at(result.valuation["nav"])[p]
    valuation = {
        key: at.finite(result.valuation[key])[p]
        for key in (
            "nav",
            "cash",
            "long_mv",
            "short_mv",
            "stock_market_value",
            "option_market_value",
            "gross_exposure",
            "net_exposure",
            "gross_leverage",
            "net_leverage",
        )
    }
    risk: dict[str, Any] = {}
    for label, block in result.risk.items():
        entry: dict[str, Any] = {
            "n_obs": int(at(block["n_obs"])[p]),
            "ann_vol": at.finite(block["ann_vol"])[p],
        }
        for key in RISK_KEYS:
            fraction = at.finite(block[key])[p]
            entry[key] = {
                "fraction": fraction,
                "currency": num(fraction * nav) if fraction is not None else None,
            }
        risk[label] = entry
    betas = at(result.factor_betas)[p]
    fitted = not any(b != b for b in betas)  # no NaN
    linear = at(result.stress_linear)[p]
    stress = {
        name: {
            "return_impact": num(linear[j] / nav) if nav else None,
            "pnl": num(linear[j]),
        }
        for j, name in enumerate(result.stress_names)
    }
    document: dict[str, Any] = {
        "schema": SCHEMA,
        "portfolio_id": external_id,
        "as_of": as_of.isoformat(),
        "run_id": run_id,
        "data_as_of": data_as_of.isoformat(),
        "conventions": dict(CONVENTIONS),
        "valuation": valuation,
        "daily_pnl": {
            "pnl": at.finite(result.valuation["daily_pnl"])[p],
            "return": at.finite(result.valuation["daily_return"])[p],
        },
        "risk": risk,
        "beta_spy": {
            "full": at.finite(result.beta_spy["full"])[p],
            "150d": at.finite(result.beta_spy["150d"])[p],
        },
        "factor_exposures": {
            "window": FACTOR_WINDOW,
            "n_obs": int(at(result.factor_n_obs)[p]),
            "betas": {f: num(b) if fitted else None for f, b in zip(factors, betas, strict=True)},
            "alpha_daily": at.finite(result.factor_alpha)[p],
            "r2": at.finite(result.factor_r2)[p],
        },
        "rate_sensitivity": {
            "series": "DGS10",
            "rate_beta_per_pp": at.finite(result.rate["rate_beta_per_pp"])[p],
            "duration_years": at.finite(result.rate["duration_years"])[p],
            "dv01": at.finite(result.rate["dv01"])[p],
        },
        "performance": {key: at.finite(values)[p] for key, values in result.performance.items()},
        "stress": stress,
        # Its positions are stored with the positions (see assemble).
        "decomposition": decomposition_block(result, p, factors, at),
        "benchmark": benchmark_block(result, p, at),
        "warnings": list(result.warnings[p]),
    }
    if at(result.has_options)[p]:
        full = at(result.stress_full)[p]
        document["stress_full_revaluation"] = {
            name: {
                "return_impact": num(full[j] / nav) if nav else None,
                "pnl": num(full[j]),
            }
            for j, name in enumerate(result.stress_names)
        }
    return document


GROUP_KEYS = ("ctr_share", "param_var_95", "cvar_95")
DECOMPOSITION_KEY_ORDER = (
    "window",
    "n_obs",
    "sigma_daily",
    "positions",
    "by_underlying",
    "by_sector",
    "factor",
)


def _groups(groups: GroupSums, p: int, at: Lists) -> dict[str, dict[str, float | None]]:
    offsets = at(groups.offsets)
    lo, hi = int(offsets[p]), int(offsets[p + 1])
    share, param, cvar = (at.finite(groups.values[key])[lo:hi] for key in GROUP_KEYS)
    return {
        label: {"ctr_share": a, "param_var_95": b, "cvar_95": c}
        for label, a, b, c in zip(groups.labels[lo:hi], share, param, cvar, strict=True)
    }


def decomposition_block(
    result: BookResults, p: int, factors: Sequence[str], lists: Lists | None = None
) -> dict[str, Any] | None:
    """The ``decomposition`` block without its ``positions`` (None when not computable)."""
    at = lists if lists is not None else Lists()
    sigma = at.finite(result.decomposition["sigma_daily"])[p]
    if sigma is None:
        return None
    split = result.factor_split
    total = at.finite(split["total_variance"])[p]
    factor = (
        {
            "window": FACTOR_WINDOW,
            "total_variance": total,
            "systematic_variance": at.finite(split["systematic_variance"])[p],
            "specific_variance": at.finite(split["specific_variance"])[p],
            "contributions": {
                f: num(share)
                for f, share in zip(factors, at(result.factor_contributions)[p], strict=True)
            },
        }
        if total is not None
        else None
    )
    return {
        "window": "full",
        "n_obs": int(at(result.decomposition["n_obs"])[p]),
        "sigma_daily": sigma,
        "by_underlying": _groups(result.decomposition_groups["underlying"], p, at),
        "by_sector": _groups(result.decomposition_groups["sector"], p, at),
        "factor": factor,
    }


def benchmark_block(
    result: BookResults, p: int, lists: Lists | None = None
) -> dict[str, Any] | None:
    """The ``benchmark`` block (C27); None when the tracking error cannot be computed."""
    at = lists if lists is not None else Lists()
    tracking = at.finite(result.benchmark["tracking_error"])[p]
    if tracking is None:
        return None
    return {
        "symbol": result.benchmark_symbol,
        "tracking_error": tracking,
        "information_ratio": at.finite(result.benchmark["information_ratio"])[p],
        "active_beta": at.finite(result.benchmark["active_beta"])[p],
    }


class DecompositionRow(NamedTuple):
    """A position's stored decomposition figures (fractions of NAV, daily)."""

    symbol: str
    underlying: str
    weight: float | None
    mctr_daily: float | None
    ctr_daily: float | None
    param_var_95: float | None
    cvar_95: float | None


def decomposition_rows(
    result: BookResults, books: Books, rows: Sequence[int]
) -> list[DecompositionRow]:
    """The stored decomposition figures of the given position rows (engine order)."""
    figures = result.position_decomposition
    return [
        DecompositionRow(
            symbol=books.pos_symbol[i],
            underlying=books.pos_asset[i],
            weight=num(result.positions["weight"][i]),
            mctr_daily=num(figures["mctr_daily"][i]),
            ctr_daily=num(figures["ctr_daily"][i]),
            param_var_95=num(figures["param_var_95"][i]),
            cvar_95=num(figures["cvar_95"][i]),
        )
        for i in rows
    ]


def _amount(fraction: float | None, nav: float | None) -> dict[str, float | None]:
    currency = num(fraction * nav) if fraction is not None and nav is not None else None
    return {"fraction": fraction, "currency": currency}


def decomposition_entry(
    row: DecompositionRow, sigma_daily: float | None, nav: float | None
) -> dict[str, Any]:
    """One ``decomposition.positions`` entry from its stored figures (C22-C25)."""
    ctr = row.ctr_daily
    return {
        "symbol": row.symbol,
        "underlying": row.underlying,
        "weight": row.weight,
        "mctr_daily": row.mctr_daily,
        "ctr_daily": ctr,
        "ctr_annual": num(ctr * math.sqrt(TRADING_DAYS)) if ctr is not None else None,
        "ctr_share": num(ctr / sigma_daily) if ctr is not None and sigma_daily else None,
        "param_var_95": _amount(row.param_var_95, nav),
        "cvar_95": _amount(row.cvar_95, nav),
    }


def position_entries(
    result: BookResults, books: Books, rows: Sequence[int]
) -> list[dict[str, Any]]:
    """The ``positions`` list for the given position rows of one portfolio."""
    entries = []
    for i in rows:
        entry: dict[str, Any] = {
            "symbol": books.pos_symbol[i],
            "quantity": float(books.quantity[i]),
        }
        if books.is_option[i]:
            entry["underlying"] = books.pos_asset[i]
        for key in ("price", "market_value", "exposure", "weight"):
            entry[key] = num(result.positions[key][i])
        if books.is_option[i]:
            entry["greeks"] = {key: num(result.position_greeks[key][i]) for key in GREEK_KEYS}
        entries.append(entry)
    return entries


def correlation_block(symbols: list[str], matrix: list[list[float | None]]) -> dict[str, Any]:
    """The ``correlation`` block."""
    return {"symbols": symbols, "matrix": matrix, "min_overlap": CORR_MIN_OVERLAP}


#: Top-level keys in the order FORMATS.md shows them (JSONB storage does not keep order).
KEY_ORDER = (
    "schema",
    "portfolio_id",
    "as_of",
    "run_id",
    "data_as_of",
    "conventions",
    "price_basis",
    "valuation",
    "book",
    "positions",
    "daily_pnl",
    "history",
    "risk",
    "beta_spy",
    "factor_exposures",
    "rate_sensitivity",
    "performance",
    "stress",
    "stress_full_revaluation",
    "correlation",
    "decomposition",
    "benchmark",
    "attribution",
    "change",
    "backtest",
    "limits",
    "warnings",
)


def _in_order(values: dict[str, Any], order: Sequence[str]) -> dict[str, Any]:
    return {k: values[k] for k in order if k in values} | values


def assemble(
    head: dict[str, Any],
    positions: list[dict[str, Any]],
    correlation: dict[str, Any] | None,
    factors: Sequence[str] = (),
    decomposition: Sequence[DecompositionRow] = (),
) -> dict[str, Any]:
    """Join the stored parts into the full document, keys in FORMATS.md order.

    ``factors`` restores the model order of the factor betas and factor contributions
    (JSONB sorts object keys); ``decomposition`` holds the positions' stored decomposition
    figures, which become ``decomposition.positions`` when the document has that block.
    """
    parts = {
        **head,
        "positions": positions,
        "correlation": correlation
        or {"symbols": [], "matrix": [], "min_overlap": CORR_MIN_OVERLAP},
    }
    exposures = parts.get("factor_exposures")
    if isinstance(exposures, dict) and factors and isinstance(exposures.get("betas"), dict):
        exposures["betas"] = _in_order(exposures["betas"], factors)
    block = parts.get("decomposition")
    if isinstance(block, dict):
        block = dict(block)
        valuation = parts.get("valuation")
        nav = valuation.get("nav") if isinstance(valuation, dict) else None
        block["positions"] = [
            decomposition_entry(row, block.get("sigma_daily"), nav) for row in decomposition
        ]
        for key in ("by_underlying", "by_sector"):
            if isinstance(block.get(key), dict):
                block[key] = dict(sorted(block[key].items()))
        factor = block.get("factor")
        if isinstance(factor, dict) and isinstance(factor.get("contributions"), dict):
            block["factor"] = factor | {
                "contributions": _in_order(factor["contributions"], factors)
            }
        parts["decomposition"] = _in_order(block, DECOMPOSITION_KEY_ORDER)
    ordered = {key: parts[key] for key in KEY_ORDER if key in parts}
    ordered.update({k: v for k, v in parts.items() if k not in ordered})
    return ordered


def finite_or_none(values: FloatArray) -> list[float | None]:
    """A float array as a JSON list (NaN -> None)."""
    return [num(v) for v in values]
