"""Positions, trades and cash-flow CSVs (FORMATS.md section 7): valid files and every rejection."""

import datetime as dt
from decimal import Decimal

import pytest

from sigmasight.domain import CashFlowSpec, InputError, OptionSpec, PositionSpec, TradeSpec
from sigmasight.importers.book_files import (
    CashFlowLine,
    PositionsFile,
    TradeLine,
    check_flow_portfolios,
    check_trades_against_books,
    parse_cash_flows_csv,
    parse_positions_csv,
    parse_trades_csv,
)

BOOK_DATE = dt.date(2025, 1, 2)
TODAY = dt.date(2025, 6, 2)
SOURCE = "book.csv"
SPY_CALL = "O:SPY251219C00600000"
SPY_CALL_TERMS = OptionSpec("SPY", "call", Decimal(600), dt.date(2025, 12, 19), 100)


def positions(text: str | bytes) -> PositionsFile:
    data = text.encode() if isinstance(text, str) else text
    return parse_positions_csv(data, source=SOURCE, book_date=BOOK_DATE)


def trades(text: str | bytes) -> tuple[TradeLine, ...]:
    data = text.encode() if isinstance(text, str) else text
    return parse_trades_csv(data, source=SOURCE, today=TODAY)


def flows(text: str | bytes) -> tuple[CashFlowLine, ...]:
    data = text.encode() if isinstance(text, str) else text
    return parse_cash_flows_csv(data, source=SOURCE, today=TODAY)


def rejection(parse, text: str | bytes) -> str:
    with pytest.raises(InputError) as info:
        parse(text)
    return str(info.value)


# ---- positions: accepted -------------------------------------------------------------------
def test_positions_with_cash_cost_basis_and_an_occ_option():
    book = positions(
        f"symbol,quantity,cost_basis\nAAPL,3000,150.25\nCASH,-1234.5\n{SPY_CALL},-20,4.1\n"
    )
    assert book.cash == Decimal("-1234.5") and book.cash_line == 3
    assert book.positions == (
        PositionSpec("AAPL", Decimal(3000), None, entry_price=Decimal("150.25")),
        PositionSpec(SPY_CALL, Decimal(-20), SPY_CALL_TERMS, entry_price=Decimal("4.1")),
    )


def test_no_cash_row_means_cash_zero():
    book = positions("symbol,quantity\nAAPL,10\n")
    assert book.cash == 0 and book.cash_line is None
    assert book.positions == (PositionSpec("AAPL", Decimal(10)),)


def test_a_cash_only_book():
    book = positions("symbol,quantity\ncash,0\n")
    assert (book.cash, book.positions, book.cash_line) == (Decimal(0), (), 2)


def test_option_from_fields_is_stored_under_its_occ_ticker():
    book = positions(
        "symbol,quantity,underlying,option_type,strike,expiry,multiplier,implied_vol\n"
        "SPY Dec25 600 Put,3,SPY,P,600.5,2025-12-19,10,0.2\n"
        ",1,QQQ,call,500,2025-03-21,,\n"
    )
    assert book.positions == (
        PositionSpec(
            "O:SPY251219P00600500",
            Decimal(3),
            OptionSpec("SPY", "put", Decimal("600.5"), dt.date(2025, 12, 19), 10, 0.2),
        ),
        PositionSpec(
            "O:QQQ250321C00500000",
            Decimal(1),
            OptionSpec("QQQ", "call", Decimal(500), dt.date(2025, 3, 21), 100),
        ),
    )


def test_occ_ticker_with_agreeing_fields_and_asset_type():
    book = positions(
        "symbol,quantity,asset_type,underlying,option_type,strike,expiry\n"
        f"{SPY_CALL},2,option,SPY,call,600.000,2025-12-19\n"
        "VTI,5,etf,,,,\n"
    )
    assert [p.symbol for p in book.positions] == [SPY_CALL, "VTI"]
    assert book.positions[0].option == SPY_CALL_TERMS


def test_bom_crlf_cr_padding_blank_lines_and_any_column_order():
    data = b"\xef\xbb\xbf Quantity , SYMBOL ,cost_basis\r\n10,AAPL,\r\n\r\n-5 ,MSFT,300\r-1,BRK.B,\r\n\r\n"
    book = positions(data)
    assert book.positions == (
        PositionSpec("AAPL", Decimal(10)),
        PositionSpec("MSFT", Decimal(-5), entry_price=Decimal(300)),
        PositionSpec("BRK.B", Decimal(-1)),
    )


