"""`import positions`, `import trades` and `import cashflows` end to end against PostgreSQL:
all-or-nothing, idempotence, dated books, and the book in effect after trades (C15-C17)."""

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from cli.main import main
from models import CashFlow, Position, Trade
from sigmasight.books import BookState
from sigmasight.domain import InputError
from sigmasight.repositories import reference
from sigmasight.repositories.risk_inputs import load_timelines
from sigmasight.runs.imports import (
    import_bundle_file,
    import_cashflows_file,
    import_positions_file,
    import_trades_file,
)
from tests.dbstate import table_digests

TODAY = dt.date(2025, 6, 2)
FIRST_BOOK = dt.date(2025, 1, 2)
SPY_CALL = "O:SPY251219C00600000"
BOOK_TABLES = ("portfolio", "portfolio_book", "position", "trade", "cash_flow", "flow_run")

BUNDLE = {
    "valuation_date": FIRST_BOOK.isoformat(),
    "portfolios": [
        {
            "id": "LO_CORE",
            "name": "Core",
            "owner": "demo@example.com",
            "cash": 100000,
            "positions": [{"symbol": "AAPL", "quantity": 100, "entry_price": 150}],
        },
        {"id": "OTHER", "name": "Other", "owner": "demo@example.com", "positions": []},
    ],
}


def write(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content)
    return path


@pytest.fixture
def portfolios(engine: Engine, tmp_path: Path) -> dict[str, int]:
    """LO_CORE (cash 100,000 and 100 AAPL at 150 on 2025-01-02) and OTHER, by external id."""
    import_bundle_file(write(tmp_path, "bundle.json", json.dumps(BUNDLE)), today=TODAY)
    with engine.connect() as conn:
        return dict(conn.execute(text("SELECT external_id, id FROM portfolio")).all())


def digests(engine: Engine) -> dict[str, str]:
    every = table_digests(engine)
    return {name: every[name] for name in BOOK_TABLES}


def ledger(engine: Engine, flow: str) -> int:
    with engine.connect() as conn:
        count: int = conn.execute(
            text("SELECT count(*) FROM flow_run WHERE flow = :flow"), {"flow": flow}
        ).scalar_one()
    return count


def state_on(engine: Engine, portfolio_id: int, day: dt.date) -> BookState:
    with Session(engine) as session:
        rows = load_timelines(session, [portfolio_id], through=day)
    state = rows.timelines[portfolio_id].state_on(day)
    assert state is not None
    return state


def book_rows(engine: Engine, portfolio_id: int, day: dt.date) -> dict[str, tuple[object, ...]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT symbol, quantity, entry_price, position_type, underlying, strike, "
                "expiry_date, option_right, multiplier, implied_vol FROM position "
                "WHERE portfolio_id = :p AND book_date = :d"
            ),
            {"p": portfolio_id, "d": day},
        ).all()
    return {row.symbol: tuple(row)[1:] for row in rows}


# ---- positions -----------------------------------------------------------------------------
POSITIONS = (
    "symbol,quantity,cost_basis,underlying,option_type,strike,expiry,implied_vol\n"
    "MSFT,-10,400.5,,,,,\n"
    "CASH,5000.25\n"
    "my spy call,2,4.5,SPY,call,600,2025-12-19,0.18\n"
)


def test_positions_add_a_book_of_their_date_and_leave_other_books_untouched(
    engine, tmp_path, portfolios
):
    pid = portfolios["LO_CORE"]
    day = dt.date(2025, 2, 3)
    first_book = book_rows(engine, pid, FIRST_BOOK)
    result = import_positions_file(
        write(tmp_path, "pos.csv", POSITIONS), portfolio="LO_CORE", as_of=day, today=TODAY
    )
    assert not result.unchanged and result.rows == 2 and result.inserted == 3
    assert result.details == {"portfolio": "LO_CORE", "book_date": "2025-02-03", "cash": "5000.25"}
    with engine.connect() as conn:
        books = conn.execute(
            text(
                "SELECT book_date, cash, source FROM portfolio_book WHERE portfolio_id = :p "
                "ORDER BY book_date"
            ),
            {"p": pid},
        ).all()
        mirror = conn.execute(
            text("SELECT cash, valuation_date FROM portfolio WHERE id = :p"), {"p": pid}
        ).one()
    assert [tuple(b) for b in books] == [
        (FIRST_BOOK, Decimal(100000), "bundle"),
        (day, Decimal("5000.25"), "positions"),
    ]
    assert tuple(mirror) == (Decimal("5000.25"), day)
    assert book_rows(engine, pid, FIRST_BOOK) == first_book
    assert book_rows(engine, pid, day) == {
        "MSFT": (Decimal(-10), Decimal("400.5"), "SHORT", None, None, None, None, None, None),
        SPY_CALL: (
            Decimal(2),
            Decimal("4.5"),
            "LC",
            "SPY",
            Decimal(600),
            dt.date(2025, 12, 19),
            "call",
            100,
            0.18,
        ),
    }
    assert ledger(engine, "import-positions") == 1
    # C15: the bundle's book is in effect before the new date, the file's from it on.
    before = state_on(engine, pid, day - dt.timedelta(days=1))
    assert before.cash == 100000 and [h.symbol for h in before.holdings] == ["AAPL"]
    after = state_on(engine, pid, day)
    assert after.cash == Decimal("5000.25")
    assert {h.symbol: (h.quantity, h.avg_cost) for h in after.holdings} == {
        "MSFT": (Decimal(-10), Decimal("400.5")),
        SPY_CALL: (Decimal(2), Decimal("4.5")),
    }


