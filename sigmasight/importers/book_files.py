"""Validate broker-style book files (FORMATS.md section 7): positions, trades and cash flows.

Three CSV kinds, columns in any order, names matched without case or padding:

* positions: ``symbol,quantity`` plus optional ``asset_type,underlying,option_type,strike,
  expiry,multiplier,implied_vol,cost_basis``; the row ``CASH,<amount>`` (the amount in the
  quantity column) sets the book's cash, and a file without one has cash 0;
* trades: ``portfolio,trade_date,symbol,quantity,price`` plus optional ``fees,trade_id`` and
  the option columns above;
* cash flows: ``portfolio,date,amount`` (deposit positive, withdrawal negative).

An option row is one with an ``O:`` ticker, ``asset_type`` ``option`` or any of
``underlying,option_type,strike,expiry``; it is stored under its OCC ticker, built from the
fields when the symbol is a broker's own label. Fields given next to an ``O:`` ticker must
agree with it.

Everything is checked before anything is returned; problems are reported as
``<file> line <n>: <reason>``, one per line, up to 20. Nothing here touches the database:
the checks that need it (does the portfolio exist, is there a book before the trade) take
what the caller looked up.
"""

import csv
import datetime as dt
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from sigmasight.domain import (
    CashFlowSpec,
    InputError,
    OccParts,
    OptionRight,
    OptionSpec,
    PositionSpec,
    TradeSpec,
    occ_ticker,
    parse_occ,
)
from sigmasight.importers.bundle import (
    ASSET_TYPES,
    MAX_MAGNITUDE,
    MAX_MULTIPLIER,
    PORTFOLIO_ID_RE,
    STORED_STEP,
    SYMBOL_RE,
)

MAX_REPORTED: Final = 20
#: The symbol of the row that carries the book's cash (in the quantity column).
CASH_SYMBOL: Final = "CASH"
#: ``trade.trade_id`` is 64 characters.
MAX_TRADE_ID: Final = 64

OPTION_COLUMNS: Final = (
    "asset_type",
    "underlying",
    "option_type",
    "strike",
    "expiry",
    "multiplier",
    "implied_vol",
)
POSITION_REQUIRED: Final = ("symbol", "quantity")
POSITION_OPTIONAL: Final = (*OPTION_COLUMNS, "cost_basis")
TRADE_REQUIRED: Final = ("portfolio", "trade_date", "symbol", "quantity", "price")
TRADE_OPTIONAL: Final = ("fees", "trade_id", *OPTION_COLUMNS)
FLOW_REQUIRED: Final = ("portfolio", "date", "amount")

_RIGHTS: Final[dict[str, OptionRight]] = {"call": "call", "c": "call", "put": "put", "p": "put"}
_LINE_BREAK_RE: Final = re.compile(r"\r\n|\r|\n")
_ISO_DATE_RE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Stricter than Decimal(): no "nan", "inf", "1_000" or thousands separators.
_NUMBER_RE: Final = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,3})?$")
_WHOLE_RE: Final = re.compile(r"^\+?\d{1,9}$")
_PRINTABLE_RE: Final = re.compile(r"^[^\x00-\x1f\x7f]+$")
_OCC_HELP: Final = "O:<ROOT><YYMMDD><C|P><strike x 1000, 8 digits>"


@dataclass(frozen=True)
class PositionsFile:
    """A validated positions file: the whole book of one date."""

    cash: Decimal
    positions: tuple[PositionSpec, ...]
    #: The line of the ``CASH`` row; None when there is none (cash is then 0).
    cash_line: int | None = None


@dataclass(frozen=True)
class TradeLine:
    """A validated trade and the file line it came from."""

    line: int
    trade: TradeSpec


@dataclass(frozen=True)
class CashFlowLine:
    """A validated external cash flow and the file line it came from."""

    line: int
    flow: CashFlowSpec


