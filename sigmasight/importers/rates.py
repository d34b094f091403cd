"""Validate a FRED-style rates CSV (FORMATS.md section 3) into (date, percent) pairs.

The header is ``date,value``; FRED's own downloads (``observation_date,DGS10``, and
``DATE,DGS10`` in older files) are read the same way. Values are in percent, and ``.``
or an empty cell means no observation that day (FRED's convention), which is skipped.
"""

import csv
import datetime as dt
import re
from typing import Final

from sigmasight.domain import InputError

MAX_REPORTED: Final = 20
VALUE_RANGE_PCT: Final = (-5.0, 50.0)
MISSING: Final = frozenset({"", "."})

_FRED_HEADER_RE: Final = re.compile(r"^(observation_date|DATE),[A-Za-z0-9_]+$")
_LINE_BREAK_RE: Final = re.compile(r"\r\n|\r|\n")
_ISO_DATE_RE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Stricter than float(): no "nan", "inf" or "1_000".
_NUMBER_RE: Final = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def _is_header(cells: list[str]) -> bool:
    joined = ",".join(cells)
    return joined == "date,value" or _FRED_HEADER_RE.fullmatch(joined) is not None


def _parse_date(text: str) -> dt.date | None:
    if not _ISO_DATE_RE.fullmatch(text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _raise(source: str, problems: list[tuple[int, str]]) -> None:
    lines = [f"{source} line {line}: {reason}" for line, reason in problems[:MAX_REPORTED]]
    more = len(problems) - MAX_REPORTED
    if more > 0:
        lines.append(f"... and {more} more problem{'s' if more > 1 else ''}")
    raise InputError("\n".join(lines))


def parse_rates_csv(text: str, *, source: str, today: dt.date) -> list[tuple[dt.date, float]]:
    """Validate a FRED-style ``date,value`` CSV; return (date, percent) pairs sorted by date."""
    # Only real line breaks count, so that reported line numbers match an editor's.
    lines = _LINE_BREAK_RE.split(text.removeprefix("\ufeff"))
    if not any(line.strip() for line in lines):
        raise InputError(f"{source} line 1: the file is empty (expected the header 'date,value')")
    header = [cell.strip() for cell in next(csv.reader([lines[0]]))]
    if not _is_header(header):
        raise InputError(
            f"{source} line 1: bad header {lines[0].strip()!r}; expected 'date,value' "
            "(or FRED's 'observation_date,<SERIES>')"
        )
    low, high = VALUE_RANGE_PCT
    problems: list[tuple[int, str]] = []
    first_line: dict[dt.date, int] = {}
    observations: list[tuple[dt.date, float]] = []
    n_rows = 0
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        n_rows += 1
        cells = [cell.strip() for cell in next(csv.reader([line]))]
        if len(cells) != 2:
            problems.append((number, f"expected 2 columns (date,value), got {len(cells)}"))
            continue
        raw_date, raw_value = cells
        day = _parse_date(raw_date)
        if day is None:
            problems.append((number, f"unparseable date {raw_date!r} (expected YYYY-MM-DD)"))
        elif day in first_line:
            problems.append((number, f"duplicate date {day} (first on line {first_line[day]})"))
            day = None
        else:
            first_line[day] = number
            if day > today:
                problems.append((number, f"date {day} is in the future (today is {today})"))
                day = None
        if raw_value in MISSING:
            continue
        if not _NUMBER_RE.fullmatch(raw_value):
            problems.append((number, f"value {raw_value!r} is not a number ('.' means missing)"))
            continue
        value = float(raw_value)
        if not low <= value <= high:
            problems.append((number, f"value {raw_value} is outside [{low:g}, {high:g}] percent"))
            continue
        if day is not None:
            observations.append((day, value))
    if problems:
        _raise(source, problems)
    if n_rows == 0:
        raise InputError(f"{source}: no data rows after the header")
    if not observations:
        raise InputError(f"{source}: every value is missing ('.' or empty); nothing to import")
    observations.sort()
    return observations
