"""The Jinja2 environments the Markdown and HTML reports are rendered with (pure).

Templates live in ``sigmasight/reports/templates/`` (shipped with the source tree: the
project is not built into a wheel, and the image copies ``sigmasight/`` whole). Both
environments use ``StrictUndefined``, so a misspelt name or a key the risk document lacks
fails the render instead of printing nothing, and both register the number formatters of
:mod:`sigmasight.reports.fmt` as filters.

* :func:`html_environment` escapes every value (autoescape on); markup built elsewhere
  (the inline SVG charts) is passed in as :class:`markupsafe.Markup`.
* :func:`markdown_environment` does not HTML-escape; text from the data that lands in a
  table cell goes through the ``cell`` filter, which escapes ``|`` and line breaks.
"""

from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from sigmasight.reports import fmt

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


def md_cell(value: object) -> str:
    """Text for a Markdown table cell: ``|`` escaped, line breaks as spaces."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def sign_class(value: float | None) -> str:
    """The CSS class of a signed figure: ``pos``, ``neg`` or none for zero or missing."""
    if value is None:
        return ""
    return "pos" if value > 0 else ("neg" if value < 0 else "")


def heat(value: float | None, scale: float = 0.05) -> str:
    """A cell background for a return: green for gains, red for losses, stronger with size.

    Full colour at ``|value| >= scale``; empty (no colour) for a missing value.
    """
    if not fmt.ok(value):
        return ""
    t = min(abs(value) / scale, 1.0)
    end = (5, 150, 105) if value >= 0 else (220, 38, 38)
    r, g, b = (round(255 + (c - 255) * t * 0.55) for c in end)
    return f"background:#{r:02x}{g:02x}{b:02x}"


def scenario_label(name: str) -> str:
    """``market_down_20`` -> ``Market down 20``."""
    text = name.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def template_environment(
    folder: Path,
    *,
    autoescape: bool,
    filters: Mapping[str, Callable[..., str]],
    keep_trailing_newline: bool = True,
) -> Environment:
    """A strict environment over ``folder`` with ``filters`` (also the API's browser view)."""
    env = Environment(
        loader=FileSystemLoader(folder),
        autoescape=autoescape,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=keep_trailing_newline,
    )
    env.filters.update(filters)
    return env


def _environment(*, autoescape: bool) -> Environment:
    env = template_environment(TEMPLATES_DIR, autoescape=autoescape, filters=fmt.FILTERS)
    env.globals["MISSING"] = fmt.MISSING
    return env


@lru_cache(maxsize=1)
def markdown_environment() -> Environment:
    """Markdown templates: no HTML escaping; ``cell`` escapes table cells."""
    env = _environment(autoescape=False)
    env.filters["cell"] = md_cell
    return env


@lru_cache(maxsize=1)
def html_environment() -> Environment:
    """HTML templates: every value escaped."""
    env = _environment(autoescape=True)
    env.filters.update(sign_class=sign_class, scenario_label=scenario_label, heat=heat)
    return env


def render_markdown_template(name: str, **context: Any) -> str:
    """Render the Markdown template ``name``."""
    return markdown_environment().get_template(name).render(**context)


def render_html_template(name: str, **context: Any) -> str:
    """Render the HTML template ``name`` (values escaped)."""
    return html_environment().get_template(name).render(**context)