def _cut(text: str) -> str:
    """A cell cut short enough for a one-line message."""
    return text if len(text) <= 40 else text[:37] + "..."


def _show(text: str) -> str:
    """A cell as it may appear in a message: quoted and cut short."""
    return repr(_cut(text))


class _Problems:
    """Per-line problems, raised as one InputError of ``<file> line <n>: <reason>`` lines."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[tuple[int, str]] = []

    def add(self, line: int, reason: str) -> None:
        self.items.append((line, reason))

    def raise_if_any(self) -> None:
        if not self.items:
            return
        # Stable: the problems of one line keep the order they were found in.
        self.items.sort(key=lambda item: item[0])
        lines = [f"{self.source} line {n}: {reason}" for n, reason in self.items[:MAX_REPORTED]]
        more = len(self.items) - MAX_REPORTED
        if more > 0:
            lines.append(f"... and {more} more problem{'s' if more > 1 else ''}")
        raise InputError("\n".join(lines))


@dataclass(frozen=True)
class _Row:
    line: int
    cells: dict[str, str]

    def __getitem__(self, name: str) -> str:
        return self.cells.get(name, "")


def _line_of(text: str, position: int) -> int:
    """The 1-based line of ``position``, counting line breaks as the rows are split."""
    return len(_LINE_BREAK_RE.findall(text, 0, position)) + 1


def _text(data: bytes, source: str, expected: str) -> list[str]:
    """The file's lines as text (BOM, CRLF and CR handled); a binary file is one clean error."""
    data = data.removeprefix(b"\xef\xbb\xbf")
    if not data.strip():
        raise InputError(f"{source}: the file is empty (expected the header {expected!r})")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = _line_of(data[: exc.start].decode("utf-8"), exc.start)
        # The byte is named, never the text around it.
        raise InputError(
            f"{source} line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x}); "
            "is this a CSV file?"
        ) from None
    nul = text.find("\x00")
    if nul >= 0:
        line = _line_of(text, nul)
        raise InputError(f"{source} line {line}: contains a NUL byte; is this a CSV file?")
    return _LINE_BREAK_RE.split(text)


def _read(
    data: bytes,
    source: str,
    *,
    required: Sequence[str],
    optional: Sequence[str],
) -> list[_Row]:
    """Check the header and split the data rows into cells; blank lines are skipped."""
    expected = ",".join(required) + (f"[,{','.join(optional)}]" if optional else "")
    lines = _text(data, source, expected)
    problems = _Problems(source)
    try:
        header = [name.strip().lower() for name in next(csv.reader([lines[0]]))]
    except csv.Error as exc:
        raise InputError(f"{source} line 1: not a readable CSV header ({exc})") from None
    known = {*required, *optional}
    missing = [name for name in required if name not in header]
    unknown = [name for name in header if name and name not in known]
    duplicated = sorted(name for name, n in Counter(header).items() if n > 1 and name)
    if missing or unknown or duplicated or "" in header:
        parts = []
        if missing:
            parts.append(f"missing column(s) {', '.join(missing)}")
        if unknown:
            shown = ", ".join(_show(name) for name in unknown[:5])
            parts.append(f"unknown column(s) {shown}{', ...' if len(unknown) > 5 else ''}")
        if "" in header:
            parts.append("a column without a name (a trailing comma?)")
        if duplicated:
            parts.append(f"duplicate column(s) {', '.join(_show(n) for n in duplicated[:5])}")
        raise InputError(f"{source} line 1: bad header ({'; '.join(parts)}); expected {expected}")
    rows: list[_Row] = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        try:
            cells = [cell.strip() for cell in next(csv.reader([line]))]
        except csv.Error as exc:
            problems.add(number, f"not a readable CSV row ({exc})")
            continue
        if len(cells) > len(header):
            problems.add(number, f"{len(cells)} fields, the header has {len(header)}")
            continue
        # A short row (a CASH row in a wide file, say) leaves the remaining cells empty.
        rows.append(_Row(number, dict(zip(header, cells, strict=False))))
    problems.raise_if_any()
    if not rows:
        raise InputError(f"{source}: no data rows after the header")
    return rows


