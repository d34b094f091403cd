"""The ``sigmasight.risk/1`` document (FORMATS.md section 5) from engine results.

Pure: engine arrays in, JSON-able dicts out. A NaN becomes ``null``; the reason is in
``warnings``. The document is stored in two parts (the headline document, then positions and
correlations in their own tables) and joined again by :func:`assemble`.
"""

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from sigmasight.risk.engine import CONVENTIONS, CORR_MIN_OVERLAP, FACTOR_WINDOW, BookResults, Books
from sigmasight.risk.types import FloatArray

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


def headline(
    result: BookResults,
    p: int,
    *,
    external_id: str,
    as_of: dt.date,
    run_id: str,
    data_as_of: dt.date,
    factors: Sequence[str],
) -> dict[str, Any]:
    """Everything but ``positions`` and ``correlation`` for portfolio row ``p``."""
    nav = result.valuation["nav"][p]
    valuation = {
        key: num(result.valuation[key][p])
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
            "n_obs": int(block["n_obs"][p]),
            "ann_vol": num(block["ann_vol"][p]),
        }
        for key in RISK_KEYS:
            fraction = num(block[key][p])
            entry[key] = {
                "fraction": fraction,
                "currency": num(fraction * nav) if fraction is not None else None,
            }
        risk[label] = entry
    betas = result.factor_betas[p]
    fitted = not np.isnan(betas).any()
    stress = {
        name: {
            "return_impact": num(result.stress_linear[p, j] / nav) if nav else None,
            "pnl": num(result.stress_linear[p, j]),
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
            "pnl": num(result.valuation["daily_pnl"][p]),
            "return": num(result.valuation["daily_return"][p]),
        },
        "risk": risk,
        "beta_spy": {
            "full": num(result.beta_spy["full"][p]),
            "150d": num(result.beta_spy["150d"][p]),
        },
        "factor_exposures": {
            "window": FACTOR_WINDOW,
            "n_obs": int(result.factor_n_obs[p]),
            "betas": {f: num(b) if fitted else None for f, b in zip(factors, betas, strict=True)},
            "alpha_daily": num(result.factor_alpha[p]),
            "r2": num(result.factor_r2[p]),
        },
        "rate_sensitivity": {
            "series": "DGS10",
            "rate_beta_per_pp": num(result.rate["rate_beta_per_pp"][p]),
            "duration_years": num(result.rate["duration_years"][p]),
            "dv01": num(result.rate["dv01"][p]),
        },
        "performance": {key: num(values[p]) for key, values in result.performance.items()},
        "stress": stress,
        "warnings": list(result.warnings[p]),
    }
    if result.has_options[p]:
        document["stress_full_revaluation"] = {
            name: {
                "return_impact": num(result.stress_full[p, j] / nav) if nav else None,
                "pnl": num(result.stress_full[p, j]),
            }
            for j, name in enumerate(result.stress_names)
        }
    return document


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
    "warnings",
)


def assemble(
    head: dict[str, Any],
    positions: list[dict[str, Any]],
    correlation: dict[str, Any] | None,
    factors: Sequence[str] = (),
) -> dict[str, Any]:
    """Join the stored parts into the full document, keys in FORMATS.md order.

    ``factors`` restores the model order of the factor betas (JSONB sorts object keys).
    """
    parts = {
        **head,
        "positions": positions,
        "correlation": correlation
        or {"symbols": [], "matrix": [], "min_overlap": CORR_MIN_OVERLAP},
    }
    exposures = parts.get("factor_exposures")
    if isinstance(exposures, dict) and factors and isinstance(exposures.get("betas"), dict):
        betas = exposures["betas"]
        exposures["betas"] = {f: betas[f] for f in factors if f in betas} | betas
    ordered = {key: parts[key] for key in KEY_ORDER if key in parts}
    ordered.update({k: v for k, v in parts.items() if k not in ordered})
    return ordered


def finite_or_none(values: FloatArray) -> list[float | None]:
    """A float array as a JSON list (NaN -> None)."""
    return [num(v) for v in values]
