"""A small world with a history: generated prices, dated books, trades and cash flows.

Used by the history tests. Everything is written through the real importers and
repositories into the test's PostgreSQL. The range ``RANGE`` holds book changes (a second
dated book mid-range, a portfolio whose first book starts mid-range), trades (adding,
trimming, opening, crossing zero), external flows (one on a weekend), an NYSE holiday
(Thanksgiving 2025-11-27), limits (C31): defaults, and portfolios' own limits that
override them, with bounds the generated figures cross during the range, so limits go
new, continuing, resolved and ok; and two corporate actions: NVDA splits 4-for-1 on
2025-12-03 (held long by HIST_A, short by HIST_C) and SPY pays a dividend on 2025-12-04
(held by HIST_B and HIST_C, which also holds calls on it). The stored closes are as traded:
NVDA's drop to a quarter on its ex-date and SPY's by the dividend are in the file, and the
actions go straight into ``corporate_action``.
"""

import datetime as dt
import json
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.dialects.postgresql import insert

from models import CorporateAction
from sigmasight.db import session_scope
from sigmasight.domain import ActionSpec, CashFlowSpec, OptionSpec, TradeSpec
from sigmasight.repositories import book_events
from sigmasight.repositories.reference import ChangeCounts
from sigmasight.runs import ledger
from sigmasight.runs import risk as risk_run
from sigmasight.runs.imports import import_bundle_file, import_prices_file, import_rates_file
from sigmasight.settings import get_settings
from sigmasight.trading_calendar import sessions

LAST = dt.date(2025, 12, 5)
FIRST = dt.date(2025, 11, 20)
HOLIDAY = dt.date(2025, 11, 27)
RANGE = sessions(FIRST, LAST)
ALL_SESSIONS = sessions(LAST - dt.timedelta(days=520), LAST)[-330:]
TODAY = LAST + dt.timedelta(days=3)
FACTORS = ("SPY", "VTV", "VUG", "MTUM", "QUAL", "IWM", "USMV")
STOCKS = ("AAPL", "MSFT", "JPM", "XOM", "NVDA")
CALL = "O:SPY260320C00600000"

BOOK_1 = dt.date(2025, 11, 19)  # before the range
BOOK_2 = dt.date(2025, 12, 1)  # mid-range: replaces BOOK_1 for HIST_A
LATE_BOOK = dt.date(2025, 11, 24)  # HIST_B's first book: no results before it

TRADES = (
    TradeSpec("HIST_A", dt.date(2025, 11, 21), "AAPL", Decimal(50), Decimal("231.5"), Decimal(1)),
    TradeSpec("HIST_A", dt.date(2025, 11, 25), "MSFT", Decimal(-40), Decimal("433.1"), Decimal(1)),
    TradeSpec("HIST_A", dt.date(2025, 11, 26), "NVDA", Decimal(100), Decimal("151.2")),
    TradeSpec("HIST_A", dt.date(2025, 12, 3), "XOM", Decimal(-150), Decimal("118.4"), Decimal(2)),
    TradeSpec("HIST_A", dt.date(2025, 12, 3), "JPM", Decimal(30), Decimal("245.0"), trade_id="T-9"),
    TradeSpec("HIST_B", dt.date(2025, 11, 28), "JPM", Decimal(-20), Decimal("244.0")),
    TradeSpec(
        "HIST_C",
        dt.date(2025, 12, 2),
        CALL,
        Decimal(2),
        Decimal("14.5"),
        option=OptionSpec("SPY", "call", Decimal(600), dt.date(2026, 3, 20), 100, 0.18),
    ),
)
SPLIT = ActionSpec("NVDA", dt.date(2025, 12, 3), "split", Decimal(4))
DIVIDEND = ActionSpec("SPY", dt.date(2025, 12, 4), "cash_dividend", Decimal("1.75"))
FLOWS = (
    CashFlowSpec("HIST_A", dt.date(2025, 11, 24), Decimal(25000)),
    CashFlowSpec("HIST_A", dt.date(2025, 11, 29), Decimal(-5000)),  # a Saturday: counts Monday
    CashFlowSpec("HIST_B", dt.date(2025, 12, 2), Decimal(10000)),
)


