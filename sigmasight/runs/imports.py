"""Import files into the database: validate everything first, then write in one transaction.

An import that changes nothing leaves no trace; one that writes records a row in the run
ledger (``flow_run``) whose id is stamped on the price rows it wrote.
"""

import datetime as dt
import json
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from sigmasight import trading_calendar
from sigmasight.db import session_scope
from sigmasight.domain import InputError
from sigmasight.importers.actions import check_actions_against_store, parse_actions_csv
from sigmasight.importers.book_files import (
    check_flow_portfolios,
    check_trades_against_books,
    parse_cash_flows_csv,
    parse_positions_csv,
    parse_trades_csv,
)
from sigmasight.importers.bundle import PORTFOLIO_ID_RE, parse_bundle
from sigmasight.importers.prices import parse_prices_csv
from sigmasight.importers.rates import parse_rates_csv
from sigmasight.market_data import by_symbol, late_actions, restatement_note
from sigmasight.repositories import actions as action_repo
from sigmasight.repositories import book_events, reference, runs
from sigmasight.repositories import prices as price_repo


@dataclass(frozen=True)
class ImportResult:
    """What an import wrote, for the CLI and the run ledger."""

    run_id: str | None
    rows: int
    inserted: int
    updated: int
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def unchanged(self) -> bool:
        """True when the database already held exactly this data."""
        return self.run_id is None


#: A rate series id as stored (``rate_observation.series_id`` is 32 characters).
SERIES_RE = re.compile(r"[A-Za-z0-9_]{1,32}")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not a file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def import_prices_file(path: Path, *, today: dt.date | None = None) -> ImportResult:
    """Validate and upsert a prices CSV (long or wide shape); all-or-nothing."""
    started = _now()
    payload = parse_prices_csv(_read(path), source=path.name, today=today or dt.date.today())
    run_id = uuid.uuid4()
    details = {
        "symbols": payload.n_symbols,
        "first_date": payload.first_date.isoformat(),
        "last_date": payload.last_date.isoformat(),
    }
    with session_scope() as session:
        counts = price_repo.upsert_price_payload(
            session, payload, source="csv", run_id=run_id, file_label=path.name
        )
        changed = counts.inserted + counts.updated
        if changed:
            runs.record_finished_run(
                session,
                run_id,
                "import-prices",
                started_at=started,
                inputs={"file": str(path)},
                counts={
                    "rows": payload.n_rows,
                    "inserted": counts.inserted,
                    "updated": counts.updated,
                    **details,
                },
            )
    return ImportResult(
        str(run_id) if changed else None, payload.n_rows, counts.inserted, counts.updated, details
    )


def import_rates_file(path: Path, *, series: str, today: dt.date | None = None) -> ImportResult:
    """Validate and upsert a FRED-style rates CSV for ``series``; all-or-nothing."""
    started = _now()
    if not SERIES_RE.fullmatch(series):
        raise InputError(
            f"--series {series[:40]!r}: must be a series id such as DGS10 "
            "(1 to 32 letters, digits or _)"
        )
    text = _read(path).decode("utf-8", errors="replace")
    observations = parse_rates_csv(text, source=path.name, today=today or dt.date.today())
    run_id = uuid.uuid4()
    with session_scope() as session:
        counts = price_repo.upsert_rates(
            session, series.upper(), observations, source="csv", run_id=run_id
        )
        changed = counts.inserted + counts.updated
        if changed:
            runs.record_finished_run(
                session,
                run_id,
                "import-rates",
                started_at=started,
                inputs={"file": str(path), "series": series.upper()},
                counts={
                    "rows": len(observations),
                    "inserted": counts.inserted,
                    "updated": counts.updated,
                },
            )
    return ImportResult(
        str(run_id) if changed else None, len(observations), counts.inserted, counts.updated
    )


