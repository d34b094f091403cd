"""Render one portfolio's report in four formats (pure: data in, bytes out).

:func:`render_report` builds the shared view once (``model.build_view``) and renders:

``report.json``
    The stored ``sigmasight.risk/1`` document, byte for byte what
    ``sigmasight export risk --portfolio ID`` prints (2-space indent, trailing newline).
``report.md``
    The original's sections as Markdown tables (``templates/report.md.j2``): header, limit
    breaches (when any), data status, executive summary (portfolio value, exposures,
    commentary), limits, where the risk comes from (top contributors, sectors, factor split,
    benchmark), what changed (VaR change, attribution), the VaR backtest and its exceptions,
    return statistics (monthly returns, worst drawdowns, latest rolling figures), risk (VaR/ES,
    performance, portfolio Greeks, factor exposures, rate sensitivity, stress tests worst 5 /
    best 5), correlations, exposure by sector, positions, data availability and conventions.
    Money has 2 decimals, percentages 2, betas 3, correlations 2, per-share Greeks 4.
``positions.csv``
    One row per position, sorted by symbol: the original's 34 columns in its order, then 12
    more (a documented superset). Numbers are full precision (Python ``repr``); an empty
    cell is a figure that is missing or not tracked. Columns:

    ====================  ================================================================
    position_id           database id of the position
    symbol                ticker, or OCC option ticker with the ``O:`` prefix
    position_type         LONG, SHORT, LC, LP, SC, SP
    quantity              shares or contracts, signed (short negative)
    entry_price           per share / per option, as imported
    current_price         the document's ``price`` on the as-of date
    market_value          the document's ``market_value``
    cost_basis            entry_price x quantity x multiplier (empty without entry price)
    unrealized_pnl        market_value - cost_basis
    realized_pnl          empty: closed trades are not tracked
    daily_pnl             stored P&L of the position since the previous session
    total_pnl             empty: needs realized P&L
    delta, gamma          options: per-share delta and gamma; empty for stocks
    theta                 options: ``theta_per_calendar_day`` (per share)
    vega                  options: ``vega_per_1pct_vol`` (per share)
    rho                   options: ``rho_per_1pct_rate`` (per share)
    underlying_symbol     options: the underlying
    strike_price          options: strike
    expiration_date       options: expiry (ISO date)
    days_to_expiry        options: calendar days from the report date to expiry
    entry_date            as imported
    exit_date             empty: open positions only
    sector, industry      security master (of the underlying for options)
    tags, notes           empty: not modelled
    portfolio_name        the portfolio's name
    report_date           the as-of date
    gross_exposure        the portfolio's gross exposure (repeated on every row)
    net_exposure          the portfolio's net exposure (repeated on every row)
    notional              stocks: abs(market_value); options: abs(quantity) x multiplier x
                          underlying price
    portfolio_weight      exposure / gross_exposure x 100 (percent of gross, the original's)
    position_exposure     the document's ``exposure`` (delta-adjusted for options)
    portfolio_id          the portfolio's external id
    nav_weight            the document's ``weight`` (exposure / NAV, a fraction)
    delta_dollars ...     options: the five position-level Greeks of the document
    (5 columns)           (``delta_dollars``, ``gamma_shares_per_1usd``, ``vega_usd_per_1pct_vol``,
                          ``theta_usd_per_calendar_day``, ``rho_usd_per_1pct_rate``)
    beta_spy_150d         stored 150-day beta of the position's asset to SPY
    option_right          options: call or put
    multiplier            options: contract multiplier
    risk_run_id           the risk run that produced the figures
    ====================  ================================================================
``report.html``
    A self-contained tear sheet (``tearsheet.render_html``).
"""

import csv
import io
import time
from collections.abc import Callable

from sigmasight.reports import fmt
from sigmasight.reports.jsontext import dumps_json_values
from sigmasight.reports.model import (
    GREEK_TOTAL_KEYS,
    ReportInput,
    ReportView,
    availability,
    build_view,
)
from sigmasight.reports.tearsheet import render_html
from sigmasight.reports.templating import md_cell, render_markdown_template

#: Report kinds in the index, with their file names.
FILE_NAMES: dict[str, str] = {
    "json": "report.json",
    "md": "report.md",
    "csv": "positions.csv",
    "html": "report.html",
}

ORIGINAL_CSV_COLUMNS = (
    "position_id",
    "symbol",
    "position_type",
    "quantity",
    "entry_price",
    "current_price",
    "market_value",
    "cost_basis",
    "unrealized_pnl",
    "realized_pnl",
    "daily_pnl",
    "total_pnl",
    "delta",
    "gamma",
    "theta",
    "vega",
    "rho",
    "underlying_symbol",
    "strike_price",
    "expiration_date",
    "days_to_expiry",
    "entry_date",
    "exit_date",
    "sector",
    "industry",
    "tags",
    "notes",
    "portfolio_name",
    "report_date",
    "gross_exposure",
    "net_exposure",
    "notional",
    "portfolio_weight",
    "position_exposure",
)
EXTRA_CSV_COLUMNS = (
    "portfolio_id",
    "nav_weight",
    "delta_dollars",
    "gamma_shares_per_1usd",
    "vega_usd_per_1pct_vol",
    "theta_usd_per_calendar_day",
    "rho_usd_per_1pct_rate",
    "beta_spy_150d",
    "option_right",
    "multiplier",
    "underlying_price",
    "risk_run_id",
)
CSV_COLUMNS = ORIGINAL_CSV_COLUMNS + EXTRA_CSV_COLUMNS


