"""Inline SVG charts for the HTML report (pure: numbers in, SVG markup out).

No JavaScript and no external resources: each chart is one ``<svg class="chart">`` element
with a ``viewBox`` (it scales with its container), ``role="img"`` and a ``<title>``; text
inherits the page's system font. Each element carries ``data-chart="<name>"`` so tests and
readers can find it. Colours: blue for long/positive, red for short/loss, green for gains.
"""

import base64
import datetime as dt
import math
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from itertools import repeat
from typing import Any

import numpy as np

from sigmasight.reports import fmt
from sigmasight.reports.model import ActualHistory, ReturnPath
from sigmasight.reports.return_stats import BacktestDay
from sigmasight.risk.types import FloatArray

INK = "#111827"
MUTED = "#6b7280"
GRID = "#eef0f3"
AXIS = "#c7ccd4"
BLUE = "#2563eb"
RED = "#dc2626"
GREEN = "#059669"
AMBER = "#d97706"
SLATE = "#94a3b8"
TEAL = "#0f766e"


def _n(x: float) -> str:
    """A coordinate with one decimal ("12.0" -> "12")."""
    return f"{x:.1f}".removesuffix(".0")


def _coords(values: Sequence[float] | FloatArray) -> list[str]:
    """``_n`` of each value, the numbers formatted in one ``%`` operation."""
    numbers = values.tolist() if isinstance(values, np.ndarray) else list(values)
    count = len(numbers)
    texts = (("%.1f\x1f" * count) % tuple(numbers)).split("\x1f")[:count]
    return list(map(str.removesuffix, texts, repeat(".0", count)))


def _points(xs: Sequence[str], ys: Sequence[str]) -> str:
    return " ".join(map(",".join, zip(xs, ys, strict=True)))


def _text(x: float, y: float, body: str, *, anchor: str = "start", cls: str = "") -> str:
    klass = f' class="{cls}"' if cls else ""
    return f'<text x="{_n(x)}" y="{_n(y)}" text-anchor="{anchor}"{klass}>{escape(body)}</text>'


def fit(label: str, width_px: float, char_px: float = 6.4) -> str:
    """``label`` shortened with an ellipsis to about ``width_px`` pixels of 11.5 px text."""
    limit = max(4, int(width_px / char_px))
    return label if len(label) <= limit else label[: limit - 1].rstrip() + "…"


def _open(name: str, width: int, height: int, title: str) -> str:
    return (
        f'<svg class="chart" data-chart="{name}" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" '
        f'preserveAspectRatio="xMidYMid meet"><title>{escape(title)}</title>'
    )


def empty_chart(name: str, message: str, width: int = 560, height: int = 120) -> str:
    """A placeholder chart saying why there is nothing to draw."""
    return (
        _open(name, width, height, message)
        + f'<rect x="0.5" y="0.5" width="{width - 1}" height="{height - 1}" rx="8" '
        f'fill="#fafbfc" stroke="{GRID}"/>'
        + _text(width / 2, height / 2 + 4, message, anchor="middle", cls="muted")
        + "</svg>"
    )


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (about ``count`` intervals)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0, 1.0]
    if hi - lo < 1e-12:
        pad = abs(hi) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * 0.999)
    start = math.floor(lo / step + 1e-9) * step
    stop = math.ceil(hi / step - 1e-9) * step
    n = round((stop - start) / step)
    return [round(start + i * step, 12) for i in range(n + 1)]


def _pct_tick(value: float, step: float) -> str:
    decimals = 0 if step >= 0.01 - 1e-12 else (1 if step >= 0.001 - 1e-12 else 2)
    text = f"{value * 100:.{decimals}f}%"
    return "0%" if text.lstrip("-").strip("0.%") == "" else fmt.typographic(text)


