"""``json.dumps(value, indent=2, allow_nan=False)``, the same text, several times faster.

The standard library encodes an indented document in pure Python (its C encoder only
serves ``indent=None``), one generator step per value; a report's document holds tens of
thousands of numbers. This encoder writes the same text with C-level string joins: strings
through ``json.encoder.encode_basestring_ascii`` (what ``ensure_ascii`` uses), numbers
through ``int.__repr__``/``float.__repr__`` (what ``json`` uses), a list of floats in one
join. Values it does not handle in exactly the standard library's way (a non-string key, an
object ``json`` would reject) make it hand the whole value to ``json.dumps``, so the text is
always the standard library's.
"""

import json
from json.encoder import encode_basestring_ascii
from typing import Any

_INDENT = "  "


class _Unhandled(Exception):
    """A value outside the fast path: the caller falls back to ``json.dumps``."""


def dumps_indented(value: Any) -> str:
    """Exactly ``json.dumps(value, indent=2, allow_nan=False)``."""
    out: list[str] = []
    try:
        _encode(value, out, "\n")
    except _Unhandled:
        return json.dumps(value, indent=2, allow_nan=False)
    return "".join(out)


def _float(value: float) -> str:
    text = float.__repr__(value)
    if "n" in text:  # nan, inf, -inf: refused as json does with allow_nan=False
        raise ValueError(f"Out of range float values are not JSON compliant: {text}")
    return text


def _encode(value: Any, out: list[str], newline: str) -> None:
    """Append ``value``'s text; ``newline`` is a newline and the current indentation."""
    if isinstance(value, str):
        out.append(encode_basestring_ascii(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, float):
        out.append(_float(value))
    elif isinstance(value, list | tuple):
        _encode_list(value, out, newline)
    elif isinstance(value, dict):
        _encode_dict(value, out, newline)
    else:
        raise _Unhandled


def _encode_list(values: list[Any] | tuple[Any, ...], out: list[str], newline: str) -> None:
    if not values:
        out.append("[]")
        return
    inner = newline + _INDENT
    if all(type(v) is float for v in values):
        text = ("," + inner).join(map(float.__repr__, values))
        if "n" in text:
            raise ValueError("Out of range float values are not JSON compliant")
        out += ("[", inner, text, newline, "]")
        return
    separator = "[" + inner
    for item in values:
        out.append(separator)
        separator = "," + inner
        _encode(item, out, inner)
    out += (newline, "]")


def _encode_dict(values: dict[Any, Any], out: list[str], newline: str) -> None:
    if not values:
        out.append("{}")
        return
    inner = newline + _INDENT
    separator = "{" + inner
    for key, item in values.items():
        if not isinstance(key, str):
            raise _Unhandled
        out += (separator, encode_basestring_ascii(key), ": ")
        separator = "," + inner
        _encode(item, out, inner)
    out += (newline, "}")