# ---- JSON ---------------------------------------------------------------------------------
def render_json(view: ReportView) -> bytes:
    """The risk document exactly as ``sigmasight export risk --portfolio`` writes it."""
    return (dumps_json_values(view.doc.as_json()) + "\n").encode()


# ---- Markdown -----------------------------------------------------------------------------
def positions_markdown(view: ReportView) -> str:
    """The rows of the Markdown positions table, one line each (text cells through ``cell``).

    Built here rather than in the template: 50 rows of filters were half of its rendering.
    """
    return "".join(
        f"| {md_cell(p.symbol)} | {md_cell(p.detail.position_type or fmt.MISSING)} | "
        f"{fmt.quantity(p.quantity)} | {fmt.money(p.price)} | {fmt.money(p.market_value)} | "
        f"{fmt.money(p.exposure)} | {fmt.pct(p.weight)} | "
        f"{md_cell(p.detail.sector or fmt.MISSING)} |\n"
        for p in view.positions
    )


def render_markdown(view: ReportView) -> bytes:
    """The original's report sections as readable Markdown (``templates/report.md.j2``)."""
    text = render_markdown_template(
        "report.md.j2",
        view=view,
        doc=view.doc,
        availability=availability(view),
        positions_rows=positions_markdown(view),
    )
    return text.encode()


# ---- CSV ----------------------------------------------------------------------------------
def render_csv(view: ReportView) -> bytes:
    """One row per position: the original's 34 columns, then the documented extras."""
    doc = view.doc
    gross = view.valuation.gross_exposure
    net = view.valuation.net_exposure
    report_date = doc.as_of
    as_of = report_date.isoformat()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for p in sorted(view.positions, key=lambda r: r.symbol):
        d = p.detail
        is_option = p.underlying is not None
        greeks = p.greeks if is_option else None
        multiplier = float(d.multiplier) if is_option and d.multiplier else 1.0
        cost = (
            d.entry_price * p.quantity * multiplier
            if d.entry_price is not None and p.quantity is not None
            else None
        )
        unrealized = (
            p.market_value - cost if cost is not None and p.market_value is not None else None
        )
        if is_option:
            notional = (
                abs(p.quantity) * multiplier * d.underlying_price
                if p.quantity is not None and d.underlying_price is not None
                else None
            )
        else:
            notional = abs(p.market_value) if p.market_value is not None else None
        days = (d.expiry - report_date).days if d.expiry is not None else None
        row: list[object] = [
            d.position_id,
            p.symbol,
            d.position_type,
            p.quantity,
            d.entry_price,
            p.price,
            p.market_value,
            cost,
            unrealized,
            None,
            d.daily_pnl,
            None,
            greeks.delta if greeks else None,
            greeks.gamma if greeks else None,
            greeks.theta_per_calendar_day if greeks else None,
            greeks.vega_per_1pct_vol if greeks else None,
            greeks.rho_per_1pct_rate if greeks else None,
            p.underlying,
            d.strike,
            d.expiry.isoformat() if d.expiry else None,
            days,
            d.entry_date.isoformat() if d.entry_date else None,
            None,
            d.sector,
            d.industry,
            None,
            None,
            view.data.portfolio_name,
            as_of,
            gross,
            net,
            notional,
            p.exposure / gross * 100.0 if p.exposure is not None and gross else None,
            p.exposure,
            doc.portfolio_id,
            p.weight,
            *(getattr(greeks, k) if greeks else None for k in GREEK_TOTAL_KEYS),
            d.beta_spy_150d,
            d.option_right,
            d.multiplier,
            d.underlying_price,
            doc.run_id,
        ]
        writer.writerow(row)  # the csv module writes None as "" and a float as its repr
    return buffer.getvalue().encode()


# ---- all formats --------------------------------------------------------------------------
RENDERERS: dict[str, Callable[[ReportView], bytes]] = {
    "json": render_json,
    "md": render_markdown,
    "csv": render_csv,
    "html": lambda view: render_html(view).encode(),
}


def render_report(data: ReportInput, timings: dict[str, float] | None = None) -> dict[str, bytes]:
    """Every format of one report, keyed by kind (see :data:`FILE_NAMES`).

    When ``timings`` is given, the seconds spent per stage (``view`` and each kind) are
    added to it, so a caller can report a per-format breakdown over many portfolios.
    """
    started = time.perf_counter()
    view = build_view(data)
    stamp = time.perf_counter()
    if timings is not None:
        timings["view"] = timings.get("view", 0.0) + stamp - started
    files: dict[str, bytes] = {}
    for kind, renderer in RENDERERS.items():
        files[kind] = renderer(view)
        now = time.perf_counter()
        if timings is not None:
            timings[kind] = timings.get(kind, 0.0) + now - stamp
        stamp = now
    return files
