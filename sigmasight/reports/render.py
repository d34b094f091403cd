"""Render one portfolio's report in four formats (pure: data in, bytes out).

:func:`render_report` builds the shared view once (``model.build_view``) and renders:

``report.json``
    The stored ``sigmasight.risk/1`` document, byte for byte what
    ``sigmasight export risk --portfolio ID`` prints (2-space indent, trailing newline).
``report.md``
    The original's sections as Markdown tables: header, data status, executive summary
    (portfolio value, exposures, commentary), risk (VaR/ES, performance, portfolio Greeks,
    factor exposures, rate sensitivity, stress tests worst 5 / best 5), correlations, exposure
    by sector, positions, data availability and conventions. Money has 2 decimals,
    percentages 2, betas 3, correlations 2, per-share Greeks 4.
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
import datetime as dt
import io
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sigmasight.reports import fmt
from sigmasight.reports.model import ReportInput, ReportView, availability, build_view
from sigmasight.reports.tearsheet import render_html

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

VAR_ROWS = (
    ("Historical VaR 95%", "hist_var_95"),
    ("Historical VaR 99%", "hist_var_99"),
    ("Parametric VaR 95%", "param_var_95"),
    ("Parametric VaR 99%", "param_var_99"),
    ("Expected shortfall (CVaR) 95%", "cvar_95"),
    ("Expected shortfall (CVaR) 99%", "cvar_99"),
)
GREEK_LABELS = (
    ("delta_dollars", "Delta ($ per 1.00 move in the underlyings, delta-dollars)"),
    ("gamma_shares_per_1usd", "Gamma (shares per $1 move)"),
    ("vega_usd_per_1pct_vol", "Vega ($ per 1 vol point)"),
    ("theta_usd_per_calendar_day", "Theta ($ per calendar day)"),
    ("rho_usd_per_1pct_rate", "Rho ($ per 1 pp rate)"),
)


# ---- JSON ---------------------------------------------------------------------------------
def render_json(view: ReportView) -> bytes:
    """The risk document exactly as ``sigmasight export risk --portfolio`` writes it."""
    return (json.dumps(view.doc, indent=2, allow_nan=False) + "\n").encode()


# ---- Markdown -----------------------------------------------------------------------------
def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def md_table(headers: Sequence[str], rows: Iterable[Sequence[object]], align: str = "") -> str:
    """A Markdown table; ``align`` is one letter per column (``l`` or ``r``), default left."""
    spec = align.ljust(len(headers), "l")
    lines = [
        "| " + " | ".join(_cell(h) for h in headers) + " |",
        "|" + "|".join("---:" if a == "r" else "---" for a in spec) + "|",
    ]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _stress_table(view: ReportView, rows: Sequence[Any]) -> str:
    headers = ["Scenario", "Category", "P&L (linear)", "Return (linear)"]
    if view.has_full_revaluation:
        headers += ["P&L (full revaluation)", "Return (full)"]
    body = []
    for s in rows:
        cells: list[object] = [
            s.name,
            s.category or fmt.MISSING,
            fmt.money(s.pnl, sign=True),
            fmt.pct(s.return_impact, sign=True),
        ]
        if view.has_full_revaluation:
            cells += [fmt.money(s.full_pnl, sign=True), fmt.pct(s.full_return_impact, sign=True)]
        body.append(cells)
    return md_table(headers, body, "llrrrr")


def render_markdown(view: ReportView) -> bytes:
    """The original's report sections as readable Markdown."""
    doc = view.doc
    val = view.valuation
    data = view.data
    daily = doc.get("daily_pnl") or {}
    out: list[str] = [
        f"# Risk report: {data.portfolio_name} ({doc.get('portfolio_id')})",
        "",
        md_table(
            ["", ""],
            [
                ["Report date", doc.get("as_of")],
                ["Data as of", doc.get("data_as_of")],
                ["Risk run", doc.get("run_id")],
                ["Positions", f"{len(view.positions)} ({len(view.options)} options)"],
            ],
        ),
        "",
    ]
    warnings = list(doc.get("warnings") or [])
    if warnings:
        out += [f"> **Data status: {len(warnings)} warning(s).**", ">"]
        out += [f"> - {w}" for w in warnings]
        out.append("")
    out += [
        "## Executive summary",
        "",
        "### Portfolio value",
        "",
        md_table(
            ["Metric", "Value"],
            [
                ["NAV", fmt.money(view.nav)],
                ["Cash", fmt.money(val.get("cash"))],
                ["Daily P&L", fmt.money(daily.get("pnl"), sign=True)],
                ["Daily return", fmt.pct(daily.get("return"), sign=True)],
                ["Positions", len(view.positions)],
            ],
            "lr",
        ),
        "",
        "### Exposures",
        "",
        md_table(
            ["Metric", "Value"],
            [
                ["Gross exposure", fmt.money(val.get("gross_exposure"))],
                ["Net exposure", fmt.money(val.get("net_exposure"))],
                ["Long market value", fmt.money(val.get("long_mv"))],
                ["Short market value", fmt.money(val.get("short_mv"))],
                ["Stock market value", fmt.money(val.get("stock_market_value"))],
                ["Option market value", fmt.money(val.get("option_market_value"))],
                ["Gross leverage", _times(val.get("gross_leverage"))],
                ["Net leverage", _times(val.get("net_leverage"))],
            ],
            "lr",
        ),
        "",
        "### Commentary",
        "",
        data.narrative.text,
        "",
        f"_{_narrative_source(view)}_",
        "",
        "## Risk",
        "",
        "### Value at risk and expected shortfall (1 day, positive = loss)",
        "",
    ]
    var_rows: list[list[object]] = []
    for label, key in VAR_ROWS:
        var_rows.append(
            [
                label,
                fmt.pct(view.risk("full", key)),
                fmt.money(view.risk("full", key, "currency")),
                fmt.pct(view.risk("252d", key)),
                fmt.money(view.risk("252d", key, "currency")),
            ]
        )
    var_rows.append(
        [
            "Annualised volatility",
            fmt.pct(view.risk("full", "ann_vol")),
            "",
            fmt.pct(view.risk("252d", "ann_vol")),
            "",
        ]
    )
    var_rows.append(
        [
            "Daily returns used",
            _int(view.risk("full", "n_obs")),
            "",
            _int(view.risk("252d", "n_obs")),
            "",
        ]
    )
    out += [
        md_table(
            ["Measure", "Full history", "Full history ($)", "Last 252 days", "Last 252 days ($)"],
            var_rows,
            "lrrrr",
        ),
        "",
        "### Performance of today's book over the stored history",
        "",
    ]
    perf = doc.get("performance") or {}
    beta = doc.get("beta_spy") or {}
    out += [
        md_table(
            ["Metric", "Value"],
            [
                ["Cumulative return", fmt.pct(perf.get("cumulative_return"), sign=True)],
                ["Maximum drawdown", fmt.pct(perf.get("max_drawdown"))],
                ["Sharpe ratio (annualised)", fmt.number(perf.get("sharpe"), 2)],
                ["Sortino ratio (annualised)", fmt.number(perf.get("sortino"), 2)],
                ["Beta to SPY (150 days)", fmt.number(beta.get("150d"), 3)],
                ["Beta to SPY (full history)", fmt.number(beta.get("full"), 3)],
            ],
            "lr",
        ),
        "",
        "### Portfolio Greeks",
        "",
    ]
    if view.options:
        out.append(
            md_table(
                ["Greek", "Total"],
                [[label, fmt.number(view.greek_totals.get(key), 2)] for key, label in GREEK_LABELS],
                "lr",
            )
        )
        out += ["", f"Option positions ({len(view.options)}):", ""]
        out.append(
            md_table(
                [
                    "Option",
                    "Underlying",
                    "Contracts",
                    "Price",
                    "Delta",
                    "Gamma",
                    "Vega",
                    "Theta",
                    "Rho",
                    "Delta $",
                ],
                [
                    [
                        o.symbol,
                        o.underlying,
                        fmt.quantity(o.quantity),
                        fmt.money(o.price),
                        *(
                            fmt.number((o.greeks or {}).get(k), 4)
                            for k in (
                                "delta",
                                "gamma",
                                "vega_per_1pct_vol",
                                "theta_per_calendar_day",
                                "rho_per_1pct_rate",
                            )
                        ),
                        fmt.money((o.greeks or {}).get("delta_dollars")),
                    ]
                    for o in view.options
                ],
                "llrrrrrrrr",
            )
        )
    else:
        out.append("No option positions: every Greek is zero for a stock-only book.")
    fx = doc.get("factor_exposures") or {}
    out += [
        "",
        f"### Factor exposures ({fx.get('window', '')}-day regression)",
        "",
        md_table(
            ["Factor", "Name", "Beta", "Dollar exposure"],
            [
                [f.symbol, f.name or fmt.MISSING, fmt.number(f.beta, 3), fmt.money(f.dollars)]
                for f in view.factors
            ],
            "llrr",
        ),
        "",
        f"R²: {fmt.number(fx.get('r2'), 3)}; daily alpha: {fmt.pct(fx.get('alpha_daily'), 4)}; "
        f"observations: {fx.get('n_obs', fmt.MISSING)}.",
        "",
    ]
    rate = doc.get("rate_sensitivity") or {}
    out += [
        f"### Interest-rate sensitivity ({rate.get('series', 'DGS10')})",
        "",
        md_table(
            ["Rate beta per pp", "Duration (years)", "DV01 ($ per +1 bp)"],
            [
                [
                    fmt.number(rate.get("rate_beta_per_pp"), 4),
                    fmt.number(rate.get("duration_years"), 2),
                    fmt.money(rate.get("dv01"), sign=True),
                ]
            ],
            "rrr",
        ),
        "",
        "### Stress tests",
        "",
        "Worst 5 scenarios (by linear P&L):",
        "",
        _stress_table(view, view.stress[:5]),
        "",
        "Best 5 scenarios:",
        "",
        _stress_table(view, [s for s in reversed(view.stress) if s.pnl is not None][:5]),
        "",
    ]
    out += ["## Correlations", ""]
    n_sym = len(view.corr_symbols)
    out.append(
        md_table(
            ["Metric", "Value"],
            [
                ["Symbols", n_sym],
                ["Average pairwise correlation", fmt.number(view.corr_average, 2)],
                ["Effective number of positions", fmt.number(view.effective_positions, 1)],
                ["Minimum overlap (days)", (doc.get("correlation") or {}).get("min_overlap", "")],
            ],
            "lr",
        )
    )
    if view.corr_pairs:
        out += ["", "Most correlated pairs:", ""]
        out.append(
            md_table(
                ["Pair", "Correlation"],
                [[f"{a} / {b}", f"{c:.2f}"] for a, b, c in view.corr_pairs[:5]],
                "lr",
            )
        )
        out += ["", "Least correlated pairs:", ""]
        out.append(
            md_table(
                ["Pair", "Correlation"],
                [[f"{a} / {b}", f"{c:.2f}"] for a, b, c in reversed(view.corr_pairs[-3:])],
                "lr",
            )
        )
    if data.clusters:
        out += ["", "Clusters (correlation above 0.7):", ""]
        out += [f"- {', '.join(c)}" for c in data.clusters]
    if 0 < n_sym <= 30:
        out += ["", "Matrix:", ""]
        out.append(
            md_table(
                ["", *view.corr_symbols],
                [
                    [sym, *(fmt.MISSING if v is None else f"{v:.2f}" for v in row)]
                    for sym, row in zip(view.corr_symbols, view.corr_matrix, strict=True)
                ],
                "l" + "r" * n_sym,
            )
        )
    out += ["", "## Exposure by sector", ""]
    out.append(
        md_table(
            ["Sector", "Long", "Short", "Net", "Gross"],
            [
                [
                    s.sector,
                    fmt.money(s.long),
                    fmt.money(s.short),
                    fmt.money(s.net),
                    fmt.money(s.gross),
                ]
                for s in view.sectors
            ],
            "lrrrr",
        )
    )
    out += ["", "## Positions", ""]
    out.append(
        md_table(
            ["Symbol", "Type", "Quantity", "Price", "Market value", "Exposure", "Weight", "Sector"],
            [
                [
                    p.symbol,
                    p.detail.position_type or fmt.MISSING,
                    fmt.quantity(p.quantity),
                    fmt.money(p.price),
                    fmt.money(p.market_value),
                    fmt.money(p.exposure),
                    fmt.pct(p.weight),
                    p.detail.sector or fmt.MISSING,
                ]
                for p in view.positions
            ],
            "llrrrrrl",
        )
    )
    out += ["", "## Data availability", ""]
    out += [f"- [{'x' if ok else ' '}] {label}" for label, ok in availability(view)]
    conventions = doc.get("conventions") or {}
    out += [
        "",
        "## Conventions",
        "",
        ", ".join(f"{k}: {v}" for k, v in conventions.items()) + ".",
        "",
        f"Schema {doc.get('schema')}; VaR and CVaR are positive loss figures for one day.",
        "",
    ]
    return "\n".join(out).encode()