def test_short_cash_row_in_a_wide_file():
    header = "symbol,quantity,asset_type,underlying,option_type,strike,expiry,multiplier,implied_vol,cost_basis"
    book = positions(f"{header}\nCASH,500\nAAPL,1,stock,,,,,,,99\n")
    assert book.cash == 500 and book.positions[0].entry_price == 99


def test_an_option_expiring_on_the_book_date_is_accepted():
    book = positions("symbol,quantity\nO:SPY250102C00600000,1\n")
    assert book.positions[0].option is not None
    assert book.positions[0].option.expiry == BOOK_DATE


# ---- positions: rejected -------------------------------------------------------------------
POSITION_ERRORS = [
    (
        "symbol,quantity\nAAPL,1\nMSFT,2\nAAPL,3\n",
        "book.csv line 4: duplicate symbol AAPL (first on line 2)",
    ),
    (
        f"symbol,quantity,underlying,option_type,strike,expiry\n{SPY_CALL},1,,,,\nmy call,1,SPY,call,600,2025-12-19\n",
        f"book.csv line 3: duplicate symbol {SPY_CALL} (first on line 2)",
    ),
    ("symbol,quantity\nAAPL,0\n", "book.csv line 2: quantity 0 must be a non-zero number"),
    ("symbol,quantity\nAAPL,-0.0\n", "book.csv line 2: quantity -0.0 must be a non-zero number"),
    ("symbol,quantity\nAAPL,ten\n", "book.csv line 2: quantity 'ten' is not a number"),
    ("symbol,quantity\nAAPL,1_000\n", "book.csv line 2: quantity '1_000' is not a number"),
    ("symbol,quantity\nAAPL,nan\n", "book.csv line 2: quantity 'nan' is not a number"),
    ("symbol,quantity\nAAPL,inf\n", "book.csv line 2: quantity 'inf' is not a number"),
    ("symbol,quantity\nAAPL,\n", "book.csv line 2: quantity is missing"),
    ("symbol,quantity\nAAPL,1e12\n", "book.csv line 2: quantity 1e12 is too large"),
    ("symbol,quantity\nAAPL,0.000000001\n", "quantity 0.000000001 has more than 8 decimal places"),
    (
        "symbol,quantity,cost_basis\nAAPL,1,-3\n",
        "book.csv line 2: cost_basis -3 must be a number >= 0",
    ),
    ("symbol,quantity\naapl,1\n", "book.csv line 2: symbol 'aapl' is not a ticker"),
    ("symbol,quantity\n,1\n", "book.csv line 2: symbol is missing"),
    ("symbol,quantity\nO:SPY,1\n", "book.csv line 2: symbol 'O:SPY' is not an OCC option ticker"),
    ("symbol,quantity,multiplier\nAAPL,1,100\n", "book.csv line 2: multiplier is only for options"),
    (
        "symbol,quantity,implied_vol\nAAPL,1,0.2\n",
        "book.csv line 2: implied_vol is only for options",
    ),
    (
        "symbol,quantity,asset_type\nAAPL,1,bond\n",
        "book.csv line 2: asset_type 'bond' must be one of",
    ),
    (
        f"symbol,quantity,asset_type\n{SPY_CALL},1,stock\n",
        "book.csv line 2: asset_type stock does not fit an option row",
    ),
    (
        "symbol,quantity,asset_type\nXYZ,1,option\n",
        "book.csv line 2: underlying is missing (an option row needs underlying, option_type, strike and expiry",
    ),
    (
        "symbol,quantity,underlying,strike,expiry\nX,1,SPY,600,2025-12-19\n",
        "book.csv line 2: option_type is missing",
    ),
    (
        "symbol,quantity,underlying,option_type,expiry\nX,1,SPY,call,2025-12-19\n",
        "book.csv line 2: strike is missing",
    ),
    (
        "symbol,quantity,underlying,option_type,strike\nX,1,SPY,call,600\n",
        "book.csv line 2: expiry is missing",
    ),
    (
        "symbol,quantity,underlying,option_type,strike,expiry\nX,1,SPY,straddle,600,2025-12-19\n",
        "book.csv line 2: option_type 'straddle' must be call or put",
    ),
    (
        "symbol,quantity,underlying,option_type,strike,expiry\nX,1,SPY,call,0,2025-12-19\n",
        "book.csv line 2: strike 0 must be a number > 0",
    ),
    (
        "symbol,quantity,underlying,option_type,strike,expiry\nX,1,SPY,call,600,19/12/2025\n",
        "book.csv line 2: expiry '19/12/2025' is not an ISO date",
    ),
    (
        f"symbol,quantity,strike\n{SPY_CALL},1,650\n",
        f"book.csv line 2: strike 650 does not match the ticker {SPY_CALL}, which encodes 600",
    ),
    (
        f"symbol,quantity,option_type\n{SPY_CALL},1,put\n",
        f"book.csv line 2: option_type put does not match the ticker {SPY_CALL}",
    ),
    (
        "symbol,quantity\nO:SPY241220C00600000,1\n",
        "book.csv line 2: the option expired on 2024-12-20, before the book date 2025-01-02",
    ),
    (
        f"symbol,quantity\n{SPY_CALL},1.5\n",
        "book.csv line 2: quantity 1.5 must be a whole number of contracts",
    ),
    (
        f"symbol,quantity,multiplier\n{SPY_CALL},1,0\n",
        "book.csv line 2: multiplier '0' must be a whole number from 1 to 1,000,000",
    ),
    (
        f"symbol,quantity,multiplier\n{SPY_CALL},1,2.5\n",
        "book.csv line 2: multiplier '2.5' must be a whole number",
    ),
    (
        f"symbol,quantity,implied_vol\n{SPY_CALL},1,20\n",
        "book.csv line 2: implied_vol '20' must be a number in (0, 5]",
    ),
    (
        "symbol,quantity,underlying,option_type,strike,expiry\nX,1,GOOGLEX,call,100,2025-12-19\n",
        "book.csv line 2: the option has no OCC ticker",
    ),
    (
        "symbol,quantity,underlying,option_type,strike,expiry\nX,1,SPY,call,100.0005,2025-12-19\n",
        "book.csv line 2: the option has no OCC ticker",
    ),
    (
        "symbol,quantity\nCASH,100\nCASH,200\n",
        "book.csv line 3: a second CASH row (the first is on line 2)",
    ),
    (
        "symbol,quantity,cost_basis\nCASH,100,1\n",
        "book.csv line 2: the CASH row takes only an amount",
    ),
    ("symbol,quantity\nCASH,lots\n", "book.csv line 2: quantity 'lots' is not a number"),
    ("symbol,quantity\nAAPL,1,2\n", "book.csv line 2: 3 fields, the header has 2"),
    ("symbol\nAAPL\n", "book.csv line 1: bad header (missing column(s) quantity)"),
    (
        "sym,qty\nAAPL,1\n",
        "book.csv line 1: bad header (missing column(s) symbol, quantity; unknown column(s) 'sym', 'qty')",
    ),
    (
        "symbol,quantity,quantity\nAAPL,1,1\n",
        "book.csv line 1: bad header (duplicate column(s) 'quantity')",
    ),
    (
        "symbol,quantity,\nAAPL,1,\n",
        "book.csv line 1: bad header (a column without a name (a trailing comma?))",
    ),
    ("symbol,quantity\n", "book.csv: no data rows after the header"),
    ("symbol,quantity\n\n\n", "book.csv: no data rows after the header"),
    ("", "book.csv: the file is empty (expected the header 'symbol,quantity[,asset_type"),
    ("  \r\n\n", "book.csv: the file is empty"),
    (b"\xef\xbb\xbf", "book.csv: the file is empty"),
]