def _decimal(text: str) -> Decimal | None:
    return Decimal(text) if _NUMBER_RE.fullmatch(text) else None


def _stored(
    problems: _Problems,
    row: _Row,
    name: str,
    *,
    rule: str,
    ok: Callable[[Decimal], bool],
    required: bool = True,
) -> Decimal | None:
    """A numeric(20, 8) cell: a plain number that is ``ok``, below 1e12, at most 8 decimals."""
    text = row[name]
    if not text:
        if required:
            problems.add(row.line, f"{name} is missing ({rule})")
        return None
    value = _decimal(text)
    if value is None:
        problems.add(row.line, f"{name} {_show(text)} is not a number")
        return None
    if not ok(value):
        problems.add(row.line, f"{name} {_cut(text)} must be {rule}")
        return None
    if abs(value) >= MAX_MAGNITUDE:
        problems.add(row.line, f"{name} {_cut(text)} is too large (magnitude must be below 1e12)")
        return None
    if value != value.quantize(STORED_STEP):
        # Stored with 8 decimals: anything finer would be rounded away.
        problems.add(row.line, f"{name} {_cut(text)} has more than 8 decimal places")
        return None
    return value


def _date(problems: _Problems, row: _Row, name: str) -> dt.date | None:
    text = row[name]
    if not text:
        problems.add(row.line, f"{name} is missing (YYYY-MM-DD)")
        return None
    if _ISO_DATE_RE.fullmatch(text):
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            pass
    problems.add(row.line, f"{name} {_show(text)} is not an ISO date (YYYY-MM-DD)")
    return None


def _portfolio(problems: _Problems, row: _Row) -> str | None:
    text = row["portfolio"]
    if not text:
        problems.add(row.line, "portfolio is missing (the portfolio's id)")
        return None
    if not PORTFOLIO_ID_RE.fullmatch(text):
        problems.add(
            row.line,
            f"portfolio {_show(text)} is not a portfolio id (1-64 characters A-Z a-z 0-9 _ . -)",
        )
        return None
    return text


def _not_future(
    problems: _Problems, row: _Row, name: str, day: dt.date | None, today: dt.date
) -> None:
    if day is not None and day > today:
        problems.add(row.line, f"{name} {day} is in the future (today is {today})")


def _instrument(
    problems: _Problems, row: _Row, *, not_before: dt.date, what: str
) -> tuple[str, OptionSpec | None] | None:
    """The symbol to store and the option terms of a row; None when a problem was recorded."""
    before = len(problems.items)
    symbol = row["symbol"]
    asset_type = row["asset_type"].lower()
    if asset_type and asset_type not in ASSET_TYPES:
        problems.add(
            row.line, f"asset_type {_show(asset_type)} must be one of {', '.join(ASSET_TYPES)}"
        )
    occ = parse_occ(symbol) if symbol.startswith("O:") else None
    if symbol.startswith("O:") and occ is None:
        problems.add(row.line, f"symbol {_show(symbol)} is not an OCC option ticker ({_OCC_HELP})")
        return None
    is_option = (
        occ is not None
        or asset_type == "option"
        or any(row[name] for name in ("underlying", "option_type", "strike", "expiry"))
    )
    if not is_option:
        if not symbol:
            problems.add(row.line, "symbol is missing")
        elif not SYMBOL_RE.fullmatch(symbol):
            problems.add(
                row.line,
                f"symbol {_show(symbol)} is not a ticker (1-32 characters A-Z 0-9 . -) "
                "or an O: option ticker",
            )
        for name in ("multiplier", "implied_vol"):
            if row[name]:
                problems.add(
                    row.line,
                    f"{name} is only for options, and this row has no O: ticker, underlying, "
                    "option_type, strike or expiry",
                )
        return None if len(problems.items) > before else (symbol, None)
    if asset_type and asset_type != "option":
        problems.add(
            row.line,
            f"asset_type {asset_type} does not fit an option row (use option or leave it empty)",
        )
    option = _option(problems, row, occ, not_before=not_before, what=what)
    if option is None or len(problems.items) > before:
        return None
    ticker = occ_ticker(option.underlying, option.expiry, option.right, option.strike)
    if parse_occ(ticker) != OccParts(option.underlying, option.expiry, option.right, option.strike):
        problems.add(
            row.line,
            "the option has no OCC ticker (it needs a root of at most 6 characters A-Z 0-9 ., "
            "an expiry within 2000-2099 and a strike below 100,000 with at most 3 decimals)",
        )
        return None
    return ticker, option