def performance_chart(path: ReturnPath | None) -> str:
    """Cumulative return of today's book replayed over past prices, above its drawdown.

    A replay (C6, C18): today's holdings at static weights, not the portfolio's performance
    (``actual_history_chart`` draws that).
    """
    name = "performance"
    if path is None or len(path.dates) < 3:
        return empty_chart(name, "No return history stored for this book", 960, 160)
    width, height = 960, 372
    left, right = 62, 78
    top1, bottom1 = 34, 236
    top2, bottom2 = 270, 344
    n = len(path.dates)
    span = width - left - right
    xs = [left + span * i / (n - 1) for i in range(n)]
    cum = np.asarray(path.wealth, dtype=np.float64) - 1.0
    bench = (
        np.asarray(path.benchmark_wealth, dtype=np.float64) - 1.0
        if path.benchmark_wealth is not None
        else None
    )
    values = [float(np.nanmin(cum)), float(np.nanmax(cum)), 0.0]
    if bench is not None and np.isfinite(bench).any():
        values += [float(np.nanmin(bench)), float(np.nanmax(bench))]
    ticks = nice_ticks(min(values), max(values), 5)
    lo, hi = ticks[0], ticks[-1]
    step = ticks[1] - ticks[0]

    def y1(v: float) -> float:
        return bottom1 - (v - lo) / (hi - lo) * (bottom1 - top1)

    out = [
        _open(
            name,
            width,
            height,
            "Replay of today's book over past prices (not the portfolio's performance): "
            "cumulative return and drawdown",
        )
    ]
    for t in ticks:
        yy = y1(t)
        stroke = AXIS if abs(t) < 1e-12 else GRID
        out.append(
            f'<line x1="{left}" x2="{width - right}" y1="{_n(yy)}" y2="{_n(yy)}" stroke="{stroke}"/>'
        )
        out.append(_text(left - 8, yy + 4, _pct_tick(t, step), anchor="end", cls="tick"))
    zero = y1(0.0)
    x_text = _coords(xs)
    # y1 over the arrays: the same operations in the same order, so the same numbers.
    points = _points(x_text, _coords(bottom1 - (cum - lo) / (hi - lo) * (bottom1 - top1)))
    out.append(
        f'<path d="M{_n(xs[0])},{_n(zero)} L{points} L{_n(xs[-1])},{_n(zero)} Z" '
        f'fill="{BLUE}" fill-opacity="0.08" stroke="none"/>'
    )
    if bench is not None and np.isfinite(bench).all():
        bench_points = _points(
            x_text, _coords(bottom1 - (bench - lo) / (hi - lo) * (bottom1 - top1))
        )
        out.append(
            f'<polyline points="{bench_points}" fill="none" stroke="{SLATE}" '
            f'stroke-width="1.3" stroke-dasharray="4 3"/>'
        )
    out.append(
        f'<polyline points="{points}" fill="none" stroke="{BLUE}" stroke-width="1.9" '
        f'stroke-linejoin="round"/>'
    )
    last = float(cum[-1])
    out.append(f'<circle cx="{_n(xs[-1])}" cy="{_n(y1(last))}" r="3.5" fill="{BLUE}"/>')
    out.append(
        _text(
            xs[-1] + 8,
            y1(last) + 4,
            fmt.typographic(fmt.pct(last, 1, sign=True)),
            cls="value strong blue",
        )
    )
    if bench is not None and np.isfinite(bench[-1]):
        y_bench = y1(float(bench[-1]))
        if abs(y_bench - y1(last)) < 14:  # keep the two end labels apart
            y_bench = y1(last) + (14 if y_bench >= y1(last) else -14)
        out.append(
            _text(
                xs[-1] + 8,
                y_bench + 4,
                fmt.typographic(fmt.pct(float(bench[-1]), 1, sign=True)),
                cls="value muted",
            )
        )
    out.append(_text(left, top1 - 14, "Cumulative return (replay)", cls="panel-title"))
    legend_x = width - right - 210
    out.append(
        f'<line x1="{legend_x}" x2="{legend_x + 22}" y1="{top1 - 18}" y2="{top1 - 18}" '
        f'stroke="{BLUE}" stroke-width="2"/>'
    )
    out.append(_text(legend_x + 28, top1 - 14, "Today's book", cls="legend"))
    if bench is not None and path.benchmark_symbol:
        bx = legend_x + 120
        out.append(
            f'<line x1="{bx}" x2="{bx + 22}" y1="{top1 - 18}" y2="{top1 - 18}" stroke="{SLATE}" '
            f'stroke-width="1.5" stroke-dasharray="4 3"/>'
        )
        out.append(_text(bx + 28, top1 - 14, path.benchmark_symbol, cls="legend"))

    dd = np.asarray(path.drawdown, dtype=np.float64)
    dd_ticks = nice_ticks(min(float(np.nanmin(dd)), -0.01), 0.0, 2)
    dd_lo = dd_ticks[0]
    dd_step = dd_ticks[1] - dd_ticks[0]

    def y2(v: float) -> float:
        return top2 + (v / dd_lo) * (bottom2 - top2) if dd_lo else top2

    for t in dd_ticks:
        yy = y2(t)
        out.append(
            f'<line x1="{left}" x2="{width - right}" y1="{_n(yy)}" y2="{_n(yy)}" '
            f'stroke="{AXIS if abs(t) < 1e-12 else GRID}"/>'
        )
        out.append(_text(left - 8, yy + 4, _pct_tick(t, dd_step), anchor="end", cls="tick"))
    dd_y = top2 + (dd / dd_lo) * (bottom2 - top2) if dd_lo else np.full(dd.shape, top2)
    dd_points = _points(x_text, _coords(dd_y))
    out.append(
        f'<path d="M{_n(xs[0])},{_n(top2)} L{dd_points} L{_n(xs[-1])},{_n(top2)} Z" '
        f'fill="{RED}" fill-opacity="0.22" stroke="none"/>'
    )
    out.append(f'<polyline points="{dd_points}" fill="none" stroke="{RED}" stroke-width="1.2"/>')
    worst = int(np.nanargmin(dd))
    out.append(
        _text(
            min(xs[worst] + 6, width - right - 4),
            y2(float(dd[worst])) + 13,
            f"max drawdown {fmt.typographic(fmt.pct(float(dd[worst]), 1))}",
            cls="value red",
            anchor="end" if xs[worst] > width - right - 160 else "start",
        )
    )
    out.append(_text(left, top2 - 10, "Drawdown", cls="panel-title"))
    labelled: list[int] = sorted({round(i) for i in np.linspace(0, n - 1, 7)})
    for i in labelled:
        anchor = "start" if i == 0 else ("end" if i == n - 1 else "middle")
        out.append(
            _text(xs[i], bottom2 + 18, path.dates[i].strftime("%b %Y"), anchor=anchor, cls="tick")
        )
    out.append("</svg>")
    return "".join(out)