@pytest.mark.parametrize(("text", "message"), POSITION_ERRORS)
def test_bad_positions_files_are_rejected_by_line(text, message):
    assert message in rejection(positions, text)


def test_every_problem_is_one_line_and_the_list_is_capped():
    body = "".join(f"AAPL{i},0\n" for i in range(30))
    message = rejection(positions, "symbol,quantity\n" + body)
    lines = message.splitlines()
    assert len(lines) == 21
    assert lines[0] == "book.csv line 2: quantity 0 must be a non-zero number (short: negative)"
    assert lines[19].startswith("book.csv line 21: ")
    assert lines[20] == "... and 10 more problems"


def test_problems_come_in_line_order_with_every_problem_of_a_line():
    message = rejection(positions, "symbol,quantity,cost_basis\nAAPL,1\naapl,0,-1\n")
    assert message.splitlines() == [
        "book.csv line 3: quantity 0 must be a non-zero number (short: negative)",
        "book.csv line 3: cost_basis -1 must be a number >= 0 (the average cost per unit)",
        "book.csv line 3: symbol 'aapl' is not a ticker (1-32 characters A-Z 0-9 . -) or an O: option ticker",
    ]


# ---- hostile input -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "book.csv line 1: not UTF-8 text (byte 0x89)"),
        (b"symbol,quantity\nAAPL,1\n\xff\xfe", "book.csv line 3: not UTF-8 text (byte 0xff)"),
        (b"symbol,quantity\nAA\x00PL,1\n", "book.csv line 2: contains a NUL byte"),
        (b"symbol,quantity\rAAPL,1\r\x00\r", "book.csv line 3: contains a NUL byte"),
        (b"symbol,quantity\r\nAAPL,1\r\xc3", "book.csv line 3: not UTF-8 text (byte 0xc3)"),
        (
            b"symbol,quantity," + b"," * 100_000 + b"\nAAPL,1\n",
            "book.csv line 1: bad header (a column",
        ),
        (
            b"symbol,quantity\n" + b"A" * 200_000 + b",1\n",
            "book.csv line 2: not a readable CSV row",
        ),
        (
            b"symbol,quantity\n" + b"," * 100_000 + b"\n",
            "book.csv line 2: 100001 fields, the header has 2",
        ),
        (b"symbol,quantity\nAAPL," + b"9" * 5000 + b"\n", "book.csv line 2: quantity 9999999999"),
        (
            b"symbol,quantity\nAAPL,1e999999999\n",
            "book.csv line 2: quantity '1e999999999' is not a number",
        ),
        (b"symbol,quantity\n" + b"X" * 5000 + b",1\n", "book.csv line 2: symbol 'XXXXXXXX"),
        (
            b"symbol," + b"q" * 5000 + b"\nAAPL,1\n",
            "book.csv line 1: bad header (missing column(s) quantity",
        ),
    ],
    ids=[
        "png",
        "latin1",
        "nul",
        "nul after CR",
        "cut UTF-8",
        "wide header",
        "long field",
        "many fields",
        "long number",
        "huge exponent",
        "long symbol",
        "long header",
    ],
)
def test_hostile_files_give_short_clean_errors(data, message):
    error = rejection(positions, data)
    assert error.startswith(message), error
    assert all(len(line) < 300 for line in error.splitlines())