def import_bundle_file(path: Path, *, today: dt.date | None = None) -> ImportResult:
    """Validate and upsert a portfolio bundle JSON; all-or-nothing."""
    started = _now()
    raw = _read(path)
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path.name} line {exc.lineno}: not valid JSON ({exc.msg})") from None
    except UnicodeDecodeError:
        raise InputError(f"{path.name}: not UTF-8 text") from None
    except RecursionError:
        raise InputError(f"{path.name}: JSON nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise InputError(f"{path.name}: not a usable JSON number ({str(exc)[:80]})") from None
    bundle = parse_bundle(data, source=path.name, today=today or dt.date.today())
    run_id = uuid.uuid4()
    with session_scope() as session:
        counts = reference.apply_bundle(session, bundle)
        if counts.changed:
            runs.record_finished_run(
                session,
                run_id,
                "import-portfolios",
                started_at=started,
                inputs={"file": str(path)},
                counts=counts.as_dict(),
            )
    positions = sum(len(p.positions) for p in bundle.portfolios)
    return ImportResult(
        str(run_id) if counts.changed else None,
        positions,
        sum(counts.inserted.values()),
        sum(counts.updated.values()) + sum(counts.deleted.values()),
        {"portfolios": len(bundle.portfolios)},
    )


def _record(
    session: Session,
    counts: reference.ChangeCounts,
    flow: str,
    *,
    started: dt.datetime,
    inputs: dict[str, Any],
) -> str | None:
    """The ledger row of an import that changed something; None (and no row) otherwise."""
    if not counts.changed:
        return None
    run_id = uuid.uuid4()
    runs.record_finished_run(
        session, run_id, flow, started_at=started, inputs=inputs, counts=counts.as_dict()
    )
    return str(run_id)


def _result(
    run_id: str | None, rows: int, counts: reference.ChangeCounts, **details: Any
) -> ImportResult:
    return ImportResult(
        run_id,
        rows,
        sum(counts.inserted.values()),
        sum(counts.updated.values()) + sum(counts.deleted.values()),
        details,
    )


def import_positions_file(
    path: Path, *, portfolio: str, as_of: dt.date, today: dt.date | None = None
) -> ImportResult:
    """Make a positions CSV the book of ``portfolio`` on ``as_of``; other books stay; all-or-nothing.

    Cash comes from the file's ``CASH`` row, and is 0 without one: the file is the whole book.
    """
    started = _now()
    today = today or dt.date.today()
    if not PORTFOLIO_ID_RE.fullmatch(portfolio):
        raise InputError(
            f"--portfolio {portfolio[:40]!r}: must be a portfolio id "
            "(1-64 characters A-Z a-z 0-9 _ . -)"
        )
    if as_of > today:
        raise InputError(f"--as-of {as_of} is in the future (today is {today})")
    book = parse_positions_csv(_read(path), source=path.name, book_date=as_of)
    counts = reference.ChangeCounts()
    with session_scope() as session:
        portfolio_id = book_events.portfolio_ids(session, [portfolio]).get(portfolio)
        if portfolio_id is None:
            raise InputError(
                f"--portfolio {portfolio}: no such portfolio "
                "(create it first with `sigmasight import portfolios`)"
            )
        reference.replace_book(
            session, portfolio_id, as_of, book.cash, book.positions, counts, source="positions"
        )
        run_id = _record(
            session,
            counts,
            "import-positions",
            started=started,
            inputs={"file": str(path), "portfolio": portfolio, "as_of": as_of.isoformat()},
        )
    return _result(
        run_id,
        len(book.positions),
        counts,
        portfolio=portfolio,
        book_date=as_of.isoformat(),
        cash=str(book.cash),
    )


def import_trades_file(path: Path, *, today: dt.date | None = None) -> ImportResult:
    """Validate and upsert a trades CSV; every trade needs a book on or before it; all-or-nothing."""
    started = _now()
    lines = parse_trades_csv(_read(path), source=path.name, today=today or dt.date.today())
    trades = [line.trade for line in lines]
    counts = reference.ChangeCounts()
    with session_scope() as session:
        ids = book_events.portfolio_ids(session, [t.portfolio for t in trades])
        first_books = book_events.first_book_dates(session, list(ids.values()))
        check_trades_against_books(lines, ids, first_books, source=path.name)
        book_events.upsert_trades(session, trades, ids, counts)
        run_id = _record(
            session, counts, "import-trades", started=started, inputs={"file": str(path)}
        )
    return _result(run_id, len(trades), counts, portfolios=len(ids))


def import_cashflows_file(path: Path, *, today: dt.date | None = None) -> ImportResult:
    """Validate and upsert an external cash flows CSV by (portfolio, date); all-or-nothing."""
    started = _now()
    lines = parse_cash_flows_csv(_read(path), source=path.name, today=today or dt.date.today())
    flows = [line.flow for line in lines]
    counts = reference.ChangeCounts()
    with session_scope() as session:
        ids = book_events.portfolio_ids(session, [f.portfolio for f in flows])
        check_flow_portfolios(lines, ids, source=path.name)
        book_events.upsert_cash_flows(session, flows, ids, counts)
        run_id = _record(
            session, counts, "import-cashflows", started=started, inputs={"file": str(path)}
        )
    return _result(run_id, len(flows), counts, portfolios=len(ids))


def import_actions_file(path: Path) -> ImportResult:
    """Validate and upsert a corporate actions CSV; all-or-nothing; a re-import changes nothing.

    A line that contradicts a stored action (same symbol, ex-date and type, another value) or
    a dividend not below the symbol's last stored close before its ex-date is an error. An
    action new to the database whose ex-date lies on or before the symbol's last stored bar
    arrived after the fact: the result's ``restated`` details name the stored risk dates it
    changes (RISK-CONVENTIONS C21).
    """
    started = _now()
    lines = parse_actions_csv(_read(path), source=path.name, is_session=trading_calendar.is_session)
    actions = [line.action for line in lines]
    run_id = uuid.uuid4()
    with session_scope() as session:
        stored = action_repo.stored_actions(
            session, [(a.symbol, a.ex_date, a.kind) for a in actions]
        )
        previous = action_repo.closes_before(
            session, [(a.symbol, a.ex_date) for a in actions if a.kind == "cash_dividend"]
        )
        check_actions_against_store(lines, stored, previous, source=path.name)
        counts = action_repo.upsert_actions(session, actions, source="csv", run_id=run_id)
        new = [a for a in actions if (a.symbol, a.ex_date, a.kind) not in stored]
        ranges = price_repo.stored_ranges(
            session, sorted({a.symbol for a in new}), until=dt.date.max
        )
        notes = []
        late = late_actions(new, {s: r.last for s, r in ranges.items()})
        for symbol, symbol_actions in by_symbol(late).items():
            dates, portfolios = action_repo.affected_risk_dates(
                session, symbol, symbol_actions[0].ex_date
            )
            notes.append(restatement_note(symbol_actions, dates, len(portfolios)))
        changed = counts.inserted + counts.updated
        if changed:
            runs.record_finished_run(
                session,
                run_id,
                "import-actions",
                started_at=started,
                inputs={"file": str(path)},
                counts={
                    "rows": len(actions),
                    "inserted": counts.inserted,
                    "updated": counts.updated,
                    "restated": len(notes),
                },
            )
    return ImportResult(
        str(run_id) if changed else None,
        len(actions),
        counts.inserted,
        counts.updated,
        {"restated": notes},
    )