def _segments(xs: Sequence[float], ys: Sequence[float | None]) -> list[str]:
    """``points`` attributes of the runs of known values (an unknown value breaks the line)."""
    if len(xs) != len(ys):
        raise ValueError(f"{len(xs)} x values for {len(ys)} y values")
    x_text = _coords(xs)
    breaks = [i for i, y in enumerate(ys) if y is None]
    runs = []
    start = 0
    for stop in [*breaks, len(ys)]:
        if stop > start:
            known: list[float] = ys[start:stop]  # type: ignore[assignment]  # no None here
            runs.append(_points(x_text[start:stop], _coords(known)))
        start = stop + 1
    return runs


def _date_label(day: dt.date, span_days: int) -> str:
    return f"{day.day} {day:%b}" if span_days <= 120 else day.strftime("%b %Y")


def actual_history_chart(history: ActualHistory | None) -> str:
    """NAV and cumulative time-weighted return from the stored snapshots (C17, C18).

    Sessions are evenly spaced; an unknown NAV or return breaks its line; a session with an
    external flow gets a marker on the NAV line (its amount in the tooltip). Empty (a
    placeholder) with fewer than two sessions of known NAV.
    """
    name = "actual-history"
    navs = [] if history is None else [v for v in history.nav if v is not None]
    if history is None or len(navs) < 2:
        return empty_chart(name, "Fewer than two stored snapshots: no actual history yet", 960, 160)
    width, height = 960, 350
    left, right = 74, 78
    top1, bottom1 = 34, 186
    top2, bottom2 = 226, 320
    n = history.sessions
    xs = [left + (width - left - right) * i / (n - 1) for i in range(n)]
    out = [_open(name, width, height, "Actual history from stored snapshots: NAV and TWR")]

    nav_ticks = nice_ticks(min(navs), max(navs), 4)
    nav_lo, nav_hi = nav_ticks[0], nav_ticks[-1]

    def y1(v: float) -> float:
        return bottom1 - (v - nav_lo) / (nav_hi - nav_lo) * (bottom1 - top1)

    for t in nav_ticks:
        out.append(
            f'<line x1="{left}" x2="{width - right}" y1="{_n(y1(t))}" y2="{_n(y1(t))}" '
            f'stroke="{GRID}"/>'
        )
        label = fmt.typographic(fmt.compact_money(t, trim=True))
        out.append(_text(left - 8, y1(t) + 4, label, anchor="end", cls="tick"))
    nav_y = [None if v is None else y1(v) for v in history.nav]
    for points in _segments(xs, nav_y):
        out.append(
            f'<polyline points="{points}" fill="none" stroke="{TEAL}" stroke-width="1.9" '
            f'stroke-linejoin="round"/>'
        )
    for i, (flow, yy) in enumerate(zip(history.external_flow, nav_y, strict=True)):
        if flow and yy is not None:
            out.append(
                f"<g><title>{history.dates[i].isoformat()}: external flow "
                f"{escape(fmt.money(flow, 2, sign=True))}</title>"
                f'<circle cx="{_n(xs[i])}" cy="{_n(yy)}" r="4" fill="#fff" stroke="{AMBER}" '
                f'stroke-width="2"/></g>'
            )
    last_nav = history.nav[-1]
    if last_nav is not None:
        out.append(
            _text(
                xs[-1] + 8,
                y1(last_nav) + 4,
                fmt.typographic(fmt.compact_money(last_nav)),
                cls="value strong",
            )
        )
    out.append(_text(left, top1 - 14, "NAV (external flows included)", cls="panel-title"))
    if any(history.external_flow):
        lx = width - right - 130
        out.append(
            f'<circle cx="{lx}" cy="{top1 - 18}" r="4" fill="#fff" stroke="{AMBER}" '
            f'stroke-width="2"/>'
        )
        out.append(_text(lx + 9, top1 - 14, "external flow", cls="legend"))

    # The cumulative TWR: a session where the chain starts (first session, or after an
    # unknown NAV) is its base, 0; a session whose NAV is unknown is a gap.
    twr: list[float | None] = [
        value if value is not None else (0.0 if nav is not None else None)
        for value, nav in zip(history.twr_cumulative, history.nav, strict=True)
    ]
    known = [v for v in twr if v is not None]
    twr_ticks = nice_ticks(min([0.0, *known]), max([0.0, *known]), 3)
    lo, hi = twr_ticks[0], twr_ticks[-1]
    step = twr_ticks[1] - twr_ticks[0]

    def y2(v: float) -> float:
        return bottom2 - (v - lo) / (hi - lo) * (bottom2 - top2)

    for t in twr_ticks:
        stroke = AXIS if abs(t) < 1e-12 else GRID
        out.append(
            f'<line x1="{left}" x2="{width - right}" y1="{_n(y2(t))}" y2="{_n(y2(t))}" '
            f'stroke="{stroke}"/>'
        )
        out.append(_text(left - 8, y2(t) + 4, _pct_tick(t, step), anchor="end", cls="tick"))
    twr_y = [None if v is None else y2(v) for v in twr]
    for points in _segments(xs, twr_y):
        out.append(
            f'<polyline points="{points}" fill="none" stroke="{TEAL}" stroke-width="1.6" '
            f'stroke-dasharray="5 3"/>'
        )
    if twr[-1] is not None:
        out.append(
            _text(
                xs[-1] + 8,
                y2(twr[-1]) + 4,
                fmt.typographic(fmt.pct(twr[-1], 2, sign=True)),
                cls="value strong",
            )
        )
    out.append(
        _text(left, top2 - 10, "Cumulative time-weighted return (net of flows)", cls="panel-title")
    )
    span = (history.dates[-1] - history.dates[0]).days
    labelled = sorted({round(i) for i in np.linspace(0, n - 1, min(n, 8))})
    for i in labelled:
        anchor = "start" if i == 0 else ("end" if i == n - 1 else "middle")
        out.append(
            _text(
                xs[i], bottom2 + 18, _date_label(history.dates[i], span), anchor=anchor, cls="tick"
            )
        )
    out.append("</svg>")
    return "".join(out)