def _option(
    problems: _Problems, row: _Row, occ: OccParts | None, *, not_before: dt.date, what: str
) -> OptionSpec | None:
    """Option terms from the cells, or from the O: ticker where a cell is empty."""
    before = len(problems.items)
    needs = "an option row needs underlying, option_type, strike and expiry, or an O: ticker"
    underlying = row["underlying"] or (occ.underlying if occ else "")
    if not underlying:
        problems.add(row.line, f"underlying is missing ({needs})")
    elif not SYMBOL_RE.fullmatch(underlying):
        problems.add(
            row.line,
            f"underlying {_show(underlying)} is not a ticker (1-32 characters A-Z 0-9 . -)",
        )
    right: OptionRight | None = occ.right if occ else None
    if row["option_type"]:
        right = _RIGHTS.get(row["option_type"].lower())
        if right is None:
            problems.add(row.line, f"option_type {_show(row['option_type'])} must be call or put")
    elif right is None:
        problems.add(row.line, f"option_type is missing ({needs})")
    strike = occ.strike if occ else None
    if row["strike"] or occ is None:
        strike = _stored(problems, row, "strike", rule="a number > 0", ok=lambda d: d > 0)
    expiry = occ.expiry if occ else None
    if row["expiry"] or occ is None:
        expiry = _date(problems, row, "expiry")
    multiplier = 100
    if row["multiplier"]:
        text = row["multiplier"]
        if not _WHOLE_RE.fullmatch(text) or not 0 < int(text) <= MAX_MULTIPLIER:
            problems.add(
                row.line,
                f"multiplier {_show(text)} must be a whole number from 1 to {MAX_MULTIPLIER:,}",
            )
        else:
            multiplier = int(text)
    implied_vol: float | None = None
    if row["implied_vol"]:
        vol = _decimal(row["implied_vol"])
        if vol is None or not 0 < vol <= 5:
            problems.add(
                row.line,
                f"implied_vol {_show(row['implied_vol'])} must be a number in (0, 5] "
                "(a fraction: 0.2 is 20%)",
            )
        else:
            implied_vol = float(vol)
    if len(problems.items) > before or right is None or strike is None or expiry is None:
        return None
    if occ is not None:
        given: tuple[tuple[str, object, object], ...] = (
            ("underlying", underlying, occ.underlying),
            ("option_type", right, occ.right),
            ("strike", strike, occ.strike),
            ("expiry", expiry, occ.expiry),
        )
        for name, value, encoded in given:
            if value != encoded:
                problems.add(
                    row.line,
                    f"{name} {value} does not match the ticker {row['symbol']}, "
                    f"which encodes {encoded}",
                )
        if len(problems.items) > before:
            return None
    if expiry < not_before:
        problems.add(row.line, f"the option expired on {expiry}, before {what} {not_before}")
        return None
    return OptionSpec(
        underlying=underlying,
        right=right,
        strike=strike,
        expiry=expiry,
        multiplier=multiplier,
        implied_vol=implied_vol,
    )