def _times(value: float | None) -> str:
    return fmt.MISSING if value is None else f"{value:.2f}x"


def _int(value: float | None) -> str:
    return fmt.MISSING if value is None else str(int(value))


def _narrative_source(view: ReportView) -> str:
    n = view.data.narrative
    if n.source == "openai":
        return (
            f"Commentary written by {n.model or 'an OpenAI model'} from the figures in this report."
        )
    return "Commentary generated from the figures in this report (template)."


# ---- CSV ----------------------------------------------------------------------------------
def _c(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return value


def render_csv(view: ReportView) -> bytes:
    """One row per position: the original's 34 columns, then the documented extras."""
    doc = view.doc
    val = view.valuation
    gross = val.get("gross_exposure")
    net = val.get("net_exposure")
    as_of = str(doc.get("as_of"))
    report_date = dt.date.fromisoformat(as_of)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for p in sorted(view.positions, key=lambda r: r.symbol):
        d = p.detail
        greeks: Mapping[str, float | None] = p.greeks or {}
        is_option = p.underlying is not None
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
            greeks.get("delta") if is_option else None,
            greeks.get("gamma") if is_option else None,
            greeks.get("theta_per_calendar_day") if is_option else None,
            greeks.get("vega_per_1pct_vol") if is_option else None,
            greeks.get("rho_per_1pct_rate") if is_option else None,
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
            doc.get("portfolio_id"),
            p.weight,
            *(
                greeks.get(k) if is_option else None
                for k in (
                    "delta_dollars",
                    "gamma_shares_per_1usd",
                    "vega_usd_per_1pct_vol",
                    "theta_usd_per_calendar_day",
                    "rho_usd_per_1pct_rate",
                )
            ),
            d.beta_spy_150d,
            d.option_right,
            d.multiplier,
            d.underlying_price,
            doc.get("run_id"),
        ]
        writer.writerow([_c(v) for v in row])
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
