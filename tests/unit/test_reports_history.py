"""The actual history in the reports (C17, C18): its SVG chart, its section, its Markdown line."""

import datetime as dt
import re
from html.parser import HTMLParser

import numpy as np
import pytest

from sigmasight.reports import charts, fmt
from sigmasight.reports.model import ActualHistory
from sigmasight.reports.render import render_report
from tests.reports_helpers import external_references, inspect_html
from tests.unit.test_reports_render import make_input

REPLAY_TITLE = "Replay of today's book over past prices — not the portfolio's performance"
START = dt.date(2025, 10, 1)


def _history(n: int = 30, seed: int = 11) -> ActualHistory:
    """A NAV path with flows, and the cumulative TWR of C17 computed from it here."""
    rng = np.random.default_rng(seed)
    flows = np.zeros(n)
    for day, amount in ((5, 25_000.0), (17, -40_000.0)):
        if day < n:
            flows[day] = amount
    nav = [1_000_000.0]
    for t in range(1, n):
        nav.append(nav[-1] * (1 + rng.normal(0.0005, 0.01)) + flows[t])
    twr: list[float | None] = [None]
    growth = 1.0
    for t in range(1, n):
        growth *= 1 + (nav[t] - nav[t - 1] - flows[t]) / nav[t - 1]
        twr.append(growth - 1)
    dates = tuple(START + dt.timedelta(days=i) for i in range(n))
    return ActualHistory(dates, tuple(nav), tuple(float(f) for f in flows), tuple(twr))


class _Svg(HTMLParser):
    """Polylines (points), circles and titles of one SVG chart."""

    def __init__(self) -> None:
        super().__init__()
        self.polylines: list[list[tuple[float, float]]] = []
        self.circles: list[dict[str, str]] = []
        self.titles: list[str] = []
        self._title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "polyline":
            self.polylines.append(
                [tuple(map(float, p.split(","))) for p in values["points"].split()]  # type: ignore[misc]
            )
        elif tag == "circle":
            self.circles.append(values)
        self._title = tag == "title"

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        self._title = False

    def handle_data(self, data: str) -> None:
        if self._title:
            self.titles.append(data)
            self._title = False


def _parse(svg: str) -> _Svg:
    parser = _Svg()
    parser.feed(svg)
    return parser


def _assert_drawn_to_scale(points: list[tuple[float, float]], values: list[float]) -> None:
    """y is an affine, decreasing map of the values (coordinates are rounded to 0.1 px)."""
    ys = np.array([y for _, y in points])
    v = np.array(values)
    slope, intercept = np.polyfit(v, ys, 1)
    assert slope < 0
    assert np.abs(ys - (slope * v + intercept)).max() <= 0.06


def test_chart_draws_nav_and_twr_to_scale_with_flow_markers():
    history = _history()
    svg = charts.actual_history_chart(history)
    assert svg.startswith('<svg class="chart" data-chart="actual-history"')
    drawn = _parse(svg)
    nav_line, twr_line = drawn.polylines
    assert len(nav_line) == len(twr_line) == history.sessions
    xs = [x for x, _ in nav_line]
    assert xs == sorted(xs) and xs == [x for x, _ in twr_line]
    _assert_drawn_to_scale(nav_line, [v for v in history.nav if v is not None])
    # The first session is the base of the cumulative return: drawn at 0.
    _assert_drawn_to_scale(
        twr_line, [0.0] + [v for v in history.twr_cumulative[1:] if v is not None]
    )
    markers = [c for c in drawn.circles if c.get("stroke") == charts.AMBER]
    assert len(markers) == 2 + 1  # two flows and the legend
    flow_titles = [t for t in drawn.titles if "external flow" in t]
    assert flow_titles == [
        f"{history.dates[5].isoformat()}: external flow {fmt.money(25_000.0, 2, sign=True)}",
        f"{history.dates[17].isoformat()}: external flow {fmt.money(-40_000.0, 2, sign=True)}",
    ]
    assert fmt.typographic(fmt.pct(history.cumulative_twr, 2, sign=True)) in svg


