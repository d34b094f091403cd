"""A small world with corporate actions on one ex-date ``E``: the risk tests' fixture data.

Three stocks act on ``E``: ``FOUR`` splits 4-for-1, ``TENTH`` does a 1-for-10 reverse split
and ``SPCL`` pays a special dividend. ``PLAIN`` has no action. Each stock follows an
economic path ``X``; its **as-traded** close is ``X`` before E and ``X / k`` (split) or
``X x f`` (dividend, ``f = (X_{E-1} - d) / X_{E-1}``) from E on, rounded to 4 decimals, so
the adjusted series moves like ``X`` and the raw one jumps on E.

Books dated before E (``PRE_LONG``, ``PRE_SHORT``, ``PRE_OPT``: each stock long, short,
and under a call) live through the actions; ``POST`` is a book dated E, already in
post-action shares. Bars go in with full precision through SQL; the actions are inserted
into ``corporate_action`` directly (their sources are another part of the system).
"""

import datetime as dt
import json
import warnings
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
from sqlalchemy import delete, insert, text

from models import CorporateAction, PriceBar
from sigmasight.db import session_scope
from sigmasight.runs import risk as risk_run
from sigmasight.runs.imports import import_bundle_file, import_rates_file
from sigmasight.settings import get_settings
from sigmasight.trading_calendar import sessions

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # py_vollib says "import vollib instead"
    from py_vollib.black_scholes_merton import black_scholes_merton

LAST = dt.date(2025, 10, 31)
SESSIONS = sessions(LAST - dt.timedelta(days=520), LAST)[-300:]
E = SESSIONS[-6]
BEFORE = SESSIONS[-7]
BOOK_PRE = SESSIONS[-20]
TODAY = LAST + dt.timedelta(days=3)
FACTORS = ("SPY", "VTV", "VUG", "MTUM", "QUAL", "IWM", "USMV")
STOCKS = ("FOUR", "TENTH", "SPCL", "PLAIN")
SPLITS = {"FOUR": 4.0, "TENTH": 0.1}
DIVIDEND = {"SPCL": 7.5}
RISK_FREE = 0.043
VOL = 0.3
EXPIRY = dt.date(2026, 3, 20)
START = {"FOUR": 400.0, "TENTH": 3.2, "SPCL": 60.0, "PLAIN": 80.0}


def close_on(frame: pd.DataFrame, day: dt.date, symbol: str) -> float:
    """One cell of a (date x symbol) frame."""
    return float(frame[symbol].to_dict()[day])


def economic_paths(seed: int = 5) -> pd.DataFrame:
    """``X`` per symbol (dates x symbols): what a holder's wealth follows, no action in it."""
    rng = np.random.default_rng(seed)
    n = len(SESSIONS)
    market = rng.normal(0.0004, 0.009, n)
    columns: dict[str, Any] = {}
    for i, symbol in enumerate((*FACTORS, *STOCKS)):
        beta = 1.0 if symbol == "SPY" else 0.6 + 0.08 * i
        noise = 0.0 if symbol == "SPY" else rng.normal(0.0, 0.012, n)
        r = beta * market + noise
        r[0] = 0.0
        columns[symbol] = START.get(symbol, 100.0 + 7 * i) * np.cumprod(1.0 + r)
    return pd.DataFrame(columns, index=pd.Index(SESSIONS, name="date"))


def raw_closes(paths: pd.DataFrame) -> pd.DataFrame:
    """The as-traded closes: the path, divided by k or times f from E on."""
    raw = paths.copy()
    on_or_after = raw.index >= E
    for symbol, k in SPLITS.items():
        raw.loc[on_or_after, symbol] = raw.loc[on_or_after, symbol] / k
    for symbol, d in DIVIDEND.items():
        before = close_on(paths, BEFORE, symbol)
        raw.loc[on_or_after, symbol] = raw.loc[on_or_after, symbol] * (before - d) / before
    return raw.round(4)


