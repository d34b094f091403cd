"""The browser view's Jinja2 templates (HTML autoescaping always on) and its stylesheet."""

import hashlib
from collections.abc import Callable
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

from jinja2 import Environment

from sigmasight.reports import fmt
from sigmasight.reports.templating import template_environment

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


#: The view's number filters: the reports' formatters (``sigmasight.reports.fmt``) in the
#: view's style: whole currency units, ``2.13 %``, an em dash for a missing figure.
FILTERS: dict[str, Callable[..., str]] = {
    "money": partial(fmt.money, decimals=0, missing=fmt.EM_DASH),
    "pct": partial(fmt.pct, spaced=True, missing=fmt.EM_DASH),
    "number": partial(fmt.number, missing=fmt.EM_DASH),
}


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The template environment (autoescape on for every template, strict undefined)."""
    return template_environment(
        TEMPLATES_DIR, autoescape=True, filters=FILTERS, keep_trailing_newline=False
    )


def render(name: str, **context: Any) -> str:
    """Render ``name`` with ``context`` (every value is HTML-escaped)."""
    return environment().get_template(name).render(**context)


@lru_cache(maxsize=1)
def stylesheet() -> tuple[bytes, str]:
    """The CSS and its ETag."""
    body = (TEMPLATES_DIR / "app.css").read_bytes()
    return body, '"' + hashlib.sha256(body).hexdigest()[:24] + '"'