def test_an_unknown_nav_breaks_both_lines():
    full = _history(12)
    nav = list(full.nav)
    twr = list(full.twr_cumulative)
    nav[6] = None
    twr[6] = twr[7] = None  # the day after an unknown NAV has no return either
    history = ActualHistory(full.dates, tuple(nav), full.external_flow, tuple(twr))
    drawn = _parse(charts.actual_history_chart(history))
    assert [len(line) for line in drawn.polylines] == [6, 5, 6, 5]


@pytest.mark.parametrize(
    "history",
    [
        None,
        ActualHistory((START,), (1.0e6,), (0.0,), (None,)),
        ActualHistory(
            (START, START + dt.timedelta(days=1)), (None, 1.0e6), (0.0, 0.0), (None, None)
        ),
    ],
)
def test_fewer_than_two_known_navs_is_a_placeholder(history):
    svg = charts.actual_history_chart(history)
    assert "<polyline" not in svg and "no actual history yet" in svg


def test_since_is_where_the_stored_chain_starts():
    history = _history(5)
    assert history.since == START and history.cumulative_twr == history.twr_cumulative[-1]
    restarted = ActualHistory(
        history.dates, history.nav, history.external_flow, (None, 0.01, None, 0.002, 0.003)
    )
    assert restarted.since == history.dates[2]
    unknown = ActualHistory(history.dates, history.nav, history.external_flow, (None,) * 5)
    assert unknown.since is None and unknown.cumulative_twr is None


def _section_titles(html: str) -> dict[str, str]:
    found = re.findall(r'<section class="panel[^"]*" id="([^"]+)"><h2>([^<]*)</h2>', html)
    return dict(found)


def test_html_shows_the_actual_history_next_to_the_labelled_replay():
    history = _history()
    files = render_report(make_input(history=history))
    html = files["html"].decode()
    facts = inspect_html(html)
    first = facts.charts.index("actual-history")
    assert facts.charts[first : first + 2] == ["actual-history", "performance"]
    titles = _section_titles(html)
    assert titles["actual-history"] == "Actual history (stored snapshots)"
    assert titles["performance"] == REPLAY_TITLE.replace("'", "&#39;")
    since = f"cumulative TWR {fmt.typographic(fmt.pct(history.cumulative_twr, 2, sign=True))}"
    assert f"{since} since {START}" in html
    assert f"{history.sessions} sessions from {START}" in html
    assert external_references(facts) == []
    assert "<script" not in html
    md = files["md"].decode()
    line = (
        "Actual history (stored snapshots): cumulative time-weighted return "
        f"{fmt.pct(history.cumulative_twr, sign=True)} since {START}, "
        f"{history.sessions} sessions computed."
    )
    assert line in md.splitlines()
    assert "### Replay of today's book over the stored history" in md


def test_one_snapshot_shows_no_actual_chart_and_says_so_in_markdown():
    one = ActualHistory((START,), (1.0e6,), (0.0,), (None,))
    files = render_report(make_input(history=one))
    html = files["html"].decode()
    assert "actual-history" not in inspect_html(html).ids
    assert _section_titles(html)["performance"] == REPLAY_TITLE.replace("'", "&#39;")
    md = files["md"].decode()
    assert (
        "Actual history (stored snapshots): 1 session(s) computed; no time-weighted return yet."
        in md.splitlines()
    )
    no_history = render_report(make_input())
    assert b"Actual history (stored snapshots)" not in no_history["md"]
    assert b'id="actual-history"' not in no_history["html"]


def test_the_replay_is_never_labelled_as_performance():
    html = render_report(make_input(history=_history()))["html"].decode()
    assert "Cumulative return and drawdown<" not in html
    assert "not the portfolio" in html and "Replay return" in html