def test_positions_reimport_changes_nothing_and_a_changed_file_touches_only_its_book(
    engine, tmp_path, portfolios
):
    pid = portfolios["LO_CORE"]
    day = dt.date(2025, 2, 3)
    path = write(tmp_path, "pos.csv", POSITIONS)
    import_positions_file(path, portfolio="LO_CORE", as_of=day, today=TODAY)
    before = digests(engine)
    again = import_positions_file(path, portfolio="LO_CORE", as_of=day, today=TODAY)
    assert again.unchanged and (again.inserted, again.updated) == (0, 0)
    assert digests(engine) == before
    first_book = book_rows(engine, pid, FIRST_BOOK)
    # Without the CASH row and the option: cash 0, the option's row goes, MSFT stays.
    smaller = write(tmp_path, "smaller.csv", "symbol,quantity,cost_basis\nMSFT,-10,400.5\n")
    result = import_positions_file(smaller, portfolio="LO_CORE", as_of=day, today=TODAY)
    assert (result.inserted, result.updated) == (0, 2)  # the book's cash, the deleted option
    assert set(book_rows(engine, pid, day)) == {"MSFT"}
    assert state_on(engine, pid, day).cash == 0
    assert book_rows(engine, pid, FIRST_BOOK) == first_book
    assert ledger(engine, "import-positions") == 2