# ---- trades --------------------------------------------------------------------------------
TRADES_HEADER = "portfolio,trade_date,symbol,quantity,price,fees,trade_id"


def test_trades_are_parsed_with_lines_fees_ids_and_options():
    parsed = trades(
        f"{TRADES_HEADER},underlying,option_type,strike,expiry\n"
        "LO_CORE,2025-01-03,AAPL,100,150.5,1.25,T1\n"
        "LO_CORE,2025-01-03,AAPL,100,150.5,,\n"
        f"LS.2,2025-01-06,{SPY_CALL},-2,4.10,0.65,T1,,,,\n"
        "LS.2,2025-01-06,spy put,1,3,,,SPY,put,580,2025-06-20\n"
    )
    assert [t.line for t in parsed] == [2, 3, 4, 5]
    assert [t.trade for t in parsed] == [
        TradeSpec(
            "LO_CORE",
            dt.date(2025, 1, 3),
            "AAPL",
            Decimal(100),
            Decimal("150.5"),
            Decimal("1.25"),
            "T1",
        ),
        TradeSpec("LO_CORE", dt.date(2025, 1, 3), "AAPL", Decimal(100), Decimal("150.5")),
        TradeSpec(
            "LS.2",
            dt.date(2025, 1, 6),
            SPY_CALL,
            Decimal(-2),
            Decimal("4.10"),
            Decimal("0.65"),
            "T1",
            SPY_CALL_TERMS,
        ),
        TradeSpec(
            "LS.2",
            dt.date(2025, 1, 6),
            "O:SPY250620P00580000",
            Decimal(1),
            Decimal(3),
            option=OptionSpec("SPY", "put", Decimal(580), dt.date(2025, 6, 20)),
        ),
    ]