@dataclass(frozen=True)
class Bar:
    """One row of a bar chart: a value and, optionally, a second value drawn beneath it."""

    label: str
    value: float | None
    value_text: str
    second: float | None = None
    title: str | None = None


def bar_chart(
    name: str,
    title: str,
    bars: Sequence[Bar],
    *,
    positive: str = BLUE,
    negative: str = RED,
    second_color: str = SLATE,
    legend: tuple[str, str] | None = None,
    tick_format: str = "number",
    width: int = 560,
    label_width: int = 150,
    value_width: int = 96,
) -> str:
    """Horizontal bars diverging from zero; a row's value text sits in a right-hand column."""
    if not bars:
        return empty_chart(name, f"No data for {title.lower()}")
    row = 30 if any(b.second is not None for b in bars) else 24
    head = 30 if legend else 12
    height = head + row * len(bars) + 26
    values = [v for b in bars for v in (b.value, b.second) if v is not None]
    ticks = nice_ticks(min([0.0, *values]), max([0.0, *values]), 4)
    lo, hi = ticks[0], ticks[-1]
    x0, x1 = label_width, width - value_width

    def x(v: float) -> float:
        return x0 + (v - lo) / (hi - lo) * (x1 - x0)

    out = [_open(name, width, height, title)]
    bottom = head + row * len(bars)
    for t in ticks:
        xx = x(t)
        out.append(
            f'<line x1="{_n(xx)}" x2="{_n(xx)}" y1="{head - 4}" y2="{bottom}" '
            f'stroke="{AXIS if abs(t) < 1e-12 else GRID}"/>'
        )
        label = (
            _pct_tick(t, ticks[1] - ticks[0])
            if tick_format == "pct"
            else fmt.typographic(fmt.compact_money(t, trim=True))
            if tick_format == "money"
            else fmt.typographic(f"{t:g}")
        )
        out.append(_text(xx, bottom + 16, label, anchor="middle", cls="tick"))
    if legend:
        out.append(f'<rect x="{x0}" y="6" width="12" height="10" rx="2" fill="{positive}"/>')
        out.append(_text(x0 + 17, 15, legend[0], cls="legend"))
        lx = x0 + 30 + 7 * len(legend[0])
        out.append(f'<rect x="{lx}" y="8" width="12" height="6" rx="2" fill="{second_color}"/>')
        out.append(_text(lx + 17, 15, legend[1], cls="legend"))
    zero = x(0.0)
    for k, bar in enumerate(bars):
        top = head + k * row
        tip = f"<title>{escape(bar.title or bar.label)}</title>"
        out.append(f"<g>{tip}")
        out.append(_text(x0 - 8, top + 15, fit(bar.label, x0 - 12), anchor="end", cls="label"))
        if bar.value is None:
            out.append(_text(zero + 4, top + 15, "n/a", cls="muted"))
        else:
            a, b = sorted((zero, x(bar.value)))
            color = positive if bar.value >= 0 else negative
            h = 12 if bar.second is not None else 14
            out.append(
                f'<rect x="{_n(a)}" y="{top + 4}" width="{_n(max(b - a, 1.0))}" height="{h}" '
                f'rx="2" fill="{color}"/>'
            )
        if bar.second is not None:
            a, b = sorted((zero, x(bar.second)))
            out.append(
                f'<rect x="{_n(a)}" y="{top + 19}" width="{_n(max(b - a, 1.0))}" height="6" '
                f'rx="2" fill="{second_color}"/>'
            )
        value_cls = "value" if bar.value is None or bar.value >= 0 else "value red"
        out.append(_text(width - 4, top + 15, bar.value_text, anchor="end", cls=value_cls))
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)


