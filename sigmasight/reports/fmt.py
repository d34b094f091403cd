"""Number formatting shared by the Markdown and HTML reports (pure).

Precision (the original's policy, made readable): money 2 decimals in tables, whole units
or compact (``$3.46M``) on cards; percentages 2 decimals; betas and correlations 2 to 3
decimals; per-share Greeks 4 decimals. A missing figure (``None``) prints as an en dash.
"""

import math

MISSING = "–"
MINUS = "−"  # U+2212: the typographic minus used in HTML


def ok(value: float | None) -> bool:
    """True when ``value`` is a finite number."""
    return value is not None and math.isfinite(value)


def money(value: float | None, decimals: int = 2, *, sign: bool = False) -> str:
    """``$1,234.56`` / ``-$1,234.56`` (``+`` for gains when ``sign``)."""
    if value is None or not ok(value):
        return MISSING
    text = f"${abs(value):,.{decimals}f}"
    if value < 0 and round(abs(value), decimals) > 0:
        return "-" + text
    return ("+" + text) if sign and value > 0 else text


def compact_money(value: float | None, *, trim: bool = False) -> str:
    """``$3.46M``, ``$812.4k``, ``-$63.6k``; ``trim`` drops trailing zeros (axis ticks)."""
    if value is None or not ok(value):
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


def pct(value: float | None, decimals: int = 2, *, sign: bool = False) -> str:
    """A fraction as a percentage: ``0.0288`` -> ``2.88%``."""
    if value is None or not ok(value):
        return MISSING
    return f"{value * 100:{'+' if sign else ''}.{decimals}f}%"


def number(value: float | None, decimals: int = 2, *, sign: bool = False) -> str:
    """A plain number with thousands separators."""
    if value is None or not ok(value):
        return MISSING
    return f"{value:{'+' if sign else ''},.{decimals}f}"


def quantity(value: float | None) -> str:
    """Shares or contracts: no decimals when whole."""
    if value is None or not ok(value):
        return MISSING
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.4f}"


def typographic(text: str) -> str:
    """Replace a leading ASCII minus with U+2212 for display in HTML."""
    return MINUS + text[1:] if text.startswith("-") else text
