"""Validate a corporate actions CSV (FORMATS.md section 7): ``symbol,ex_date,type,value``.

``type`` is ``split`` (value = new shares per old share: 4 for a 4-for-1 split, 0.1 for a
1-for-10 reverse split) or ``cash_dividend`` (value = amount per share, in the security's
currency). Columns in any order, names matched without case or padding, like the other
book files.

Everything is checked before anything is returned; problems are reported as
``<file> line <n>: <reason>``, one per line, up to 20. The checks that need the database (a
stored action with another value, a dividend not below the previous stored close) take what
the caller looked up (:func:`check_actions_against_store`).
"""

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from sigmasight.domain import ActionKind, ActionSpec
from sigmasight.importers.book_files import _cut, _date, _decimal, _Problems, _read, _show
from sigmasight.importers.bundle import SYMBOL_RE
from sigmasight.market_data import (
    ACTION_VALUE_STEP,
    MAX_ACTION_VALUE,
    action_problem,
    format_value,
)

ACTIONS_REQUIRED: Final = ("symbol", "ex_date", "type", "value")
KINDS: Final[dict[str, ActionKind]] = {"split": "split", "cash_dividend": "cash_dividend"}
_RULES: Final[dict[ActionKind, str]] = {
    "split": "a number > 0, new shares per old share (4-for-1: 4, 1-for-10: 0.1)",
    "cash_dividend": "a number > 0, the amount per share",
}


@dataclass(frozen=True)
class ActionLine:
    """A validated action and the file line it came from."""

    line: int
    action: ActionSpec


def parse_actions_csv(
    data: bytes, *, source: str, is_session: Callable[[dt.date], bool]
) -> tuple[ActionLine, ...]:
    """Validate an actions file; all-or-nothing.

    The same action twice (same symbol, ex-date, type and value) counts once; twice with
    different values is an error naming both lines.
    """
    rows = _read(data, source, required=ACTIONS_REQUIRED, optional=())
    problems = _Problems(source)
    out: list[ActionLine] = []
    first: dict[tuple[str, dt.date, str], tuple[int, Decimal]] = {}
    for row in rows:
        before = len(problems.items)
        symbol = row["symbol"]
        if not symbol:
            problems.add(row.line, "symbol is missing")
        elif symbol.startswith("O:"):
            problems.add(
                row.line,
                f"symbol {_show(symbol)} is an option; its underlying's actions apply to it, "
                "so give the underlying",
            )
        elif not SYMBOL_RE.fullmatch(symbol):
            problems.add(
                row.line, f"symbol {_show(symbol)} is not a ticker (1-32 characters A-Z 0-9 . -)"
            )
        ex_date = _date(problems, row, "ex_date")
        if ex_date is not None and not is_session(ex_date):
            problems.add(row.line, f"ex_date {ex_date} ({ex_date:%A}) is not an NYSE session")
        kind = KINDS.get(row["type"].lower())
        if kind is None:
            shown = _show(row["type"]) if row["type"] else "missing"
            problems.add(row.line, f"type {shown} must be split or cash_dividend")
        value = _value(problems, row.line, row["value"], kind)
        if len(problems.items) > before or ex_date is None or kind is None or value is None:
            continue
        key = (symbol, ex_date, kind)
        seen = first.get(key)
        if seen is not None:
            if seen[1] != value:
                problems.add(
                    row.line,
                    f"{kind} of {symbol} on {ex_date} with value {format_value(value)}, but "
                    f"line {seen[0]} gives {format_value(seen[1])}",
                )
            continue
        first[key] = (row.line, value)
        out.append(ActionLine(row.line, ActionSpec(symbol, ex_date, kind, value)))
    problems.raise_if_any()
    return tuple(out)


def _value(problems: _Problems, line: int, text: str, kind: ActionKind | None) -> Decimal | None:
    rule = _RULES[kind] if kind is not None else "a number > 0"
    if not text:
        problems.add(line, f"value is missing ({rule})")
        return None
    value = _decimal(text)
    if value is None:
        problems.add(line, f"value {_show(text)} is not a number")
        return None
    if not value > 0:
        problems.add(line, f"value {_cut(text)} must be {rule}")
        return None
    if value >= MAX_ACTION_VALUE:
        problems.add(line, f"value {_cut(text)} is too large (must be below 1e12)")
        return None
    if value != value.quantize(ACTION_VALUE_STEP):
        problems.add(line, f"value {_cut(text)} has more than 12 decimal places")
        return None
    return value


def check_actions_against_store(
    lines: Sequence[ActionLine],
    stored: Mapping[tuple[str, dt.date, str], tuple[Decimal, str]],
    previous_closes: Mapping[tuple[str, dt.date], tuple[dt.date, float]],
    *,
    source: str,
) -> None:
    """No line contradicts a stored action, and every dividend is below the previous close.

    ``stored`` maps (symbol, ex-date, kind) to the stored value and source;
    ``previous_closes`` maps (symbol, ex-date) to the last stored close before the ex-date
    (a dividend with no stored close before it cannot be checked and passes).
    """
    problems = _Problems(source)
    for item in lines:
        action = item.action
        twin = stored.get((action.symbol, action.ex_date, action.kind))
        if twin is not None and twin[0] != action.value:
            problems.add(
                item.line,
                f"{action.kind} of {action.symbol} on {action.ex_date} is stored with value "
                f"{format_value(twin[0])} (from {twin[1]}); {format_value(action.value)} "
                "would change it",
            )
            continue
        problem = action_problem(
            action,
            previous_close=previous_closes.get((action.symbol, action.ex_date)),
            is_session=lambda _: True,  # checked while parsing
        )
        if problem is not None:
            problems.add(item.line, f"{problem} of {action.symbol}")
    problems.raise_if_any()