def long_short_chart(
    name: str,
    title: str,
    rows: Sequence[tuple[str, float, float, str]],
    *,
    width: int = 560,
    label_width: int = 150,
    value_width: int = 96,
) -> str:
    """Long exposure to the right of zero, short to the left; the net in the value column."""
    if not rows:
        return empty_chart(name, "No exposure to show")
    row, head = 24, 30
    height = head + row * len(rows) + 26
    ticks = nice_ticks(min([0.0, *(r[2] for r in rows)]), max([0.0, *(r[1] for r in rows)]), 4)
    lo, hi = ticks[0], ticks[-1]
    x0, x1 = label_width, width - value_width

    def x(v: float) -> float:
        return x0 + (v - lo) / (hi - lo) * (x1 - x0)

    bottom = head + row * len(rows)
    out = [_open(name, width, height, title)]
    for t in ticks:
        xx = x(t)
        out.append(
            f'<line x1="{_n(xx)}" x2="{_n(xx)}" y1="{head - 4}" y2="{bottom}" '
            f'stroke="{AXIS if abs(t) < 1e-12 else GRID}"/>'
        )
        label = fmt.typographic(fmt.compact_money(t, trim=True))
        out.append(_text(xx, bottom + 16, label, anchor="middle", cls="tick"))
    out.append(f'<rect x="{x0}" y="6" width="12" height="10" rx="2" fill="{BLUE}"/>')
    out.append(_text(x0 + 17, 15, "Long", cls="legend"))
    out.append(f'<rect x="{x0 + 62}" y="6" width="12" height="10" rx="2" fill="{AMBER}"/>')
    out.append(_text(x0 + 79, 15, "Short", cls="legend"))
    out.append(_text(width - 4, 15, "Net", anchor="end", cls="legend"))
    zero = x(0.0)
    for k, (label, long, short, value_text) in enumerate(rows):
        top = head + k * row
        out.append(
            f"<g><title>{escape(label)}: long {fmt.money(long, 0)}, short {fmt.money(short, 0)}"
            f"</title>"
        )
        out.append(_text(x0 - 8, top + 15, fit(label, x0 - 12), anchor="end", cls="label"))
        if long > 0:
            out.append(
                f'<rect x="{_n(zero)}" y="{top + 4}" width="{_n(max(x(long) - zero, 1.0))}" '
                f'height="14" rx="2" fill="{BLUE}"/>'
            )
        if short < 0:
            out.append(
                f'<rect x="{_n(x(short))}" y="{top + 4}" width="{_n(max(zero - x(short), 1.0))}" '
                f'height="14" rx="2" fill="{AMBER}"/>'
            )
        cls = "value red" if long + short < 0 else "value"
        out.append(_text(width - 4, top + 15, value_text, anchor="end", cls=cls))
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)


def _corr_color(value: float | None) -> str:
    """Diverging colour: blue (-1) through near-white (0) to red (+1); grey when undefined."""
    if value is None:
        return "#e5e7eb"
    v = max(-1.0, min(1.0, value))
    end = (178, 24, 43) if v >= 0 else (33, 102, 172)
    base = (247, 247, 247)
    t = abs(v)
    r, g, b = (round(base[i] + (end[i] - base[i]) * t) for i in range(3))
    return f"#{r:02x}{g:02x}{b:02x}"


#: The colour of each hundredth from -1 to +1 (index ``round((v + 1) * 100)``), as RGB bytes.
_CORR_RGB = np.array(
    [
        [int(c[i : i + 2], 16) for i in (1, 3, 5)]
        for c in (_corr_color(k / 100 - 1.0) for k in range(201))
    ],
    dtype=np.uint8,
)
_UNDEFINED_RGB = np.array(
    [int(_corr_color(None)[i : i + 2], 16) for i in (1, 3, 5)], dtype=np.uint8
)


def _corr_cell_color(value: float | None) -> str:
    """One cell's colour: :func:`_corr_color` of the value rounded to a hundredth."""
    if value is None or value != value:
        return _corr_color(None)
    return _corr_color(round((max(-1.0, min(1.0, value)) + 1.0) * 100) / 100 - 1.0)


def corr_grid_rgb(
    matrix: Sequence[Sequence[float | None]], n: int
) -> "np.ndarray[Any, np.dtype[np.uint8]]":
    """The n x n grid's colours (n x n x 3 bytes), cell (i, j) = ``_corr_cell_color(matrix[i][j])``.

    A missing, ``None`` or NaN value is grey; a row longer than ``n`` is cut at ``n``.
    """
    values = np.full((n, n), np.nan)
    if all(len(row) == n for row in matrix) and len(matrix) == n:
        try:
            values = np.array(matrix, dtype=np.float64)
        except TypeError:  # a None somewhere: cell by cell below
            pass
        else:
            matrix = ()
    for i, row in enumerate(matrix[:n]):
        for j, value in enumerate(row[:n]):
            values[i, j] = np.nan if value is None else value
    index = np.rint((np.clip(values, -1.0, 1.0) + 1.0) * 100)
    undefined = np.isnan(index)
    rgb = _CORR_RGB[np.where(undefined, 0, index).astype(np.intp)]
    rgb[undefined] = _UNDEFINED_RGB
    return rgb


def png_rgb(pixels: "np.ndarray[Any, np.dtype[np.uint8]]") -> bytes:
    """A height x width x 3 array of bytes as an 8-bit RGB PNG (no filter, zlib level 6)."""
    height, width, _ = pixels.shape
    rows = np.zeros((height, 1 + 3 * width), dtype=np.uint8)  # filter byte 0 (none) per row
    rows[:, 1:] = pixels.reshape(height, 3 * width)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6))
        + chunk(b"IEND", b"")
    )