def _prices(rng: np.random.Generator) -> pd.DataFrame:
    n = len(ALL_SESSIONS)
    market = rng.normal(0.0004, 0.009, n)
    columns: dict[str, np.ndarray[Any, Any]] = {}
    start = {"SPY": 560.0, "AAPL": 225.0, "MSFT": 420.0, "JPM": 240.0, "XOM": 115.0}
    for i, symbol in enumerate((*FACTORS, *STOCKS)):
        beta = 1.0 if symbol == "SPY" else 0.6 + 0.1 * i
        noise = (
            0.0 if symbol == "SPY" else rng.normal(0.0, 0.008 if symbol in FACTORS else 0.014, n)
        )
        r = beta * market + noise
        columns[symbol] = np.round(start.get(symbol, 100.0 + 10 * i) * np.cumprod(1.0 + r), 4)
    frame = pd.DataFrame(columns, index=[d.isoformat() for d in ALL_SESSIONS])
    frame.index.name = "date"
    # As traded: from the ex-date on, the split stock trades at a quarter and the dividend
    # payer without its dividend (the path itself goes on unbroken).
    after = frame.index >= SPLIT.ex_date.isoformat()
    frame.loc[after, "NVDA"] = (frame.loc[after, "NVDA"] / float(SPLIT.value)).round(4)
    after = frame.index >= DIVIDEND.ex_date.isoformat()
    before = frame.loc[~after, "SPY"].iloc[-1]
    factor = (before - float(DIVIDEND.value)) / before
    frame.loc[after, "SPY"] = (frame.loc[after, "SPY"] * factor).round(4)
    return frame


#: The undated bundle's defaults, and the portfolios' own limits (by the bundle they come in).
DEFAULT_LIMITS: dict[str, Any] = {
    "hist_var_95_fraction": 0.0165,
    "beta_spy_150d": [0.5, 1.5],
    "max_position_weight": 0.4,
}
OWN_LIMITS: dict[str, dict[str, Any]] = {
    "HIST_A": {"gross_leverage": 0.75},
    "HIST_C": {
        "max_position_weight": 1.5,
        "gross_leverage": 2.0,
        "net_leverage": 2.0,
        "worst_stress_fraction": 0.6,
    },
}


def _bundle(valuation_date: dt.date | None, portfolios: list[dict[str, Any]]) -> dict[str, Any]:
    bundle: dict[str, Any] = {
        "risk_free_rate": 0.043,
        "benchmark": "SPY",
        "factor_etfs": dict(zip(FACTORS, ("M", "V", "G", "Mo", "Q", "S", "L"), strict=True)),
        "securities": {s: {"asset_type": "stock", "sector": "Tech"} for s in STOCKS},
        "portfolios": portfolios,
    }
    if valuation_date is not None:
        bundle["valuation_date"] = valuation_date.isoformat()
    return bundle


def _portfolio(pid: str, cash: float, positions: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": pid,
        "name": pid,
        "owner": "history@example.com",
        "cash": cash,
        "positions": positions,
    }


def _stock(symbol: str, quantity: float, cost: float | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"symbol": symbol, "quantity": quantity}
    if cost is not None:
        found["entry_price"] = cost
    return found


def bundles() -> list[tuple[str, dict[str, Any]]]:
    """The world's bundles in import order (file stem, content)."""
    call = {
        "symbol": CALL,
        "quantity": 3,
        "option": {
            "underlying": "SPY",
            "type": "call",
            "strike": 600.0,
            "expiry": "2026-03-20",
            "multiplier": 100,
            "implied_vol": 0.18,
        },
    }
    hist_a = _portfolio(
        "HIST_A",
        50000.0,
        [_stock("AAPL", 200, 210.0), _stock("MSFT", 100, 400.0), _stock("XOM", 100, 110.0)],
    )
    hist_c = _portfolio("HIST_C", 100000.0, [_stock("SPY", 100), _stock("NVDA", -50), call])
    undated = _bundle(None, [hist_c | {"limits": OWN_LIMITS["HIST_C"]}])
    undated["default_limits"] = DEFAULT_LIMITS
    return [
        ("book1", _bundle(BOOK_1, [hist_a | {"limits": OWN_LIMITS["HIST_A"]}])),
        (
            "book_late",
            _bundle(
                LATE_BOOK,
                [
                    _portfolio(
                        "HIST_B", 20000.0, [_stock("JPM", 50, 230.0), _stock("SPY", 20, 550.0)]
                    )
                ],
            ),
        ),
        ("undated", undated),
        (
            "book2",
            _bundle(
                BOOK_2,
                [
                    _portfolio(
                        "HIST_A",
                        61000.0,
                        [
                            _stock("AAPL", 250, 212.0),
                            _stock("MSFT", 60, 401.0),
                            _stock("XOM", 100, 110.0),
                            _stock("NVDA", 100, 151.2),
                            _stock("QUAL", 40, 180.0),
                        ],
                    )
                ],
            ),
        ),
    ]