def test_a_trade_on_today_and_at_price_zero_is_accepted():
    parsed = trades(f"{TRADES_HEADER}\nP,{TODAY},AAPL,-1,0,0,\n")
    assert parsed[0].trade.price == 0 and parsed[0].trade.trade_date == TODAY


TRADE_ERRORS = [
    (
        f"{TRADES_HEADER}\nP,2025-13-01,AAPL,1,1,,\n",
        "book.csv line 2: trade_date '2025-13-01' is not an ISO date (YYYY-MM-DD)",
    ),
    (
        f"{TRADES_HEADER}\nP,2025/01/02,AAPL,1,1,,\n",
        "book.csv line 2: trade_date '2025/01/02' is not an ISO date",
    ),
    (f"{TRADES_HEADER}\nP,,AAPL,1,1,,\n", "book.csv line 2: trade_date is missing"),
    (
        f"{TRADES_HEADER}\nP,2025-06-03,AAPL,1,1,,\n",
        "book.csv line 2: trade_date 2025-06-03 is in the future (today is 2025-06-02)",
    ),
    (
        f"{TRADES_HEADER}\nP,2025-01-02,AAPL,1,-1,,\n",
        "book.csv line 2: price -1 must be a number >= 0",
    ),
    (
        f"{TRADES_HEADER}\nP,2025-01-02,AAPL,1,1,-0.5,\n",
        "book.csv line 2: fees -0.5 must be a number >= 0",
    ),
    (
        f"{TRADES_HEADER}\nP,2025-01-02,AAPL,0,1,,\n",
        "book.csv line 2: quantity 0 must be a non-zero number (buy +, sell -)",
    ),
    (f"{TRADES_HEADER}\nP,2025-01-02,AAPL,1,$5,,\n", "book.csv line 2: price '$5' is not a number"),
    (f"{TRADES_HEADER}\nP,2025-01-02,AAPL,1,,,\n", "book.csv line 2: price is missing"),
    (f"{TRADES_HEADER}\n,2025-01-02,AAPL,1,1,,\n", "book.csv line 2: portfolio is missing"),
    (
        f"{TRADES_HEADER}\nmy book,2025-01-02,AAPL,1,1,,\n",
        "book.csv line 2: portfolio 'my book' is not a portfolio id",
    ),
    (f"{TRADES_HEADER}\nP,2025-01-02,AAPL,1,1,,{'x' * 65}\n", "book.csv line 2: trade_id 'xxxx"),
    (
        f"{TRADES_HEADER}\nP,2025-01-02,AAPL,1,1,,A\nP,2025-01-03,MSFT,1,1,,A\n",
        "book.csv line 3: duplicate trade_id 'A' of portfolio P (first on line 2)",
    ),
    (
        f"{TRADES_HEADER}\nP,2025-01-02,AAPL,1,1.0,,\nP,2025-01-02,AAPL,1.00,1,2,\n",
        "book.csv line 3: the same trade as line 2",
    ),
    (
        f"{TRADES_HEADER}\nP,2025-01-02,O:SPY241231C00600000,1,1,,\n",
        "book.csv line 2: the option expired on 2024-12-31, before the trade date 2025-01-02",
    ),
    (
        f"{TRADES_HEADER}\nP,2025-01-02,{SPY_CALL},0.5,1,,\n",
        "book.csv line 2: quantity 0.5 must be a whole number of contracts",
    ),
    (
        "portfolio,trade_date,symbol,quantity\nP,2025-01-02,AAPL,1\n",
        "book.csv line 1: bad header (missing column(s) price)",
    ),
    (
        "portfolio,trade_date,symbol,quantity,price,cost_basis\nP,2025-01-02,AAPL,1,1,1\n",
        "unknown column(s) 'cost_basis'",
    ),
    (TRADES_HEADER + "\n", "book.csv: no data rows after the header"),
    (
        "",
        "book.csv: the file is empty (expected the header 'portfolio,trade_date,symbol,quantity,price[,fees,trade_id",
    ),
]


@pytest.mark.parametrize(("text", "message"), TRADE_ERRORS)
def test_bad_trades_files_are_rejected_by_line(text, message):
    assert message in rejection(trades, text)