def correlation_heatmap(
    symbols: Sequence[str], matrix: Sequence[Sequence[float | None]], *, size: int = 560
) -> str:
    """Pairwise correlations as a colour grid, with the symbols on both axes and a legend.

    The grid is one embedded PNG of one pixel per pair, scaled up without smoothing
    (``image-rendering: pixelated``): 50 symbols are 2,500 cells, which as SVG elements
    with tooltips were three quarters of the page. The numbers are in ``report.json`` and
    the most and least correlated pairs in the table under the chart.
    """
    name = "correlation"
    n = len(symbols)
    if n == 0 or len(matrix) != n:
        return empty_chart(name, "No correlation matrix stored for this book")
    label = 58
    legend = 58
    cell = max(6.0, min(26.0, (size - label - legend) / n))
    grid = cell * n
    width = round(label + grid + legend)
    height = round(label + grid + 8)
    font = max(7.0, min(11.0, cell - 2))
    out = [_open(name, width, height, "Correlation of daily returns between the book's symbols")]
    out.append(
        '<defs><linearGradient id="corr-scale" x1="0" y1="0" x2="0" y2="1">'
        f'<stop offset="0" stop-color="{_corr_color(1.0)}"/>'
        f'<stop offset="0.5" stop-color="{_corr_color(0.0)}"/>'
        f'<stop offset="1" stop-color="{_corr_color(-1.0)}"/></linearGradient></defs>'
    )
    for i, symbol in enumerate(symbols):
        cy = label + cell * i + cell / 2 + font / 3
        out.append(
            f'<text x="{label - 5}" y="{_n(cy)}" text-anchor="end" class="label" '
            f'style="font-size:{_n(font)}px">{escape(symbol)}</text>'
        )
        cx = label + cell * i + cell / 2 + font / 3
        out.append(
            f'<text transform="translate({_n(cx)},{label - 5}) rotate(-60)" class="label" '
            f'style="font-size:{_n(font)}px">{escape(symbol)}</text>'
        )
    png = base64.b64encode(png_rgb(corr_grid_rgb(matrix, n))).decode()
    out.append(
        f'<image x="{_n(label)}" y="{label}" width="{_n(grid)}" height="{_n(grid)}" '
        'preserveAspectRatio="none" style="image-rendering:pixelated" '
        f'href="data:image/png;base64,{png}"/>'
    )
    out.append(
        f'<rect x="{_n(label)}" y="{label}" width="{_n(grid)}" height="{_n(grid)}" fill="none" '
        f'stroke="{AXIS}"/>'
    )
    lx = label + grid + 16
    out.append(
        f'<rect x="{_n(lx)}" y="{label}" width="12" height="{_n(grid)}" '
        f'fill="url(#corr-scale)" stroke="{AXIS}" stroke-width="0.5"/>'
    )
    for text, frac in (("+1", 0.0), ("0", 0.5), ("−1", 1.0)):
        out.append(_text(lx + 17, label + grid * frac + 4, text, cls="tick"))
    out.append("</svg>")
    return "".join(out)


# ---- the explain sections ----------------------------------------------------------------------
def split_bar(
    name: str,
    title: str,
    parts: Sequence[tuple[str, float, str]],
    *,
    width: int = 560,
) -> str:
    """One horizontal bar split into shares (e.g. systematic and specific variance).

    ``parts`` are (label, share of the whole, colour); shares are drawn as given (they sum to
    1 for a split of a total); a legend with each share sits under the bar.
    """
    if not parts:
        return empty_chart(name, f"No data for {title.lower()}", width, 80)
    height = 74
    x0, x1, top = 4, width - 4, 8
    out = [_open(name, width, height, title)]
    x = float(x0)
    for label, share, color in parts:
        w = max(share, 0.0) * (x1 - x0)
        out.append(
            f"<g><title>{escape(label)}: {escape(fmt.pct(share, 1))}</title>"
            f'<rect x="{_n(x)}" y="{top}" width="{_n(max(w, 0.5))}" height="26" fill="{color}"/>'
            "</g>"
        )
        if w > 60:
            out.append(
                f'<text x="{_n(x + 8)}" y="{top + 17}" class="label" style="fill:#fff">'
                f"{escape(fmt.pct(share, 1))}</text>"
            )
        x += w
    lx = float(x0)
    for label, share, color in parts:
        out.append(
            f'<rect x="{_n(lx)}" y="{top + 40}" width="12" height="10" rx="2" fill="{color}"/>'
        )
        text = f"{label} {fmt.pct(share, 1)}"
        out.append(_text(lx + 17, top + 49, text, cls="legend"))
        lx += 30 + 6.4 * len(text)
    out.append("</svg>")
    return "".join(out)