def adjusted_closes(raw: pd.DataFrame) -> pd.DataFrame:
    """The same closes already adjusted (C19, C20), as a vendor would deliver them."""
    adjusted = raw.copy()
    earlier = adjusted.index < E
    for symbol, k in SPLITS.items():
        adjusted.loc[earlier, symbol] = adjusted.loc[earlier, symbol] / k
    for symbol, d in DIVIDEND.items():
        p = close_on(raw, BEFORE, symbol)
        adjusted.loc[earlier, symbol] = adjusted.loc[earlier, symbol] * (1.0 - d / p)
    return adjusted


def store_bars(prices: pd.DataFrame, *, through: dt.date | None = None) -> None:
    """Replace the stored bars of ``prices``' symbols (close = adj_close, as vendors send)."""
    rows = [
        {
            "symbol": symbol,
            "price_date": day,
            "close": float(value),
            "adj_close": float(value),
            "source": "csv",
        }
        for day, row in prices.iterrows()
        if through is None or cast(dt.date, day) <= through
        for symbol, value in row.items()
    ]
    with session_scope() as session:
        session.execute(delete(PriceBar).where(PriceBar.symbol.in_(list(prices.columns))))
        session.execute(insert(PriceBar), rows)


def store_actions() -> None:
    """The three actions of E, straight into the table."""
    rows = [
        {"symbol": s, "ex_date": E, "kind": "split", "value": Decimal(str(k)), "source": "csv"}
        for s, k in SPLITS.items()
    ] + [
        {
            "symbol": s,
            "ex_date": E,
            "kind": "cash_dividend",
            "value": Decimal(str(d)),
            "source": "csv",
        }
        for s, d in DIVIDEND.items()
    ]
    with session_scope() as session:
        session.execute(insert(CorporateAction), rows)


def drop_actions() -> None:
    with session_scope() as session:
        session.execute(delete(CorporateAction))


def occ(symbol: str, strike: float) -> str:
    return f"O:{symbol}{EXPIRY:%y%m%d}C{round(strike * 1000):08d}"


def call(symbol: str, strike: float, contracts: int = 3) -> dict[str, Any]:
    return {
        "symbol": occ(symbol, strike),
        "quantity": contracts,
        "option": {
            "underlying": symbol,
            "type": "call",
            "strike": strike,
            "expiry": EXPIRY.isoformat(),
            "multiplier": 100,
            "implied_vol": VOL,
            "dividend_yield": 0.0,
        },
    }


def _portfolio(pid: str, cash: float, positions: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": pid,
        "name": pid,
        "owner": "actions@example.com",
        "cash": cash,
        "positions": positions,
    }


def _stock(symbol: str, quantity: float, cost: float) -> dict[str, Any]:
    return {"symbol": symbol, "quantity": quantity, "entry_price": cost}


STRIKES = {"FOUR": 400.0, "TENTH": 3.0, "SPCL": 60.0}


def bundles() -> dict[str, dict[str, Any]]:
    common: dict[str, Any] = {
        "risk_free_rate": RISK_FREE,
        "benchmark": "SPY",
        "factor_etfs": dict(zip(FACTORS, ("M", "V", "G", "Mo", "Q", "S", "L"), strict=True)),
        "securities": {s: {"asset_type": "stock", "sector": "Tech"} for s in STOCKS},
    }
    pre = [
        _portfolio(
            "PRE_LONG",
            50_000.0,
            [
                _stock("FOUR", 100, 380.0),
                _stock("TENTH", 5000, 3.1),
                _stock("SPCL", 300, 55.0),
                _stock("PLAIN", 100, 75.0),
            ],
        ),
        _portfolio(
            "PRE_SHORT",
            250_000.0,
            [
                _stock("FOUR", -100, 410.0),
                _stock("TENTH", -5000, 3.3),
                _stock("SPCL", -300, 62.0),
                _stock("PLAIN", 100, 75.0),
            ],
        ),
        _portfolio(
            "PRE_OPT",
            100_000.0,
            [*(call(s, k) for s, k in STRIKES.items()), _stock("PLAIN", 50, 75.0)],
        ),
    ]
    post = [
        _portfolio(
            "POST",
            100_000.0,
            [
                _stock("FOUR", 400, 95.0),
                _stock("TENTH", -500, 31.0),
                _stock("SPCL", 300, 50.0),
                _stock("PLAIN", 100, 75.0),
                call("FOUR", 100.0, 2),
            ],
        )
    ]
    return {
        "pre": {**common, "valuation_date": BOOK_PRE.isoformat(), "portfolios": pre},
        "post": {**common, "valuation_date": E.isoformat(), "portfolios": post},
    }


