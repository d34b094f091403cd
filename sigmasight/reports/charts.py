"""Inline SVG charts for the HTML report (pure: numbers in, SVG markup out).

No JavaScript and no external resources: each chart is one ``<svg class="chart">`` element
with a ``viewBox`` (it scales with its container), ``role="img"`` and a ``<title>``; text
inherits the page's system font. Each element carries ``data-chart="<name>"`` so tests and
readers can find it. Colours: blue for long/positive, red for short/loss, green for gains.
"""

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

import numpy as np

from sigmasight.reports import fmt
from sigmasight.reports.model import ActualHistory, ReturnPath

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
    text = f"{x:.1f}"
    return text[:-2] if text.endswith(".0") else text


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
    points = " ".join(f"{_n(x)},{_n(y1(v))}" for x, v in zip(xs, cum, strict=True))
    out.append(
        f'<path d="M{_n(xs[0])},{_n(zero)} L{points} L{_n(xs[-1])},{_n(zero)} Z" '
        f'fill="{BLUE}" fill-opacity="0.08" stroke="none"/>'
    )
    if bench is not None and np.isfinite(bench).all():
        bench_points = " ".join(f"{_n(x)},{_n(y1(v))}" for x, v in zip(xs, bench, strict=True))
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
    dd_points = " ".join(f"{_n(x)},{_n(y2(v))}" for x, v in zip(xs, dd, strict=True))
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
    runs: list[list[str]] = [[]]
    for x, y in zip(xs, ys, strict=True):
        if y is None:
            if runs[-1]:
                runs.append([])
            continue
        runs[-1].append(f"{_n(x)},{_n(y)}")
    return [" ".join(run) for run in runs if run]


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


# Performance: a heatmap has n^2 cells; colours come from a 201-step table, not per cell.
_CORR_COLORS = tuple(_corr_color(i / 100 - 1.0) for i in range(201))


def _corr_cell_color(value: float | None) -> str:
    if value is None or value != value:
        return "#e5e7eb"
    return _CORR_COLORS[round((max(-1.0, min(1.0, value)) + 1.0) * 100)]


def correlation_heatmap(
    symbols: Sequence[str], matrix: Sequence[Sequence[float | None]], *, size: int = 560
) -> str:
    """Pairwise correlations as a colour grid, with a -1..+1 legend."""
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
    names = [escape(s) for s in symbols]
    xs = [_n(label + cell * j) for j in range(n)]
    size_attrs = f'width="{_n(cell)}" height="{_n(cell)}"'
    for i, row in enumerate(matrix):
        y = _n(label + cell * i)
        name = names[i]
        out.extend(
            f'<rect x="{xs[j]}" y="{y}" {size_attrs} fill="{_corr_cell_color(value)}">'
            f"<title>{name} / {names[j]}: {'n/a' if value is None else f'{value:.2f}'}</title></rect>"
            for j, value in enumerate(row)
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
