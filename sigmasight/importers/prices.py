"""Validate a prices CSV (FORMATS.md section 2) and turn it into a COPY payload.

Two shapes, detected from the header:

* long: ``symbol,date,open,high,low,close,volume[,adj_close]`` (columns in any order);
* wide: ``date,SYM1,SYM2,...``, each cell an adjusted close, empty meaning no print.

Validation is vectorised with pandas so a million rows take about a second. The long
shape's bytes go to PostgreSQL's COPY unchanged apart from two appended constant columns,
so the server does the number parsing once.
"""

import datetime as dt
import io
import re
import warnings

import numpy as np
import pandas as pd

from sigmasight.domain import InputError, PricePayload

LONG_REQUIRED = ("symbol", "date", "open", "high", "low", "close", "volume")
LONG_OPTIONAL = ("adj_close",)
PRICE_COLUMNS = ("open", "high", "low", "close", "adj_close")
#: Database column for each CSV column.
DB_COLUMN = {"date": "price_date"}
SYMBOL_RE = re.compile(r"^[A-Z0-9][A-Z0-9.:\-^=]{0,31}$")
MAX_REPORTED = 20


class _Problems:
    """Collects per-line problems and raises one InputError naming file, line and reason."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[tuple[int, str]] = []
        self.total = 0

    def add_mask(
        self, mask: "np.ndarray[tuple[int], np.dtype[np.bool_]]", reason: str, frame: pd.DataFrame
    ) -> None:
        hits = np.flatnonzero(mask)
        self.total += int(hits.size)
        for index in hits[:MAX_REPORTED]:
            # +2: one for the header line, one because file lines are 1-based.
            row = frame.iloc[int(index)]
            fields = {str(key): value for key, value in row.items()}
            self.items.append((int(index) + 2, reason.format(**fields)))

    def raise_if_any(self) -> None:
        if not self.items:
            return
        self.items.sort()
        lines = [
            f"{self.source} line {line}: {reason}" for line, reason in self.items[:MAX_REPORTED]
        ]
        more = self.total - min(len(self.items), MAX_REPORTED)
        if more > 0:
            lines.append(f"... and {more} more problems")
        raise InputError("\n".join(lines))


def _fail(source: str, reason: str) -> InputError:
    return InputError(f"{source}: {reason}")


def parse_prices_csv(data: bytes, *, source: str, today: dt.date) -> PricePayload:
    """Validate a prices CSV in either shape; all-or-nothing.

    Raises
    ------
    InputError
        Naming the file, the line and the reason for each bad row (up to 20).
    """
    data = _normalised(data.removeprefix(b"\xef\xbb\xbf"), source)
    header_line = data[: data.index(b"\n")].decode()
    header = [name.strip().lower() for name in header_line.split(",")]
    if header and header[0] == "date" and "symbol" not in header:
        return _parse_wide(data, header_line, source=source, today=today)
    # Long column names are matched without case or padding; COPY is given them explicitly.
    data = ",".join(header).encode() + data[data.index(b"\n") :]
    return _parse_long(data, header, source=source, today=today)


def _normalised(data: bytes, source: str) -> bytes:
    """UTF-8 text with LF line ends and no trailing blank lines; problems by line number.

    A blank line inside the data, a byte that is not UTF-8 (never echoed back) and a row with
    more fields than the header are named with their line before pandas or COPY sees them.
    """
    if not data.strip():
        raise _fail(source, "the file is empty")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise _fail(source, f"line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x})") from None
    lines = data.replace(b"\r\n", b"\n").split(b"\n")
    while lines and not lines[-1].strip():
        lines.pop()
    problems = [
        f"{source} line {number}: blank line"
        for number, line in enumerate(lines, start=1)
        if not line.strip()
    ]
    width = lines[0].count(b",")
    problems += [
        f"{source} line {number}: {line.count(b',') + 1} fields, the header has {width + 1}"
        for number, line in enumerate(lines[1:], start=2)
        if line.count(b",") > width and b'"' not in line
    ]
    if problems:
        more = len(problems) - MAX_REPORTED
        raise InputError(
            "\n".join(
                problems[:MAX_REPORTED] + ([f"... and {more} more problems"] if more > 0 else [])
            )
        )
    return b"\n".join(lines) + b"\n"


def _check_header_long(header: list[str], source: str) -> None:
    missing = [name for name in LONG_REQUIRED if name not in header]
    unknown = [name for name in header if name not in LONG_REQUIRED + LONG_OPTIONAL]
    if missing or unknown or len(set(header)) != len(header):
        parts = []
        if missing:
            parts.append(f"missing column(s) {', '.join(missing)}")
        if unknown:
            parts.append(f"unknown column(s) {', '.join(unknown)}")
        if len(set(header)) != len(header):
            parts.append("duplicate column names")
        raise _fail(
            source,
            "line 1: bad header ("
            + "; ".join(parts)
            + "); expected symbol,date,open,high,low,close,volume[,adj_close] or date,SYM1,SYM2,...",
        )


def _read(data: bytes, dtypes: dict[str, str], source: str) -> pd.DataFrame:
    try:
        with warnings.catch_warnings():
            # A row with more fields than the header only warns (and loses data) otherwise.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return pd.read_csv(
                io.BytesIO(data),
                dtype=dtypes,
                index_col=False,
                keep_default_na=False,
                na_values={name: [""] for name, kind in dtypes.items() if kind != "str"},
            )
    except pd.errors.ParserWarning:
        raise _SlowPath("a row has more fields than the header") from None
    except (ValueError, pd.errors.ParserError) as exc:
        raise _SlowPath(str(exc).strip()) from None


class _SlowPath(Exception):
    """The fast typed read failed; find the exact bad cells with a string read."""


def _read_strings(data: bytes, columns: list[str], source: str) -> pd.DataFrame:
    try:
        return _read(data, dict.fromkeys(columns, "str"), source)
    except _SlowPath as exc:
        raise _fail(source, f"not a readable CSV ({exc})") from None


def _numeric(frame: pd.DataFrame, columns: list[str], problems: _Problems) -> pd.DataFrame:
    """Convert string columns to float, reporting cells that are not numbers."""
    out = frame.copy()
    for name in columns:
        raw = frame[name]
        values = pd.to_numeric(raw.where(raw != "", None), errors="coerce")
        bad = values.isna().to_numpy() & (raw != "").to_numpy()
        problems.add_mask(bad, f"{name} {{{name}!r}} is not a number", frame)
        problems.add_mask(
            np.isinf(values.to_numpy(dtype=np.float64)), f"{name} {{{name}!r}} is not finite", frame
        )
        out[name] = values
    return out


def _parse_long(data: bytes, header: list[str], *, source: str, today: dt.date) -> PricePayload:
    _check_header_long(header, source)
    numeric = [name for name in header if name not in ("symbol", "date")]
    problems = _Problems(source)
    try:
        frame = _read(
            data, {"symbol": "str", "date": "str"} | dict.fromkeys(numeric, "float64"), source
        )
    except _SlowPath:
        raw = _read_strings(data, header, source)
        frame = _numeric(raw, numeric, problems)
        problems.raise_if_any()
    if frame.empty:
        raise _fail(source, "no data rows after the header")
    _validate(frame, problems, today=today)
    problems.raise_if_any()
    columns = tuple(DB_COLUMN.get(name, name) for name in header)
    dates = frame["date"]
    return PricePayload(
        columns=columns,
        update_columns=tuple(name for name in columns if name not in ("symbol", "price_date")),
        csv=data,
        has_header=True,
        n_rows=len(frame),
        n_symbols=int(frame["symbol"].nunique()),
        first_date=dt.date.fromisoformat(str(dates.min())),
        last_date=dt.date.fromisoformat(str(dates.max())),
    )


def _parse_wide(data: bytes, header_line: str, *, source: str, today: dt.date) -> PricePayload:
    symbols = [name.strip() for name in header_line.split(",")[1:]]
    bad = [name for name in symbols if not SYMBOL_RE.fullmatch(name)]
    if not symbols or bad or len(set(symbols)) != len(symbols):
        reason = (
            f"bad symbol column(s) {', '.join(map(repr, bad))}"
            if bad
            else "no or duplicate symbol columns"
        )
        raise _fail(source, f"line 1: {reason}")
    problems = _Problems(source)
    raw = _read_strings(data, ["date", *symbols], source)
    raw.columns = pd.Index(["date", *symbols])
    frame = _numeric(raw, symbols, problems)
    problems.raise_if_any()
    if frame.empty:
        raise _fail(source, "no data rows after the header")
    _check_dates(frame, problems, today=today)
    for symbol in symbols:
        values = frame[symbol].to_numpy(dtype=np.float64)
        mask = ~np.isnan(values) & ~(values > 0)
        problems.add_mask(mask, f"{symbol} price {{{symbol}}} is not positive", frame)
    dup = frame["date"].duplicated(keep="first").to_numpy()
    problems.add_mask(dup, "duplicate date {date}", frame)
    problems.raise_if_any()
    long = frame.melt(id_vars="date", var_name="symbol", value_name="close").dropna(
        subset=["close"]
    )
    if long.empty:
        raise _fail(source, "every price cell is empty")
    long["adj_close"] = long["close"]
    long = long[["symbol", "date", "close", "adj_close"]]
    payload = long.to_csv(index=False, header=False, float_format="%.10g").encode()
    return PricePayload(
        columns=("symbol", "price_date", "close", "adj_close"),
        update_columns=("adj_close",),
        csv=payload,
        has_header=False,
        n_rows=len(long),
        n_symbols=int(long["symbol"].nunique()),
        first_date=dt.date.fromisoformat(str(long["date"].min())),
        last_date=dt.date.fromisoformat(str(long["date"].max())),
    )


def _check_dates(frame: pd.DataFrame, problems: _Problems, *, today: dt.date) -> None:
    parsed = pd.to_datetime(frame["date"], format="%Y-%m-%d", errors="coerce")
    bad = parsed.isna().to_numpy() | (frame["date"].str.len() != 10).to_numpy()
    problems.add_mask(bad, "date {date!r} is not an ISO date (YYYY-MM-DD)", frame)
    future = (parsed > pd.Timestamp(today)).to_numpy()
    problems.add_mask(future, f"date {{date}} is in the future (today is {today})", frame)


def _validate(frame: pd.DataFrame, problems: _Problems, *, today: dt.date) -> None:
    symbols = frame["symbol"]
    bad_symbol = ~symbols.str.fullmatch(SYMBOL_RE.pattern, na=False).to_numpy()
    problems.add_mask(bad_symbol, "symbol {symbol!r} is not a ticker (A-Z, 0-9, . - : ^ =)", frame)
    _check_dates(frame, problems, today=today)
    close = frame["close"].to_numpy(dtype=np.float64)
    problems.add_mask(np.isnan(close), "close is missing", frame)
    for name in PRICE_COLUMNS:
        if name in frame:
            values = frame[name].to_numpy(dtype=np.float64)
            # inf, Infinity and 1e400 (which overflows to inf) are not prices
            problems.add_mask(np.isinf(values), f"{name} {{{name}}} is not finite", frame)
            problems.add_mask(
                ~np.isnan(values) & ~(values > 0), f"{name} {{{name}}} is not positive", frame
            )
    high = frame["high"].to_numpy(dtype=np.float64)
    low = frame["low"].to_numpy(dtype=np.float64)
    problems.add_mask(high < low, "high {high} < low {low}", frame)
    volume = frame["volume"].to_numpy(dtype=np.float64)
    problems.add_mask(np.isinf(volume), "volume {volume} is not finite", frame)
    problems.add_mask(volume < 0, "volume {volume} is negative", frame)
    whole = np.isnan(volume) | (volume == np.floor(volume))
    problems.add_mask(~whole, "volume {volume} is not a whole number", frame)
    dup = frame.duplicated(subset=["symbol", "date"], keep="first").to_numpy()
    problems.add_mask(dup, "duplicate row for {symbol} on {date}", frame)
