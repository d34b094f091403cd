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
import re
from json.encoder import encode_basestring_ascii
from typing import Any

from pydantic_core import to_json

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


# pydantic-core writes the same shortest digits as ``float.__repr__`` but, below 1e-4, in
# another form: ``0.00001`` for ``1e-05``, ``2.5e-7`` for ``2.5e-07``. Both are found by a
# literal (fast to search for) and only as a whole value: before ``,`` or a line break,
# which no JSON string holds raw.
_SHORT_EXPONENT = re.compile(r"e-(\d)(?=,?\n)")
_SMALL_DECIMAL = re.compile(r"0\.0000\d+(?=,?\n)")


def _small_decimal(match: re.Match[str]) -> str:
    text = match.string
    start = match.start()
    before = text[start - 1]
    if before == " " or (before == "-" and text[start - 2] == " "):
        return float.__repr__(float(match.group()))
    return match.group()  # the tail of a larger number (10.00001): written alike


def dumps_json_values(value: dict[str, Any]) -> str:
    """:func:`dumps_indented` of a document of JSON values, encoded in Rust.

    For a dict holding only JSON values (string keys, lists, strings, numbers, booleans,
    ``None``), as ``model_dump(mode="json")`` gives: pydantic-core writes the indented,
    ASCII-escaped text, and the few numbers it formats unlike ``float.__repr__`` are
    rewritten, so the text is ``json.dumps(value, indent=2, allow_nan=False)``. A
    non-finite number (or a string that reads ``NaN`` or ``Infinity``) goes the Python
    way, which refuses the number as ``json`` does.
    """
    try:
        text = to_json(value, indent=2, ensure_ascii=True, inf_nan_mode="constants").decode()
    except Exception:  # anything unusual: the exact Python encoder decides
        return dumps_indented(value)
    if "NaN" in text or "Infinity" in text:
        return dumps_indented(value)
    if "e-" in text:
        text = _SHORT_EXPONENT.sub(r"e-0\1", text)
    if "0.0000" in text:
        text = _SMALL_DECIMAL.sub(_small_decimal, text)
    return text


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
