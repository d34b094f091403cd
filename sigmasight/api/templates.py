"""The browser view's Jinja2 templates (HTML autoescaping always on) and its stylesheet."""

import hashlib
import math
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


def _finite(value: Any) -> float | None:
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def money(value: Any, currency: str = "USD") -> str:
    """``$1,234,567`` (or ``1,234,567 EUR``); an em dash when missing."""
    number = _finite(value)
    if number is None:
        return "—"
    text = f"{abs(number):,.0f}"
    sign = "-" if number < 0 else ""
    return f"{sign}${text}" if currency == "USD" else f"{sign}{text} {currency}"


def pct(value: Any, digits: int = 2) -> str:
    """A fraction as a percentage."""
    number = _finite(value)
    return "—" if number is None else f"{number * 100:.{digits}f} %"


def num(value: Any, digits: int = 2) -> str:
    """A plain number."""
    number = _finite(value)
    return "—" if number is None else f"{number:.{digits}f}"


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The template environment (autoescape on for every template, strict undefined)."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(money=money, pct=pct, num=num)
    return env


def render(name: str, **context: Any) -> str:
    """Render ``name`` with ``context`` (every value is HTML-escaped)."""
    return environment().get_template(name).render(**context)


@lru_cache(maxsize=1)
def stylesheet() -> tuple[bytes, str]:
    """The CSS and its ETag."""
    body = (TEMPLATES_DIR / "app.css").read_bytes()
    return body, '"' + hashlib.sha256(body).hexdigest()[:24] + '"'