def _whole_contracts(
    problems: _Problems, row: _Row, quantity: Decimal, option: OptionSpec | None
) -> bool:
    if option is not None and quantity != quantity.to_integral_value():
        problems.add(
            row.line,
            f"quantity {_cut(row['quantity'])} must be a whole number of contracts for an option",
        )
        return False
    return True


def parse_positions_csv(data: bytes, *, source: str, book_date: dt.date) -> PositionsFile:
    """Validate a positions file as the whole book of ``book_date``; all-or-nothing.

    The ``CASH`` row's quantity is the book's cash; without one the cash is 0, because the
    file is the whole book of its date.
    """
    rows = _read(data, source, required=POSITION_REQUIRED, optional=POSITION_OPTIONAL)
    problems = _Problems(source)
    cash, cash_line = Decimal(0), None
    positions: list[PositionSpec] = []
    first_line: dict[str, int] = {}
    for row in rows:
        if row["symbol"].upper() == CASH_SYMBOL:
            extra = [n for n, cell in row.cells.items() if cell and n not in POSITION_REQUIRED]
            if cash_line is not None:
                problems.add(row.line, f"a second CASH row (the first is on line {cash_line})")
            elif extra:
                problems.add(
                    row.line,
                    "the CASH row takes only an amount in the quantity column, "
                    f"but also has {', '.join(extra)}",
                )
            else:
                cash_line = row.line
                amount = _stored(
                    problems, row, "quantity", rule="the cash amount", ok=lambda d: True
                )
                cash = amount if amount is not None else cash
            continue
        before = len(problems.items)
        quantity = _stored(
            problems,
            row,
            "quantity",
            rule="a non-zero number (short: negative)",
            ok=lambda d: d != 0,
        )
        cost = _stored(
            problems,
            row,
            "cost_basis",
            rule="a number >= 0 (the average cost per unit)",
            ok=lambda d: d >= 0,
            required=False,
        )
        instrument = _instrument(problems, row, not_before=book_date, what="the book date")
        if instrument is None or quantity is None or len(problems.items) > before:
            continue
        symbol, option = instrument
        if not _whole_contracts(problems, row, quantity, option):
            continue
        if symbol in first_line:
            problems.add(
                row.line, f"duplicate symbol {symbol} (first on line {first_line[symbol]})"
            )
            continue
        first_line[symbol] = row.line
        positions.append(PositionSpec(symbol, quantity, option, entry_price=cost))
    problems.raise_if_any()
    return PositionsFile(cash, tuple(positions), cash_line)


def parse_trades_csv(data: bytes, *, source: str, today: dt.date) -> tuple[TradeLine, ...]:
    """Validate a trades file; all-or-nothing. A trade repeated in the file is an error."""
    rows = _read(data, source, required=TRADE_REQUIRED, optional=TRADE_OPTIONAL)
    problems = _Problems(source)
    out: list[TradeLine] = []
    by_id: dict[tuple[str, str], int] = {}
    by_fields: dict[tuple[str, dt.date, str, Decimal, Decimal], int] = {}
    for row in rows:
        before = len(problems.items)
        portfolio = _portfolio(problems, row)
        day = _date(problems, row, "trade_date")
        _not_future(problems, row, "trade_date", day, today)
        quantity = _stored(
            problems, row, "quantity", rule="a non-zero number (buy +, sell -)", ok=lambda d: d != 0
        )
        price = _stored(problems, row, "price", rule="a number >= 0", ok=lambda d: d >= 0)
        fees = _stored(
            problems, row, "fees", rule="a number >= 0", ok=lambda d: d >= 0, required=False
        )
        trade_id = row["trade_id"] or None
        if trade_id is not None and (
            len(trade_id) > MAX_TRADE_ID or not _PRINTABLE_RE.fullmatch(trade_id)
        ):
            problems.add(
                row.line,
                f"trade_id {_show(trade_id)} must be 1-{MAX_TRADE_ID} printable characters",
            )
        instrument = _instrument(
            problems, row, not_before=day or dt.date.min, what="the trade date"
        )
        if (
            len(problems.items) > before
            or instrument is None
            or portfolio is None
            or day is None
            or quantity is None
            or price is None
        ):
            continue
        symbol, option = instrument
        if not _whole_contracts(problems, row, quantity, option):
            continue
        if trade_id is not None:
            first = by_id.setdefault((portfolio, trade_id), row.line)
            if first != row.line:
                problems.add(
                    row.line,
                    f"duplicate trade_id {_show(trade_id)} of portfolio {portfolio} "
                    f"(first on line {first})",
                )
                continue
        else:
            first = by_fields.setdefault((portfolio, day, symbol, quantity, price), row.line)
            if first != row.line:
                problems.add(
                    row.line,
                    f"the same trade as line {first} (portfolio, trade_date, symbol, quantity "
                    "and price); if both are real, give each a trade_id",
                )
                continue
        trade = TradeSpec(
            portfolio=portfolio,
            trade_date=day,
            symbol=symbol,
            quantity=quantity,
            price=price,
            fees=fees if fees is not None else Decimal(0),
            trade_id=trade_id,
            option=option,
        )
        out.append(TradeLine(row.line, trade))
    problems.raise_if_any()
    return tuple(out)