def histogram_chart(
    name: str,
    title: str,
    edges: FloatArray,
    counts: FloatArray,
    lines: Sequence[tuple[str, float, str]],
    *,
    width: int = 560,
    height: int = 250,
) -> str:
    """Bars of a return histogram with vertical marker lines (label, x value, colour).

    A bar left of the first marker line is drawn red (the tail beyond the VaR).
    """
    if len(counts) == 0:
        return empty_chart(name, "No daily returns to draw", width, 120)
    left, right, top, bottom = 44, 16, 30, height - 34
    lo = min(float(edges[0]), *(x for _, x, _ in lines)) if lines else float(edges[0])
    hi = max(float(edges[-1]), *(x for _, x, _ in lines)) if lines else float(edges[-1])
    ticks = nice_ticks(lo, hi, 6)
    lo, hi = ticks[0], ticks[-1]
    y_ticks = nice_ticks(0.0, float(max(counts)), 4)
    y_hi = y_ticks[-1] or 1.0

    def x(v: float) -> float:
        return left + (v - lo) / (hi - lo) * (width - left - right)

    def y(c: float) -> float:
        return bottom - c / y_hi * (bottom - top)

    out = [_open(name, width, height, title)]
    for t in y_ticks:
        out.append(
            f'<line x1="{left}" x2="{width - right}" y1="{_n(y(t))}" y2="{_n(y(t))}" '
            f'stroke="{AXIS if t == 0 else GRID}"/>'
        )
        out.append(_text(left - 6, y(t) + 4, f"{t:g}", anchor="end", cls="tick"))
    for t in ticks:
        out.append(
            _text(x(t), bottom + 16, _pct_tick(t, ticks[1] - ticks[0]), anchor="middle", cls="tick")
        )
    # The tail beyond the least extreme line (the 95 % VaR) is drawn red.
    cut = max((v for _, v, _ in lines), default=-math.inf)
    for a, b, c in zip(edges[:-1], edges[1:], counts, strict=True):
        if c <= 0:
            continue
        color = RED if b <= cut + 1e-15 else SLATE
        out.append(
            f'<rect x="{_n(x(float(a)) + 0.5)}" y="{_n(y(float(c)))}" '
            f'width="{_n(max(x(float(b)) - x(float(a)) - 1, 0.8))}" '
            f'height="{_n(bottom - y(float(c)))}" fill="{color}"/>'
        )
    lx = float(left)
    for label, value, color in lines:
        xx = x(value)
        out.append(
            f'<line x1="{_n(xx)}" x2="{_n(xx)}" y1="{top - 4}" y2="{bottom}" stroke="{color}" '
            f'stroke-width="1.6" stroke-dasharray="4 3"/>'
        )
        out.append(
            f'<line x1="{_n(lx)}" x2="{_n(lx + 18)}" y1="{top - 18}" y2="{top - 18}" '
            f'stroke="{color}" stroke-width="2" stroke-dasharray="4 3"/>'
        )
        out.append(_text(lx + 23, top - 14, label, cls="legend"))
        lx += 34 + 6.2 * len(label)
    out.append("</svg>")
    return "".join(out)


def _line_panel(
    out: list[str],
    xs: Sequence[float],
    values: FloatArray,
    *,
    top: float,
    bottom: float,
    left: float,
    right_edge: float,
    color: str,
    tick: str,
    title: str,
    guide: float | None = None,
) -> None:
    known = values[np.isfinite(values)]
    if known.size == 0:
        out.append(_text(left, top + 20, f"{title}: not enough returns", cls="muted"))
        return
    extra = [guide] if guide is not None else []
    ticks = nice_ticks(min([float(known.min()), *extra]), max([float(known.max()), *extra]), 3)
    lo, hi = ticks[0], ticks[-1]
    step = ticks[1] - ticks[0]

    def y(v: float) -> float:
        return bottom - (v - lo) / (hi - lo) * (bottom - top)

    for t in ticks:
        out.append(
            f'<line x1="{_n(left)}" x2="{_n(right_edge)}" y1="{_n(y(t))}" y2="{_n(y(t))}" '
            f'stroke="{GRID}"/>'
        )
        label = _pct_tick(t, step) if tick == "pct" else fmt.typographic(f"{t:g}")
        out.append(_text(left - 8, y(t) + 4, label, anchor="end", cls="tick"))
    if guide is not None:
        out.append(
            f'<line x1="{_n(left)}" x2="{_n(right_edge)}" y1="{_n(y(guide))}" y2="{_n(y(guide))}" '
            f'stroke="{AXIS}" stroke-dasharray="3 3"/>'
        )
    ys = [None if not math.isfinite(v) else y(v) for v in values.tolist()]
    for points in _segments(xs, ys):
        out.append(
            f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="1.7" '
            f'stroke-linejoin="round"/>'
        )
    last = next((v for v in reversed(values.tolist()) if math.isfinite(v)), None)
    if last is not None:
        text = fmt.pct(last, 1) if tick == "pct" else fmt.number(last, 2)
        out.append(_text(right_edge + 6, y(last) + 4, fmt.typographic(text), cls="value strong"))
    out.append(_text(left, top - 10, title, cls="panel-title"))