def test_the_same_fields_are_two_trades_when_their_ids_differ():
    parsed = trades(
        f"{TRADES_HEADER}\nP,2025-01-02,AAPL,1,1,,A\nP,2025-01-02,AAPL,1,1,,B\nQ,2025-01-02,AAPL,1,1,,A\n"
    )
    assert [t.trade.trade_id for t in parsed] == ["A", "B", "A"]


def _trade(line: int, portfolio: str, day: dt.date) -> TradeLine:
    return TradeLine(line, TradeSpec(portfolio, day, "AAPL", Decimal(1), Decimal(1)))


def test_trades_against_books():
    first = dt.date(2025, 1, 2)
    ids = {"A": 1, "B": 2}
    books = {1: first}
    # On the first book's date or later: fine.
    check_trades_against_books(
        [_trade(2, "A", first), _trade(3, "A", dt.date(2025, 3, 1))], ids, books, source=SOURCE
    )
    with pytest.raises(InputError) as info:
        check_trades_against_books(
            [
                _trade(2, "A", first),
                _trade(3, "A", dt.date(2024, 12, 31)),
                _trade(4, "B", first),
                _trade(5, "NOPE", first),
            ],
            ids,
            books,
            source=SOURCE,
        )
    assert str(info.value).splitlines() == [
        "book.csv line 3: trade_date 2024-12-31 is before the first book of portfolio A "
        "(2025-01-02); import a book dated on or before it first",
        "book.csv line 4: portfolio B has no book to apply the trade to; import one first "
        "(`sigmasight import positions FILE --portfolio ID --as-of D`)",
        "book.csv line 5: portfolio NOPE does not exist (import it first: `sigmasight import portfolios`)",
    ]


# ---- cash flows ----------------------------------------------------------------------------
def test_cash_flows_are_parsed():
    parsed = flows(
        "portfolio,date,amount\nA,2025-01-02,1000\nA,2025-01-03,-250.5\nB,2025-01-02,0\n"
    )
    assert parsed == (
        CashFlowLine(2, CashFlowSpec("A", dt.date(2025, 1, 2), Decimal(1000))),
        CashFlowLine(3, CashFlowSpec("A", dt.date(2025, 1, 3), Decimal("-250.5"))),
        CashFlowLine(4, CashFlowSpec("B", dt.date(2025, 1, 2), Decimal(0))),
    )


FLOW_ERRORS = [
    (
        "portfolio,date,amount\nA,2025-01-02,1\nA,2025-01-02,2\n",
        "book.csv line 3: a second flow of portfolio A on 2025-01-02 (first on line 2)",
    ),
    (
        "portfolio,date,amount\nA,2025-06-03,1\n",
        "book.csv line 2: date 2025-06-03 is in the future (today is 2025-06-02)",
    ),
    (
        "portfolio,date,amount\nA,2025-02-29,1\n",
        "book.csv line 2: date '2025-02-29' is not an ISO date",
    ),
    ("portfolio,date,amount\nA,2025-01-02,1,000\n", "book.csv line 2: 4 fields, the header has 3"),
    ("portfolio,date,amount\nA,2025-01-02,one\n", "book.csv line 2: amount 'one' is not a number"),
    ("portfolio,date,amount\nA,2025-01-02,\n", "book.csv line 2: amount is missing"),
    ("portfolio,date\nA,2025-01-02\n", "book.csv line 1: bad header (missing column(s) amount)"),
    ("portfolio,date,amount,note\nA,2025-01-02,1,x\n", "unknown column(s) 'note'"),
]


@pytest.mark.parametrize(("text", "message"), FLOW_ERRORS)
def test_bad_cash_flow_files_are_rejected_by_line(text, message):
    assert message in rejection(flows, text)


def test_cash_flow_portfolios_must_exist():
    parsed = flows("portfolio,date,amount\nA,2025-01-02,1\nB,2025-01-02,1\n")
    check_flow_portfolios(parsed[:1], {"A": 1}, source=SOURCE)
    with pytest.raises(InputError) as info:
        check_flow_portfolios(parsed, {"A": 1}, source=SOURCE)
    assert str(info.value) == (
        "book.csv line 3: portfolio B does not exist (import it first: `sigmasight import portfolios`)"
    )
