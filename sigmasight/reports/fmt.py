"""Number formatting shared by the Markdown and HTML reports and the browser view (pure).

Precision (the original's policy, made readable): money 2 decimals in tables, whole units
or compact (``$3.46M``) on cards; percentages 2 decimals; betas and correlations 2 to 3
decimals; per-share Greeks 4 decimals. A missing figure (``None``, NaN, or anything that is
not a number) prints as an en dash, or as ``missing`` where a surface uses another mark
(the browser view prints an em dash).

Every template renders numbers through these functions, registered as Jinja filters under
the names of :data:`FILTERS`.
"""

import math
from collections.abc import Callable
from typing import TypeGuard

MISSING = "–"  # en dash: a missing figure in the reports
EM_DASH = "—"  # a missing figure in the browser view
MINUS = "−"  # U+2212: the typographic minus used in HTML


def ok(value: object) -> TypeGuard[float]:
    """True when ``value`` is a finite number.

    A value that is not a number at all is not finite; an object that refuses conversion
    with its own error (a template's undefined variable) lets that error through.
    """
    if value is None:
        return False
    try:
        return math.isfinite(value)  # type: ignore[arg-type]
    except TypeError:
        return False


def money(
    value: object,
    decimals: int = 2,
    *,
    sign: bool = False,
    currency: str = "USD",
    missing: str = MISSING,
) -> str:
    """``$1,234.56`` / ``-$1,234.56`` (``+`` for gains when ``sign``); ``1,234.56 EUR``."""
    if not ok(value):
        return missing
    digits = f"{abs(value):,.{decimals}f}"
    text = f"${digits}" if currency == "USD" else f"{digits} {currency}"
    if value < 0 and round(abs(value), decimals) > 0:
        return "-" + text
    return ("+" + text) if sign and value > 0 else text


def compact_money(value: float | None, *, trim: bool = False) -> str:
    """``$3.46M``, ``$812.4k``, ``-$63.6k``; ``trim`` drops trailing zeros (axis ticks)."""
    if not ok(value):
        return MISSING
    size = abs(value)
    for scale, suffix, decimals in ((1e9, "B", 2), (1e6, "M", 2), (1e3, "k", 1), (1.0, "", 0)):
        if size >= scale or scale == 1.0:
            digits = f"{size / scale:.{decimals}f}"
            if trim and "." in digits:
                digits = digits.rstrip("0").rstrip(".")
            body = f"${digits}{suffix}"
            break
    return ("-" + body) if value < 0 and body.strip("$0.kMB") else body


def pct(
    value: object,
    decimals: int = 2,
    *,
    sign: bool = False,
    spaced: bool = False,
    missing: str = MISSING,
) -> str:
    """A fraction as a percentage: ``0.0288`` -> ``2.88%`` (``2.88 %`` when ``spaced``)."""
    if not ok(value):
        return missing
    unit = " %" if spaced else "%"
    return f"{value * 100:{'+' if sign else ''}.{decimals}f}{unit}"


def number(value: object, decimals: int = 2, *, sign: bool = False, missing: str = MISSING) -> str:
    """A plain number with thousands separators."""
    if not ok(value):
        return missing
    return f"{value:{'+' if sign else ''},.{decimals}f}"


def quantity(value: float | None) -> str:
    """Shares or contracts: no decimals when whole."""
    if not ok(value):
        return MISSING
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.4f}"


def times(value: float | None) -> str:
    """A leverage multiple: ``1.99x``."""
    return f"{value:.2f}x" if ok(value) else MISSING


def count(value: float | None) -> str:
    """A count stored as a number (observations, days): ``501``."""
    return str(int(value)) if ok(value) else MISSING


def typographic(text: str) -> str:
    """Replace a leading ASCII minus with U+2212 for display in HTML."""
    return MINUS + text[1:] if text.startswith("-") else text


#: The formatters as Jinja filters, under the names the report templates use.
FILTERS: dict[str, Callable[..., str]] = {
    "money": money,
    "compact_money": compact_money,
    "pct": pct,
    "number": number,
    "quantity": quantity,
    "times": times,
    "count": count,
    "typographic": typographic,
}