def parse_cash_flows_csv(data: bytes, *, source: str, today: dt.date) -> tuple[CashFlowLine, ...]:
    """Validate a cash flows file; all-or-nothing. Two flows of one portfolio and date are an error."""
    rows = _read(data, source, required=FLOW_REQUIRED, optional=())
    problems = _Problems(source)
    out: list[CashFlowLine] = []
    first_line: dict[tuple[str, dt.date], int] = {}
    for row in rows:
        before = len(problems.items)
        portfolio = _portfolio(problems, row)
        day = _date(problems, row, "date")
        _not_future(problems, row, "date", day, today)
        amount = _stored(
            problems,
            row,
            "amount",
            rule="a number (deposit +, withdrawal -)",
            ok=lambda d: True,
        )
        if len(problems.items) > before or portfolio is None or day is None or amount is None:
            continue
        first = first_line.setdefault((portfolio, day), row.line)
        if first != row.line:
            problems.add(
                row.line,
                f"a second flow of portfolio {portfolio} on {day} (first on line {first}); "
                "give one net amount per portfolio and date",
            )
            continue
        out.append(CashFlowLine(row.line, CashFlowSpec(portfolio, day, amount)))
    problems.raise_if_any()
    return tuple(out)


def check_trades_against_books(
    trades: Sequence[TradeLine],
    ids: Mapping[str, int],
    first_books: Mapping[int, dt.date],
    *,
    source: str,
) -> None:
    """Every trade's portfolio exists and has a book dated on or before the trade (C15)."""
    problems = _Problems(source)
    for item in trades:
        name, day = item.trade.portfolio, item.trade.trade_date
        portfolio_id = ids.get(name)
        if portfolio_id is None:
            problems.add(item.line, _no_portfolio(name))
        elif portfolio_id not in first_books:
            problems.add(
                item.line,
                f"portfolio {name} has no book to apply the trade to; import one first "
                "(`sigmasight import positions FILE --portfolio ID --as-of D`)",
            )
        elif day < first_books[portfolio_id]:
            problems.add(
                item.line,
                f"trade_date {day} is before the first book of portfolio {name} "
                f"({first_books[portfolio_id]}); import a book dated on or before it first",
            )
    problems.raise_if_any()


def check_flow_portfolios(
    flows: Sequence[CashFlowLine], ids: Mapping[str, int], *, source: str
) -> None:
    """Every flow's portfolio exists."""
    problems = _Problems(source)
    for item in flows:
        if item.flow.portfolio not in ids:
            problems.add(item.line, _no_portfolio(item.flow.portfolio))
    problems.raise_if_any()


def _no_portfolio(name: str) -> str:
    return f"portfolio {name} does not exist (import it first: `sigmasight import portfolios`)"