def rolling_chart(
    name: str,
    title: str,
    dates: Sequence[dt.date],
    volatility: FloatArray | None,
    beta: FloatArray | None,
    beta_label: str,
) -> str:
    """Rolling annualised volatility above rolling beta, over the same dates."""
    if volatility is None or len(dates) < 2:
        return empty_chart(name, "Fewer than 63 daily returns: no rolling figures", 960, 140)
    width, height = 960, 330 if beta is not None else 190
    left, right = 62, 78
    n = len(dates)
    xs = [left + (width - left - right) * i / (n - 1) for i in range(n)]
    out = [_open(name, width, height, title)]
    _line_panel(
        out,
        xs,
        np.asarray(volatility),
        top=30,
        bottom=140,
        left=left,
        right_edge=width - right,
        color=BLUE,
        tick="pct",
        title="Volatility, annualised (63 days)",
    )
    bottom = 140
    if beta is not None:
        _line_panel(
            out,
            xs,
            np.asarray(beta),
            top=186,
            bottom=290,
            left=left,
            right_edge=width - right,
            color=TEAL,
            tick="number",
            title=beta_label,
            guide=1.0,
        )
        bottom = 290
    span = (dates[-1] - dates[0]).days
    for i in sorted({round(i) for i in np.linspace(0, n - 1, min(n, 7))}):
        anchor = "start" if i == 0 else ("end" if i == n - 1 else "middle")
        out.append(
            _text(xs[i], bottom + 18, _date_label(dates[i], span), anchor=anchor, cls="tick")
        )
    out.append("</svg>")
    return "".join(out)


def backtest_chart(name: str, title: str, days: Sequence[BacktestDay]) -> str:
    """Daily actual P&L bars against the previous session's VaR; exceptions marked.

    A loss beyond the 95 % VaR is a red bar with a ring above it (a filled dot beyond the
    99 % VaR); the VaR lines are drawn as losses (below zero).
    """
    if not days:
        return empty_chart(name, "No session with an actual P&L and the previous VaR yet", 960, 140)
    width, height = 960, 300
    left, right, top, bottom = 74, 24, 34, 262
    n = len(days)
    values = [d.pnl for d in days] + [-d.var_99 for d in days] + [-d.var_95 for d in days]
    ticks = nice_ticks(min(0.0, *values), max(0.0, *values), 5)
    lo, hi = ticks[0], ticks[-1]
    slot = (width - left - right) / n

    def x(i: int) -> float:
        return left + slot * (i + 0.5)

    def y(v: float) -> float:
        return bottom - (v - lo) / (hi - lo) * (bottom - top)

    out = [_open(name, width, height, title)]
    for t in ticks:
        out.append(
            f'<line x1="{left}" x2="{width - right}" y1="{_n(y(t))}" y2="{_n(y(t))}" '
            f'stroke="{AXIS if abs(t) < 1e-9 else GRID}"/>'
        )
        out.append(
            _text(
                left - 8,
                y(t) + 4,
                fmt.typographic(fmt.compact_money(t, trim=True)),
                anchor="end",
                cls="tick",
            )
        )
    zero = y(0.0)
    bar = max(min(slot * 0.7, 12.0), 0.8)
    for i, d in enumerate(days):
        beyond_95 = -d.pnl > d.var_95
        beyond_99 = -d.pnl > d.var_99
        color = RED if beyond_95 else (GREEN if d.pnl >= 0 else SLATE)
        a, b = sorted((zero, y(d.pnl)))
        tip = (
            f"{d.day.isoformat()}: P&L {fmt.money(d.pnl, 0)}; VaR 95 {fmt.money(d.var_95, 0)}, "
            f"VaR 99 {fmt.money(d.var_99, 0)}" + ("; exception" if beyond_95 else "")
        )
        out.append(
            f"<g><title>{escape(tip)}</title>"
            f'<rect x="{_n(x(i) - bar / 2)}" y="{_n(a)}" width="{_n(bar)}" '
            f'height="{_n(max(b - a, 0.8))}" fill="{color}"/></g>'
        )
        if beyond_95:
            fill = RED if beyond_99 else "#fff"
            out.append(
                f'<circle cx="{_n(x(i))}" cy="{_n(max(y(d.pnl) + 9, top))}" r="4" '
                f'fill="{fill}" stroke="{RED}" stroke-width="1.6" data-exception="{d.day.isoformat()}"/>'
            )
    for key, color in (("var_95", AMBER), ("var_99", RED)):
        points = " ".join(
            f"{_n(left + slot * i)},{_n(y(-getattr(d, key)))} "
            f"{_n(left + slot * (i + 1))},{_n(y(-getattr(d, key)))}"
            for i, d in enumerate(days)
        )
        out.append(f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="1.4"/>')
    lx = float(left)
    for color, label in ((AMBER, "−VaR 95 % of the previous session"), (RED, "−VaR 99 %")):
        out.append(
            f'<line x1="{_n(lx)}" x2="{_n(lx + 20)}" y1="{top - 18}" y2="{top - 18}" stroke="{color}" stroke-width="2"/>'
        )
        out.append(_text(lx + 26, top - 14, label, cls="legend"))
        lx += 40 + 6.2 * len(label)
    out.append(
        f'<circle cx="{_n(lx + 4)}" cy="{top - 18}" r="4" fill="#fff" stroke="{RED}" '
        'stroke-width="1.6"/>'
    )
    out.append(_text(lx + 14, top - 14, "exception (loss beyond the VaR)", cls="legend"))
    span = (days[-1].day - days[0].day).days
    for i in sorted({round(i) for i in np.linspace(0, n - 1, min(n, 7))}):
        anchor = "start" if i == 0 else ("end" if i == n - 1 else "middle")
        out.append(
            _text(x(i), bottom + 18, _date_label(days[i].day, span), anchor=anchor, cls="tick")
        )
    out.append("</svg>")
    return "".join(out)