def load(folder: Path, *, actions: bool = True, through: dt.date | None = None) -> pd.DataFrame:
    """Import the world; returns the as-traded closes it stored."""
    raw = raw_closes(economic_paths())
    rates = pd.DataFrame(
        {
            "date": [d.isoformat() for d in SESSIONS],
            "value": np.round(4.1 + np.cumsum(np.full(len(SESSIONS), 0.002)), 3),
        }
    )
    rates.to_csv(folder / "rates.csv", index=False)
    import_rates_file(folder / "rates.csv", series="DGS10", today=TODAY)
    for name, content in bundles().items():
        path = folder / f"{name}.json"
        path.write_text(json.dumps(content))
        import_bundle_file(path, today=TODAY)
    store_bars(raw, through=through)
    if actions:
        store_actions()
    return raw


def book_on(pid: str, day: dt.date) -> tuple[float, dict[str, dict[str, Any]]]:
    """Cash and lines of a PRE_* book on ``day`` by C19/C20, from the bundle itself."""
    portfolio = next(p for p in bundles()["pre"]["portfolios"] if p["id"] == pid)
    cash = float(portfolio["cash"])
    lines: dict[str, dict[str, Any]] = {}
    for position in portfolio["positions"]:
        symbol, qty = position["symbol"], float(position["quantity"])
        option = position.get("option")
        if option is None:
            k = SPLITS.get(symbol, 1.0) if day >= E else 1.0
            if day >= E and symbol in DIVIDEND:
                cash += qty * DIVIDEND[symbol]  # a short pays it
            lines[symbol] = {"asset": symbol, "quantity": qty * k}
        else:
            under = option["underlying"]
            k = SPLITS.get(under, 1.0) if day >= E else 1.0
            lines[symbol] = {
                "asset": under,
                "quantity": qty,
                "multiplier": option["multiplier"] * k,
                "strike": option["strike"] / k,
            }
    return cash, lines


def value(lines: dict[str, dict[str, Any]], raw: pd.DataFrame, day: dt.date) -> dict[str, float]:
    """Market value per line: stocks at the as-traded close of ``day``, calls by BSM."""
    found = {}
    for symbol, line in lines.items():
        s = close_on(raw, day, line["asset"])
        if "strike" not in line:
            found[symbol] = line["quantity"] * s
            continue
        years = (EXPIRY - day).days / 365.0
        unit = black_scholes_merton("c", s, line["strike"], years, RISK_FREE, VOL, 0.0)
        found[symbol] = line["quantity"] * line["multiplier"] * unit
    return found


def adjusted_returns(raw: pd.DataFrame, day: dt.date) -> pd.DataFrame:
    """Simple returns up to ``day`` in ``day``'s basis (C19, C20), computed with pandas."""
    prices = raw.loc[:day].copy()
    if day >= E:
        prices = adjusted_closes(raw).loc[:day]
    return prices.pct_change().iloc[1:]


def documents(day: dt.date) -> dict[str, dict[str, Any]]:
    """The exported documents of ``day`` by portfolio, without their run ids."""
    found = {}
    for document in risk_run.export_documents(get_settings(), day):
        body = document.as_json()
        body.pop("run_id")
        found[document.portfolio_id] = body
    return found


def clear_results() -> None:
    with session_scope() as session:
        session.execute(
            text(
                "TRUNCATE portfolio_snapshot, position_risk, factor_exposure, "
                "correlation_result, stress_result"
            )
        )