def write_files(folder: Path, seed: int = 11) -> dict[str, Path]:
    """The world's prices, rates and bundles as files in ``folder``."""
    rng = np.random.default_rng(seed)
    prices = _prices(rng)
    files = {"prices": folder / "prices.csv", "rates": folder / "rates.csv"}
    prices.to_csv(files["prices"])
    rates = pd.DataFrame(
        {
            "date": [d.isoformat() for d in ALL_SESSIONS],
            "value": np.round(4.2 + np.cumsum(rng.normal(0, 0.03, len(ALL_SESSIONS))), 3),
        }
    )
    rates.to_csv(files["rates"], index=False)
    for stem, content in bundles():
        path = folder / f"{stem}.json"
        path.write_text(json.dumps(content))
        files[stem] = path
    return files


def load_events(
    trades: tuple[TradeSpec, ...] = TRADES, flows: tuple[CashFlowSpec, ...] = FLOWS
) -> None:
    """Write trades and flows (the portfolios must exist)."""
    with session_scope() as session:
        owners = [t.portfolio for t in trades] + [f.portfolio for f in flows]
        ids = book_events.portfolio_ids(session, owners)
        counts = ChangeCounts()
        book_events.upsert_trades(session, trades, ids, counts)
        book_events.upsert_cash_flows(session, flows, ids, counts)


def load_actions(through: dt.date | None = None) -> None:
    """Store the world's actions (those dated on or before ``through``); idempotent."""
    rows = [
        {
            "symbol": a.symbol,
            "ex_date": a.ex_date,
            "kind": a.kind,
            "value": a.value,
            "source": "csv",
        }
        for a in (SPLIT, DIVIDEND)
        if through is None or a.ex_date <= through
    ]
    if rows:
        with session_scope() as session:
            session.execute(insert(CorporateAction).values(rows).on_conflict_do_nothing())


def load_world(folder: Path, *, through: dt.date | None = None) -> dict[str, Path]:
    """Import the whole world (or only what is dated on or before ``through``)."""
    files = write_files(folder)
    if through is not None:
        prices = pd.read_csv(files["prices"], index_col="date")
        prices[prices.index <= through.isoformat()].to_csv(files["prices"])
    import_prices_file(files["prices"], today=TODAY)
    import_rates_file(files["rates"], series="DGS10", today=TODAY)
    dated = {"book1": BOOK_1, "book_late": LATE_BOOK, "undated": None, "book2": BOOK_2}
    for stem, day in dated.items():
        if through is None or day is None or day <= through:
            import_bundle_file(files[stem], today=TODAY)
    load_events(
        tuple(t for t in TRADES if through is None or t.trade_date <= through),
        tuple(f for f in FLOWS if through is None or f.flow_date <= through),
    )
    load_actions(through)
    return files


def single_date(as_of: dt.date) -> uuid.UUID:
    """``run risk --as-of`` through its run steps (what the nightly-risk flow calls)."""
    settings = get_settings()
    run_id = ledger.open_run("nightly-risk", as_of=as_of, inputs={"test": "single"})
    plan = risk_run.plan_risk(settings, as_of, run_id)
    for chunk in plan.chunks:
        risk_run.run_chunk(settings, as_of, chunk, run_id)
    risk_run.finish_risk(settings, as_of, plan.portfolio_ids, run_id)
    ledger.close_run(run_id, "succeeded")
    return run_id


def compute_history(first: dt.date = FIRST, last: dt.date = LAST) -> uuid.UUID:
    """``run risk --from first --to last`` through the risk-history run steps, without Prefect."""
    settings = get_settings()
    with ledger.run_guard("risk-history", last):
        run_id = ledger.open_run("risk-history", as_of=last, inputs={"from": first.isoformat()})
        try:
            plan = risk_run.plan_history(settings, first, last, run_id)
            for days in plan.batches:
                for report in risk_run.run_history_dates(settings, days, run_id):
                    assert not report.errors, report.errors
            risk_run.finish_history(settings, run_id)
        finally:
            risk_run.release_history(run_id)
        ledger.close_run(run_id, "succeeded")
    return run_id