def test_positions_cli_messages_and_rejections(engine, tmp_path, portfolios, capsys):
    good = write(tmp_path, "pos.csv", POSITIONS)
    argv = ["import", "positions", str(good), "--portfolio", "LO_CORE", "--as-of", "2025-02-03"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "(book of LO_CORE on 2025-02-03, cash 5000.25): 2 rows validated; 3 inserted" in out
    assert main(argv) == 0
    assert "nothing changed" in capsys.readouterr().out
    before = digests(engine)

    unknown = ["import", "positions", str(good), "--portfolio", "NOPE", "--as-of", "2025-02-04"]
    assert main(unknown) == 2
    assert capsys.readouterr().err == (
        "sigmasight: error: --portfolio NOPE: no such portfolio "
        "(create it first with `sigmasight import portfolios`)\n"
    )
    duplicate = write(tmp_path, "dup.csv", "symbol,quantity\nAAPL,1\nMSFT,2\nAAPL,3\n")
    assert main([*argv[:2], str(duplicate), *argv[3:]]) == 2
    assert capsys.readouterr().err == (
        "sigmasight: error: dup.csv line 4: duplicate symbol AAPL (first on line 2)\n"
    )
    assert digests(engine) == before

    with pytest.raises(SystemExit) as exit_:
        main([*argv[:-1], "2099-01-02"])
    assert exit_.value.code == 2
    assert "has not closed yet" in capsys.readouterr().err
    with pytest.raises(
        InputError, match=r"--as-of 2025-06-03 is in the future \(today is 2025-06-02\)"
    ):
        import_positions_file(good, portfolio="LO_CORE", as_of=dt.date(2025, 6, 3), today=TODAY)
    assert digests(engine) == before


# ---- trades --------------------------------------------------------------------------------
TRADES_HEADER = "portfolio,trade_date,symbol,quantity,price,fees,trade_id"
#: One trade per symbol and day, so the order inside a day does not matter.
TRADES = f"""{TRADES_HEADER}
LO_CORE,2025-01-03,AAPL,50,160,1,
LO_CORE,2025-01-03,{SPY_CALL},3,4,0.65,opt-1
LO_CORE,2025-01-06,AAPL,-120,170,2,
LO_CORE,2025-01-06,MSFT,-10,400,1,
LO_CORE,2025-01-07,AAPL,-50,165,,
LO_CORE,2025-01-07,{SPY_CALL},-1,6,0.65,opt-2
LO_CORE,2025-01-08,AAPL,5,160,,
LO_CORE,2025-01-08,MSFT,10,390,1,
"""
FLOWS = "portfolio,date,amount\nLO_CORE,2025-01-06,10000\nLO_CORE,2025-01-08,-2500\n"


def test_the_book_in_effect_after_trades_and_flows(engine, tmp_path, portfolios):
    pid = portfolios["LO_CORE"]
    assert import_trades_file(write(tmp_path, "trades.csv", TRADES), today=TODAY).inserted == 8
    assert import_cashflows_file(write(tmp_path, "flows.csv", FLOWS), today=TODAY).inserted == 2

    # C16 by hand: AAPL starts at 100 @ 150 (the bundle's entry price).
    aapl_avg = (100 * Decimal(150) + 50 * Decimal(160)) / 150  # the buy raises the average
    realised_aapl = (
        (Decimal(170) - aapl_avg) * 120  # a sale reduces the long and keeps the average
        + (Decimal(165) - aapl_avg) * 30  # crossing zero closes the last 30 at the average ...
        + (Decimal(165) - Decimal(160)) * 5  # ... opens -20 at 165; buying 5 back gains on a short
    )
    realised_option = (Decimal(6) - Decimal(4)) * 1 * 100  # multiplier 100
    realised_msft = (Decimal(400) - Decimal(390)) * 10  # a short covered lower
    cash_moves = [
        -(50 * Decimal(160)) - 1,
        -(3 * Decimal(4) * 100) - Decimal("0.65"),
        120 * Decimal(170) - 2,
        10 * Decimal(400) - 1,
        50 * Decimal(165),
        1 * Decimal(6) * 100 - Decimal("0.65"),
        -(5 * Decimal(160)),
        -(10 * Decimal(390)) - 1,
    ]
    flows = Decimal(10000) - Decimal(2500)

    end = state_on(engine, pid, dt.date(2025, 1, 10))
    assert end.book_date == FIRST_BOOK and end.trades_applied == 8
    assert end.cash == Decimal(100000) + sum(cash_moves) + flows
    assert end.realized_pnl is not None
    assert abs(end.realized_pnl - (realised_aapl + realised_option + realised_msft)) < Decimal(
        "1e-12"
    )
    held = {h.symbol: h for h in end.holdings}
    assert set(held) == {"AAPL", SPY_CALL}  # MSFT was closed
    assert (held["AAPL"].quantity, held["AAPL"].avg_cost) == (Decimal(-15), Decimal(165))
    assert (held[SPY_CALL].quantity, held[SPY_CALL].avg_cost) == (Decimal(2), Decimal(4))
    assert (held[SPY_CALL].underlying, held[SPY_CALL].multiplier) == ("SPY", 100)

    # Part way: after 2025-01-06 the reduced long keeps its average; the flow of that day is in.
    mid = state_on(engine, pid, dt.date(2025, 1, 6))
    mid_held = {h.symbol: h for h in mid.holdings}
    assert mid_held["AAPL"].quantity == 30
    mid_avg = mid_held["AAPL"].avg_cost
    assert mid_avg is not None and abs(mid_avg - aapl_avg) < Decimal("1e-20")
    assert (mid_held["MSFT"].quantity, mid_held["MSFT"].avg_cost) == (Decimal(-10), Decimal(400))
    assert mid.cash == Decimal(100000) + sum(cash_moves[:4]) + 10000

    # A later book is the whole truth of its date: earlier trades no longer apply from it on.
    import_positions_file(
        write(tmp_path, "pos.csv", "symbol,quantity\nCASH,1\nIBM,3\n"),
        portfolio="LO_CORE",
        as_of=dt.date(2025, 1, 9),
        today=TODAY,
    )
    later = state_on(engine, pid, dt.date(2025, 1, 10))
    assert (later.book_date, later.cash, later.trades_applied) == (
        dt.date(2025, 1, 9),
        Decimal(1),
        0,
    )
    assert [(h.symbol, h.quantity) for h in later.holdings] == [("IBM", Decimal(3))]


def test_trades_reimport_changes_nothing(engine, tmp_path, portfolios):
    path = write(tmp_path, "trades.csv", TRADES)
    first = import_trades_file(path, today=TODAY)
    assert not first.unchanged and first.rows == 8
    before = digests(engine)
    again = import_trades_file(path, today=TODAY)
    assert again.unchanged and (again.inserted, again.updated) == (0, 0)
    assert digests(engine) == before
    assert ledger(engine, "import-trades") == 1
    # A trade with an id is corrected in place; one without is a new trade.
    corrected = TRADES.replace(f"{SPY_CALL},3,4,0.65,opt-1", f"{SPY_CALL},3,4.2,0.65,opt-1")
    result = import_trades_file(write(tmp_path, "b.csv", corrected), today=TODAY)
    assert (result.inserted, result.updated) == (0, 1)
    with engine.connect() as conn:
        price = conn.execute(text("SELECT price FROM trade WHERE trade_id = 'opt-1'")).scalar_one()
        count = conn.execute(text("SELECT count(*) FROM trade")).scalar_one()
    assert price == Decimal("4.2") and count == 8


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("NOPE,2025-01-03,AAPL,1,1,,", "portfolio NOPE does not exist"),
        (
            "LO_CORE,2024-12-31,AAPL,1,1,,",
            "trade_date 2024-12-31 is before the first book of portfolio LO_CORE (2025-01-02)",
        ),
        ("LO_CORE,2025-01-03,AAPL,0,1,,", "quantity 0 must be a non-zero number"),
        ("LO_CORE,2025-01-03,AAPL,1,-1,,", "price -1 must be a number >= 0"),
        ("LO_CORE,2025-01-03,AAPL,1,1,-1,", "fees -1 must be a number >= 0"),
        ("LO_CORE,2025-01-32,AAPL,1,1,,", "trade_date '2025-01-32' is not an ISO date"),
        ("LO_CORE,2099-01-02,AAPL,1,1,,", "trade_date 2099-01-02 is in the future"),
    ],
    ids=["unknown portfolio", "before first book", "zero", "price", "fees", "date", "future"],
)
def test_a_bad_trade_line_writes_nothing(engine, tmp_path, portfolios, capsys, bad_line, message):
    good = write(tmp_path, "good.csv", TRADES)
    assert main(["import", "trades", str(good)]) == 0
    capsys.readouterr()
    before = digests(engine)
    lines = TRADES.splitlines()
    lines.insert(3, bad_line)  # file line 4, between good new trades
    lines.append("OTHER,2025-01-03,IBM,1,100,,")
    bad = write(tmp_path, "trades.csv", "\n".join(lines) + "\n")
    assert main(["import", "trades", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"sigmasight: error: trades.csv line 4: {message}"), err
    assert len(err.splitlines()) == 1
    assert digests(engine) == before


def test_bad_trades_on_an_empty_database_leave_every_book_table_empty(engine, tmp_path, capsys):
    bad = write(tmp_path, "trades.csv", TRADES)  # no portfolio exists at all
    assert main(["import", "trades", str(bad)]) == 2
    assert capsys.readouterr().err.startswith(
        "sigmasight: error: trades.csv line 2: portfolio LO_CORE does not exist"
    )
    with engine.connect() as conn:
        counts = {
            t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in BOOK_TABLES
        }
    assert counts == dict.fromkeys(BOOK_TABLES, 0)


# ---- cash flows ----------------------------------------------------------------------------
def test_cash_flows_upsert_by_portfolio_and_date(engine, tmp_path, portfolios, capsys):
    path = write(tmp_path, "flows.csv", FLOWS)
    assert main(["import", "cashflows", str(path)]) == 0
    assert "2 rows validated; 2 inserted, 0 updated" in capsys.readouterr().out
    before = digests(engine)
    assert main(["import", "cashflows", str(path)]) == 0
    assert "nothing changed" in capsys.readouterr().out
    assert digests(engine) == before and ledger(engine, "import-cashflows") == 1
    changed = write(
        tmp_path, "b.csv", "portfolio,date,amount\nLO_CORE,2025-01-08,0\nOTHER,2025-01-08,7\n"
    )
    result = import_cashflows_file(changed, today=TODAY)
    assert (result.inserted, result.updated) == (1, 1)
    with engine.connect() as conn:
        stored = conn.execute(
            text(
                "SELECT f.external_id, c.flow_date, c.amount FROM cash_flow c "
                "JOIN portfolio f ON f.id = c.portfolio_id ORDER BY 1, 2"
            )
        ).all()
    assert [tuple(r) for r in stored] == [
        ("LO_CORE", dt.date(2025, 1, 6), Decimal(10000)),
        ("LO_CORE", dt.date(2025, 1, 8), Decimal(0)),
        ("OTHER", dt.date(2025, 1, 8), Decimal(7)),
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            FLOWS + "LO_CORE,2025-01-06,5\n",
            "flows.csv line 4: a second flow of portfolio LO_CORE on 2025-01-06 (first on line 2)",
        ),
        (FLOWS + "NOPE,2025-01-06,5\n", "flows.csv line 4: portfolio NOPE does not exist"),
        (FLOWS + "LO_CORE,2099-01-06,5\n", "flows.csv line 4: date 2099-01-06 is in the future"),
        (FLOWS + "LO_CORE,2025-01-09,5e\n", "flows.csv line 4: amount '5e' is not a number"),
        ("", "flows.csv: the file is empty"),
        (
            "\ufeffportfolio,amount\r\nLO_CORE,1\r\n",
            "flows.csv line 1: bad header (missing column(s) date)",
        ),
    ],
    ids=["duplicate", "unknown portfolio", "future", "not a number", "empty", "header"],
)
def test_a_bad_cash_flow_file_writes_nothing(
    engine, tmp_path, portfolios, capsys, content, message
):
    before = digests(engine)
    path = write(tmp_path, "flows.csv", content)
    assert main(["import", "cashflows", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"sigmasight: error: {message}"), err
    assert "Traceback" not in err
    assert digests(engine) == before


def test_binary_garbage_and_a_missing_file_are_clean_errors(engine, tmp_path, portfolios, capsys):
    before = digests(engine)
    garbage = tmp_path / "trades.csv"
    garbage.write_bytes(bytes(range(256)) * 64)
    assert main(["import", "trades", str(garbage)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sigmasight: error: trades.csv line 3: not UTF-8 text (byte 0x80)"), err
    assert len(err.splitlines()) == 1
    assert main(["import", "cashflows", str(tmp_path / "missing.csv")]) == 2
    assert "missing.csv: no such file" in capsys.readouterr().err
    assert digests(engine) == before


def test_no_batch_exceeds_postgresqls_parameter_limit():
    widest = max(len(model.__table__.columns) for model in (Position, Trade, CashFlow))
    assert reference.BATCH_ROWS * widest <= 65535


def test_files_larger_than_a_batch_are_written_whole(engine, tmp_path, portfolios, monkeypatch):
    """Several INSERTs per import (a batch of 7 rows here) are still one all-or-nothing import."""
    monkeypatch.setattr(reference, "BATCH_ROWS", 7)
    symbols = [f"S{i:02d}" for i in range(30)]
    positions = "symbol,quantity\n" + "".join(f"{s},{i + 1}\n" for i, s in enumerate(symbols))
    book = import_positions_file(
        write(tmp_path, "pos.csv", positions), portfolio="LO_CORE", as_of=FIRST_BOOK, today=TODAY
    )
    # Updated: the book's cash (100,000 -> 0, no CASH row) and the AAPL row it drops.
    assert (book.rows, book.inserted, book.updated) == (30, 30, 2)
    trades = [f"{TRADES_HEADER}\n"]
    trades += [f"LO_CORE,2025-01-03,{s},1,10,,\n" for s in symbols]
    trades += [f"LO_CORE,2025-01-06,{s},-1,11,,id-{s}\n" for s in symbols]
    path = write(tmp_path, "t.csv", "".join(trades))
    assert import_trades_file(path, today=TODAY).inserted == 60
    assert import_trades_file(path, today=TODAY).unchanged
    days = [dt.date(2025, 1, 2) + dt.timedelta(days=i) for i in range(20)]
    flows = "portfolio,date,amount\n" + "".join(
        f"{p},{d},{i}\n" for p in ("LO_CORE", "OTHER") for i, d in enumerate(days)
    )
    path = write(tmp_path, "f.csv", flows)
    assert import_cashflows_file(path, today=TODAY).inserted == 40
    assert import_cashflows_file(path, today=TODAY).unchanged
    # A bad last line: the batches before it must not be written either.
    before = digests(engine)
    bad = "".join(trades).replace("id-S29", "id-S00")
    with pytest.raises(InputError, match=r"t2\.csv line 61: duplicate trade_id 'id-S00'"):
        import_trades_file(write(tmp_path, "t2.csv", bad.replace(",1,10,", ",2,10,")), today=TODAY)
    assert digests(engine) == before
    state = state_on(engine, portfolios["LO_CORE"], dt.date(2025, 1, 6))
    # 30 buys at 10, 30 sells at 11, and the flows after the book date up to 2025-01-06.
    assert state.trades_applied == 60
    assert state.cash == -30 * 10 + 30 * 11 + sum(range(1, 5))
    assert {h.symbol: h.quantity for h in state.holdings} == {
        s: Decimal(i + 1) for i, s in enumerate(symbols)
    }
