"""A small dated world for the history tests: prices, two books, flows, a trade, a history run.

Generated here (seeded), imported through the same functions the CLI uses, and computed by
the risk-history run steps (``plan_history``, ``run_history_date``, ``finish_history``) with
the run ledger, without Prefect. Small on purpose: a handful of symbols, 90 sessions of
prices, a history of 8 sessions.
"""

import datetime as dt
import json
import uuid
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from sigmasight.db import session_scope
from sigmasight.domain import CashFlowSpec, TradeSpec
from sigmasight.repositories import book_events
from sigmasight.repositories.reference import ChangeCounts
from sigmasight.runs import ledger
from sigmasight.runs import risk as risk_run
from sigmasight.runs.imports import import_bundle_file, import_prices_file
from sigmasight.settings import get_settings
from sigmasight.trading_calendar import sessions

LAST = dt.date(2025, 11, 25)
TODAY = LAST + dt.timedelta(days=1)
SESSIONS = tuple(sessions(LAST - dt.timedelta(days=200), LAST)[-90:])
#: The computed sessions; the books are dated two sessions before the first.
HISTORY = SESSIONS[-8:]
BOOK_DATE = SESSIONS[-10]
FACTORS = ("SPY", "VTV", "VUG", "MTUM", "QUAL", "IWM", "USMV")
STOCKS = ("AAPL", "MSFT", "JPM")
FLOWING = "FLOWS"  # the portfolio with external flows and a trade
PLAIN = "PLAIN"


def _weekend_after(day: dt.date) -> dt.date:
    """The first day after ``day`` that is not a session (a flow between two sessions)."""
    later = day + dt.timedelta(days=1)
    while later in SESSIONS:
        later += dt.timedelta(days=1)
    return later


#: External flows of FLOWING (C17), some on sessions, one between sessions.
FLOWS: tuple[tuple[dt.date, Decimal], ...] = (
    (HISTORY[0], Decimal("1000.00")),
    (HISTORY[2], Decimal("50000.00")),
    (_weekend_after(HISTORY[4]), Decimal("-20000.00")),
    (HISTORY[6], Decimal("-1234.56")),
)
TRADE_DAY = HISTORY[3]


def prices_frame(seed: int = 20251125) -> pd.DataFrame:
    """Long-format daily bars for the factor ETFs and the stocks."""
    rng = np.random.default_rng(seed)
    n = len(SESSIONS)
    market = rng.normal(0.0004, 0.01, n)
    rows = []
    for k, symbol in enumerate(FACTORS + STOCKS):
        beta = 0.7 + 0.1 * k
        returns = beta * market + rng.normal(0.0, 0.008, n)
        path = (50.0 + 20.0 * k) * np.cumprod(1.0 + returns)
        for day, adj in zip(SESSIONS, path, strict=True):
            close = round(float(adj), 4)
            rows.append(
                {
                    "symbol": symbol,
                    "date": day.isoformat(),
                    "open": close,
                    "high": round(close * 1.01, 4),
                    "low": round(close * 0.99, 4),
                    "close": close,
                    "volume": 1_000_000,
                }
            )
    return pd.DataFrame(rows)


def bundle() -> dict[str, object]:
    """Two books dated :data:`BOOK_DATE`."""
    return {
        "valuation_date": BOOK_DATE.isoformat(),
        "risk_free_rate": 0.04,
        "factor_etfs": {f: f for f in FACTORS},
        "securities": {
            **{s: {"asset_type": "stock", "sector": "Technology"} for s in STOCKS},
            **{f: {"asset_type": "etf"} for f in FACTORS},
        },
        "portfolios": [
            {
                "id": FLOWING,
                "name": "With flows and a trade",
                "owner": "flows@example.com",
                "cash": 20000.0,
                "positions": [
                    {"symbol": "AAPL", "quantity": 400},
                    {"symbol": "JPM", "quantity": -150},
                    {"symbol": "SPY", "quantity": 100},
                ],
            },
            {
                "id": PLAIN,
                "name": "Plain long-only",
                "owner": "plain@example.com",
                "cash": 5000.0,
                "positions": [
                    {"symbol": "MSFT", "quantity": 300},
                    {"symbol": "IWM", "quantity": 200},
                ],
            },
        ],
    }


def import_world(folder: Path) -> None:
    """Prices, books, FLOWING's external flows and one trade, as the CLI would store them."""
    prices = folder / "prices.csv"
    prices_frame().to_csv(prices, index=False)
    books = folder / "bundle.json"
    books.write_text(json.dumps(bundle()))
    import_prices_file(prices, today=TODAY)
    import_bundle_file(books, today=TODAY)
    with session_scope() as session:
        ids = book_events.portfolio_ids(session, [FLOWING])
        counts = ChangeCounts()
        book_events.upsert_cash_flows(
            session, [CashFlowSpec(FLOWING, day, amount) for day, amount in FLOWS], ids, counts
        )
        book_events.upsert_trades(
            session,
            [
                TradeSpec(
                    FLOWING, TRADE_DAY, "MSFT", Decimal(50), Decimal("101.25"), Decimal("1.50")
                )
            ],
            ids,
            counts,
        )


def run_history(first: dt.date = HISTORY[0], last: dt.date = HISTORY[-1]) -> uuid.UUID:
    """Compute every session of ``[first, last]`` with the risk-history run steps."""
    settings = get_settings()
    # The guard names the ledger row's own date, so the date guards taken inside (which
    # reconcile stale rows) see this run as alive.
    with ledger.run_guard("risk-history", last):
        run_id = ledger.open_run("risk-history", as_of=last, inputs={"from": first.isoformat()})
        try:
            plan = risk_run.plan_history(settings, first, last, run_id)
            for day in plan.dates:
                report = risk_run.run_history_date(settings, day, run_id)
                assert not report.errors, report.errors
            risk_run.finish_history(settings, run_id)
        finally:
            risk_run.release_history(run_id)
        ledger.close_run(run_id, "succeeded")
    return run_id
