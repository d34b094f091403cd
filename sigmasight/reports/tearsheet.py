"""The HTML report: one self-contained tear sheet (pure: view in, HTML text out).

Inline CSS, inline SVG charts (``charts``), system fonts, no script and no URL to fetch, so
the file opens offline, from an e-mail attachment or from S3 alike. Sections, each with an
``id`` a reader (or test) can link to: ``summary`` (header), ``data-status`` (only when the
document has warnings), ``key-figures``, ``commentary``, ``performance``,
``sector-exposure``, ``factor-betas``, ``stress``, ``correlation``, ``var-es``,
``exposures``, ``greeks``, ``positions``, ``availability``.
"""

from collections.abc import Iterable, Sequence
from html import escape

from sigmasight.reports import charts, fmt
from sigmasight.reports.model import ReportView, StressRow, availability

CSS = """
:root{--ink:#111827;--muted:#6b7280;--line:#e5e7eb;--bg:#f1f3f6;--card:#fff;--blue:#2563eb;
--red:#dc2626;--green:#059669;--amber:#b45309}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.5 system-ui,-apple-system,
"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans","Liberation Sans",sans-serif;
font-variant-numeric:tabular-nums}
.sheet{max-width:1240px;margin:0 auto;padding:28px 32px 40px}
header.top{display:flex;justify-content:space-between;align-items:flex-end;gap:24px;
padding:26px 30px;background:#0f172a;color:#f8fafc;border-radius:14px}
.eyebrow{font-size:11.5px;letter-spacing:.09em;text-transform:uppercase;color:#94a3b8}
h1{margin:4px 0 8px;font-size:28px;font-weight:650;letter-spacing:-.01em;line-height:1.2}
.meta{color:#cbd5e1;font-size:13px}
.meta span+span:before{content:"\\00B7";margin:0 9px;color:#64748b}
.navbox{text-align:right;white-space:nowrap}
.navbox .label{font-size:11.5px;color:#94a3b8;text-transform:uppercase;letter-spacing:.09em}
.navbox .big{font-size:34px;font-weight:700;line-height:1.15}
.navbox .chg{font-size:14px}
.pos{color:var(--green)}.neg{color:var(--red)}
header .pos{color:#34d399}header .neg{color:#fca5a5}
.banner{margin:16px 0 0;padding:12px 16px;border-radius:10px;background:#fffbeb;
border:1px solid #fcd34d;color:#78350f}
.banner strong{display:block;margin-bottom:2px}
.banner ul{margin:4px 0 0;padding-left:20px}
.cards{display:grid;grid-template-columns:repeat(6,minmax(0,1fr));gap:12px;margin:16px 0}
.card{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:12px 14px}
.card .k{font-size:11px;color:var(--muted);text-transform:uppercase;letter-spacing:.06em}
.card .v{font-size:21px;font-weight:650;margin-top:2px;white-space:nowrap}
.card .s{font-size:12px;color:var(--muted);white-space:nowrap;overflow:hidden;
text-overflow:ellipsis}
section.panel{background:var(--card);border:1px solid var(--line);border-radius:14px;
padding:18px 20px;margin:0 0 16px;min-width:0}
h2{font-size:15.5px;margin:0 0 2px;font-weight:650}
.sub{color:var(--muted);font-size:12.5px;margin:0 0 12px}
.grid{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:16px;margin:0 0 16px}
.grid>section.panel{margin:0}
.narrative p{margin:0 0 8px;font-size:14.5px;line-height:1.65;max-width:95ch}
.source{color:var(--muted);font-size:12px}
table{width:100%;border-collapse:collapse;font-size:13px}
th{font-weight:600;color:var(--muted);text-align:left;border-bottom:1px solid var(--line);
padding:6px 8px;font-size:11.5px;text-transform:uppercase;letter-spacing:.03em}
td{padding:6px 8px;border-bottom:1px solid #f1f3f5}
td.n,th.n{text-align:right;white-space:nowrap}
tbody tr:nth-child(even){background:#fafbfc}
tr.total td{font-weight:650;border-top:1px solid var(--line);background:#f8fafc}
.wbar{display:inline-block;height:8px;border-radius:2px;background:#bfdbfe;margin-right:6px;
vertical-align:middle}
.wbar.short{background:#fcd9b6}
.scroll{overflow-x:auto}
ul.check{list-style:none;padding:0;margin:0;columns:2}
ul.check li{padding:3px 0}
ul.check .yes{color:var(--green);font-weight:700;margin-right:6px}
ul.check .no{color:var(--red);font-weight:700;margin-right:6px}
svg.chart{display:block;height:auto;max-width:100%}
svg text{font-family:inherit;font-size:11px;fill:var(--ink)}
svg .tick{fill:var(--muted);font-size:10.5px}
svg .label{font-size:11.5px}
svg .legend{fill:var(--muted);font-size:11px}
svg .panel-title{font-weight:600;font-size:12px}
svg .muted{fill:var(--muted)}
svg .value{font-size:11.5px}
svg .strong{font-weight:700}
svg .blue{fill:var(--blue)}
svg .red{fill:var(--red)}
footer{color:var(--muted);font-size:12px;margin-top:22px;line-height:1.6}
@media (max-width:980px){.cards{grid-template-columns:repeat(3,minmax(0,1fr))}
.grid{grid-template-columns:minmax(0,1fr)}}
@media print{body{background:#fff}.sheet{padding:0}section.panel,.card{break-inside:avoid}}
"""


def _e(value: object) -> str:
    return escape(str(value))


def _sign_class(value: float | None) -> str:
    if value is None:
        return ""
    return "pos" if value > 0 else ("neg" if value < 0 else "")


def _t(text: str) -> str:
    """Escape and use a typographic minus."""
    return escape(fmt.typographic(text))


def _table(
    headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: Sequence[bool], *, cls: str = ""
) -> str:
    head = "".join(
        f'<th class="n">{_e(h)}</th>' if num else f"<th>{_e(h)}</th>"
        for h, num in zip(headers, numeric, strict=True)
    )
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="n">{c}</td>' if num else f"<td>{c}</td>"
            for c, num in zip(row, numeric, strict=True)
        )
        body.append(f"<tr>{cells}</tr>")
    klass = f' class="{cls}"' if cls else ""
    return f"<table{klass}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _card(key: str, value: str, sub: str = "", value_class: str = "") -> str:
    klass = f"v {value_class}".strip()
    return (
        f'<div class="card"><div class="k">{_e(key)}</div>'
        f'<div class="{klass}">{_t(value)}</div><div class="s">{_t(sub) if sub else "&nbsp;"}</div></div>'
    )


def _panel(section_id: str, title: str, sub: str, body: str) -> str:
    return (
        f'<section class="panel" id="{section_id}"><h2>{_e(title)}</h2>'
        f'<p class="sub">{_e(sub)}</p>{body}</section>'
    )


def scenario_label(name: str) -> str:
    """``market_down_20`` -> ``Market down 20``."""
    text = name.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def _header(view: ReportView) -> str:
    doc = view.doc
    daily = doc.get("daily_pnl") or {}
    pnl, ret = daily.get("pnl"), daily.get("return")
    meta = [
        f"<span>{_e(doc.get('portfolio_id'))}</span>",
        f"<span>As of {_e(doc.get('as_of'))}</span>",
        f"<span>Prices to {_e(doc.get('data_as_of'))}</span>",
        f"<span>{len(view.positions)} positions</span>",
    ]
    change = (
        f'<div class="chg {_sign_class(pnl)}">{_t(fmt.compact_money(pnl))} '
        f"({_t(fmt.pct(ret, 2, sign=True))}) today</div>"
        if pnl is not None
        else ""
    )
    return (
        '<header class="top" id="summary"><div>'
        '<div class="eyebrow">SigmaSight · portfolio risk report</div>'
        f"<h1>{_e(view.data.portfolio_name)}</h1>"
        f'<div class="meta">{"".join(meta)}</div></div>'
        f'<div class="navbox"><div class="label">Net asset value</div>'
        f'<div class="big">{_t(fmt.money(view.nav, 0))}</div>{change}</div></header>'
    )


def _banner(view: ReportView) -> str:
    warnings = list(view.doc.get("warnings") or [])
    if not warnings:
        return ""
    items = "".join(f"<li>{_e(w)}</li>" for w in warnings)
    return (
        '<div class="banner" id="data-status" role="status">'
        f"<strong>Data status: {len(warnings)} warning{'s' if len(warnings) != 1 else ''}</strong>"
        "Figures that depend on missing data are shown as “–”, never estimated."
        f"<ul>{items}</ul></div>"
    )


def _cards(view: ReportView) -> str:
    doc = view.doc
    val = view.valuation
    daily = doc.get("daily_pnl") or {}
    perf = doc.get("performance") or {}
    beta = doc.get("beta_spy") or {}
    worst = view.worst_stress
    n_obs = view.risk("full", "n_obs")
    cards = [
        _card("NAV", fmt.compact_money(view.nav), f"cash {fmt.compact_money(val.get('cash'))}"),
        _card(
            "Daily P&L",
            fmt.compact_money(daily.get("pnl")),
            fmt.pct(daily.get("return"), 2, sign=True),
            _sign_class(daily.get("pnl")),
        ),
        _card(
            "VaR 95% · 1 day",
            fmt.compact_money(view.risk("full", "hist_var_95", "currency")),
            f"{fmt.pct(view.risk('full', 'hist_var_95'))} of NAV, historical",
        ),
        _card(
            "CVaR 95% · 1 day",
            fmt.compact_money(view.risk("full", "cvar_95", "currency")),
            f"{fmt.pct(view.risk('full', 'cvar_95'))} of NAV",
        ),
        _card(
            "Volatility (ann.)",
            fmt.pct(view.risk("full", "ann_vol"), 1),
            f"last 252 days {fmt.pct(view.risk('252d', 'ann_vol'), 1)}",
        ),
        _card("Beta to SPY", fmt.number(beta.get("150d"), 2), "150 days"),
        _card(
            "Gross leverage",
            _times(val.get("gross_leverage")),
            f"gross {fmt.compact_money(val.get('gross_exposure'))}",
        ),
        _card(
            "Net leverage",
            _times(val.get("net_leverage")),
            f"net {fmt.compact_money(val.get('net_exposure'))}",
        ),
        _card(
            "Cumulative return",
            fmt.pct(perf.get("cumulative_return"), 1, sign=True),
            f"today's book, {int(n_obs) if n_obs is not None else '–'} days",
            _sign_class(perf.get("cumulative_return")),
        ),
        _card(
            "Max drawdown",
            fmt.pct(-perf["max_drawdown"] if perf.get("max_drawdown") else None, 1),
            "over the same history",
            "neg" if perf.get("max_drawdown") else "",
        ),
        _card(
            "Sharpe",
            fmt.number(perf.get("sharpe"), 2),
            f"Sortino {fmt.number(perf.get('sortino'), 2)}",
        ),
        _card(
            "Worst stress",
            fmt.compact_money(worst.pnl) if worst else fmt.MISSING,
            scenario_label(worst.name) if worst else "no scenarios",
            _sign_class(worst.pnl) if worst else "",
        ),
    ]
    return f'<section class="cards" id="key-figures">{"".join(cards)}</section>'


def _times(value: float | None) -> str:
    return fmt.MISSING if value is None else f"{value:.2f}x"


def _narrative(view: ReportView) -> str:
    n = view.data.narrative
    paragraphs = "".join(f"<p>{_e(p.strip())}</p>" for p in n.text.split("\n\n") if p.strip())
    source = (
        f"Written by {n.model or 'an OpenAI model'} from the figures in this report."
        if n.source == "openai"
        else "Generated from the figures in this report."
    )
    return (
        '<section class="panel narrative" id="commentary"><h2>Commentary</h2>'
        f'<p class="sub">{_e(source)}</p>{paragraphs}</section>'
    )


def _performance(view: ReportView) -> str:
    path = view.data.path
    bench = path.benchmark_symbol if path and path.benchmark_symbol else None
    sub = "Today's positions held over the stored price history"
    if bench:
        sub += f", against {bench}"
    return _panel(
        "performance",
        "Cumulative return and drawdown",
        sub + " (what the historical VaR is estimated from).",
        charts.performance_chart(path),
    )


def _sector(view: ReportView) -> str:
    rows = [
        (s.sector, s.long, s.short, fmt.typographic(fmt.compact_money(s.net))) for s in view.sectors
    ]
    return _panel(
        "sector-exposure",
        "Exposure by sector",
        "Delta-adjusted exposure; options count in their underlying's sector.",
        charts.long_short_chart("sector-exposure", "Exposure by sector", rows),
    )


def _factors(view: ReportView) -> str:
    fx = view.doc.get("factor_exposures") or {}
    bars = [
        charts.Bar(
            label=f"{f.symbol} · {f.name}" if f.name else f.symbol,
            value=f.beta,
            value_text=fmt.typographic(fmt.number(f.beta, 2)),
            title=f"{f.symbol}: beta {fmt.number(f.beta, 3)}, {fmt.money(f.dollars, 0)}",
        )
        for f in view.factors
    ]
    return _panel(
        "factor-betas",
        "Factor betas",
        f"{fx.get('window', '')}-day multi-factor regression; R² {fmt.number(fx.get('r2'), 2)}, "
        f"{fx.get('n_obs', '–')} observations.",
        charts.bar_chart(
            "factor-betas", "Factor betas", bars, positive=charts.BLUE, negative=charts.AMBER
        ),
    )


def _stress_bar(s: StressRow, full: bool) -> charts.Bar:
    tip = [f"{scenario_label(s.name)}"]
    if s.description:
        tip.append(s.description)
    tip.append(f"linear {fmt.money(s.pnl, 0)} ({fmt.pct(s.return_impact)})")
    if full:
        tip.append(f"full revaluation {fmt.money(s.full_pnl, 0)} ({fmt.pct(s.full_return_impact)})")
    return charts.Bar(
        label=scenario_label(s.name),
        value=s.pnl,
        value_text=fmt.typographic(fmt.compact_money(s.pnl)),
        second=s.full_pnl if full else None,
        title=" · ".join(tip),
    )


def _stress(view: ReportView) -> str:
    full = view.has_full_revaluation
    bars = [_stress_bar(s, full) for s in view.stress]
    return _panel(
        "stress",
        "Stress tests",
        (
            "P&L by scenario, linear in the factor betas (bar); options fully repriced "
            "(thin bar) where stored."
            if full
            else "P&L by scenario, linear in the factor betas."
        ),
        charts.bar_chart(
            "stress",
            "Stress P&L by scenario",
            bars,
            positive=charts.GREEN,
            negative=charts.RED,
            legend=("Linear", "Full revaluation") if full else None,
            tick_format="money",
            label_width=170,
        ),
    )


def _correlation(view: ReportView) -> str:
    avg = fmt.number(view.corr_average, 2)
    top = (
        ", ".join(f"{a}/{b} {c:.2f}" for a, b, c in view.corr_pairs[:3]) if view.corr_pairs else ""
    )
    sub = f"{len(view.corr_symbols)} symbols; average pairwise correlation {avg}"
    sub += f"; most correlated {top}." if top else "."
    pairs = ""
    if view.corr_pairs:
        most = view.corr_pairs[:5]
        least = list(reversed(view.corr_pairs[-3:])) if len(view.corr_pairs) > 5 else []
        rows = [[_e(f"{a} / {b}"), _t(f"{c:.2f}"), "most correlated"] for a, b, c in most]
        rows += [[_e(f"{a} / {b}"), _t(f"{c:.2f}"), "least correlated"] for a, b, c in least]
        pairs = '<div style="margin-top:14px">' + _table(
            ["Pair", "Correlation", ""], rows, [False, True, False]
        )
        clusters = view.data.clusters
        if clusters:
            listed = "; ".join(", ".join(c) for c in clusters)
            pairs += f'<p class="sub" style="margin-top:10px">Clusters above 0.7: {_e(listed)}</p>'
        pairs += "</div>"
    return _panel(
        "correlation",
        "Correlation of daily returns",
        sub,
        charts.correlation_heatmap(view.corr_symbols, view.corr_matrix) + pairs,
    )


def _var_table(view: ReportView) -> str:
    rows = [
        [
            _e(label),
            _t(fmt.pct(view.risk("full", key))),
            _t(fmt.money(view.risk("full", key, "currency"), 0)),
            _t(fmt.pct(view.risk("252d", key))),
            _t(fmt.money(view.risk("252d", key, "currency"), 0)),
        ]
        for label, key in (
            ("Historical VaR 95%", "hist_var_95"),
            ("Historical VaR 99%", "hist_var_99"),
            ("Parametric VaR 95%", "param_var_95"),
            ("Parametric VaR 99%", "param_var_99"),
            ("CVaR (ES) 95%", "cvar_95"),
            ("CVaR (ES) 99%", "cvar_99"),
        )
    ]
    rows.append(
        [
            "Volatility (annualised)",
            _t(fmt.pct(view.risk("full", "ann_vol"))),
            "",
            _t(fmt.pct(view.risk("252d", "ann_vol"))),
            "",
        ]
    )
    full_n, recent_n = view.risk("full", "n_obs"), view.risk("252d", "n_obs")
    perf = view.doc.get("performance") or {}
    performance = _table(
        ["Today's book over the stored history", "Value"],
        [
            ["Cumulative return", _t(fmt.pct(perf.get("cumulative_return"), 2, sign=True))],
            [
                "Maximum drawdown",
                _t(fmt.pct(-perf["max_drawdown"] if perf.get("max_drawdown") else None, 2)),
            ],
            ["Sharpe ratio (annualised)", _t(fmt.number(perf.get("sharpe"), 2))],
            ["Sortino ratio (annualised)", _t(fmt.number(perf.get("sortino"), 2))],
        ],
        [False, True],
    )
    return _panel(
        "var-es",
        "Value at risk and expected shortfall",
        f"One day, positive = loss. Full history {int(full_n) if full_n is not None else '–'} "
        f"returns; recent window {int(recent_n) if recent_n is not None else '–'}.",
        _table(
            ["Measure", "Full %", "Full $", "252 days %", "252 days $"],
            rows,
            [False, True, True, True, True],
        )
        + f'<div style="margin-top:14px">{performance}</div>',
    )


def _exposures(view: ReportView) -> str:
    val = view.valuation
    rate = view.doc.get("rate_sensitivity") or {}
    beta = view.doc.get("beta_spy") or {}
    rows = [
        ["Gross exposure", _t(fmt.money(val.get("gross_exposure"), 0))],
        ["Net exposure", _t(fmt.money(val.get("net_exposure"), 0))],
        ["Long market value", _t(fmt.money(val.get("long_mv"), 0))],
        ["Short market value", _t(fmt.money(val.get("short_mv"), 0))],
        [
            "Stocks / options market value",
            _t(fmt.money(val.get("stock_market_value"), 0))
            + " / "
            + _t(fmt.money(val.get("option_market_value"), 0)),
        ],
        ["Cash", _t(fmt.money(val.get("cash"), 0))],
        [
            "Beta to SPY (150 days / full)",
            _t(fmt.number(beta.get("150d"), 3)) + " / " + _t(fmt.number(beta.get("full"), 3)),
        ],
        [
            f"Rate beta per pp ({_e(rate.get('series', 'DGS10'))})",
            _t(fmt.number(rate.get("rate_beta_per_pp"), 4)),
        ],
        ["Duration (years)", _t(fmt.number(rate.get("duration_years"), 2))],
        ["DV01 ($ per +1 bp)", _t(fmt.money(rate.get("dv01"), 0, sign=True))],
        ["Effective number of positions", _t(fmt.number(view.effective_positions, 1))],
    ]
    return _panel(
        "exposures",
        "Exposures and sensitivities",
        "Options at delta-equivalent exposure; a stock and the options on it net in gross.",
        _table(["Figure", "Value"], rows, [False, True]),
    )


def _greeks(view: ReportView) -> str:
    if not view.options:
        return _panel(
            "greeks",
            "Option Greeks",
            "No option positions: every Greek is zero for a stock-only book.",
            "",
        )
    keys = (
        "delta",
        "gamma",
        "vega_per_1pct_vol",
        "theta_per_calendar_day",
        "delta_dollars",
        "gamma_shares_per_1usd",
        "vega_usd_per_1pct_vol",
        "theta_usd_per_calendar_day",
        "rho_usd_per_1pct_rate",
    )
    rows = []
    for o in view.options:
        g = o.greeks or {}
        rows.append(
            [
                _e(o.symbol),
                _t(fmt.quantity(o.quantity)),
                _t(fmt.money(o.price)),
                *(_t(fmt.number(g.get(k), 4)) for k in keys[:4]),
                *(_t(fmt.number(g.get(k), 0)) for k in keys[4:]),
            ]
        )
    totals = view.greek_totals
    total_row = (
        '<tr class="total"><td>Total</td><td></td><td></td><td></td><td></td><td></td><td></td>'
        + "".join(f'<td class="n">{_t(fmt.number(totals.get(k), 0))}</td>' for k in keys[4:])
        + "</tr>"
    )
    table = _table(
        [
            "Option",
            "Contracts",
            "Price",
            "Delta",
            "Gamma",
            "Vega",
            "Theta",
            "Delta $",
            "Gamma sh/$",
            "Vega $/vol pt",
            "Theta $/day",
            "Rho $/pp",
        ],
        rows,
        [False] + [True] * 11,
    ).replace("</tbody>", total_row + "</tbody>")
    return _panel(
        "greeks",
        "Option Greeks",
        "Per share (delta, gamma, vega per vol point, theta per calendar day) and per position "
        "in dollars; short positions negative.",
        f'<div class="scroll">{table}</div>',
    )


def _positions(view: ReportView) -> str:
    top = max((abs(p.weight) for p in view.positions if p.weight is not None), default=0.0)
    rows = []
    for p in view.positions:
        width = 0 if not top or p.weight is None else round(46 * abs(p.weight) / top)
        bar = (
            f'<span class="wbar{" short" if (p.weight or 0) < 0 else ""}" style="width:{width}px"></span>'
            if width
            else ""
        )
        sector = p.detail.sector
        rows.append(
            [
                _e(p.symbol),
                _e(p.detail.position_type or "–"),
                _e(sector or "–"),
                _t(fmt.quantity(p.quantity)),
                _t(fmt.money(p.price)),
                _t(fmt.money(p.market_value, 0)),
                _t(fmt.money(p.exposure, 0)),
                bar + _t(fmt.pct(p.weight, 1)),
                f'<span class="{_sign_class(p.detail.daily_pnl)}">'
                f"{_t(fmt.money(p.detail.daily_pnl, 0, sign=True))}</span>",
            ]
        )
    return _panel(
        "positions",
        "Positions",
        "By absolute exposure; weight = exposure / NAV.",
        '<div class="scroll">'
        + _table(
            [
                "Symbol",
                "Type",
                "Sector",
                "Quantity",
                "Price",
                "Market value",
                "Exposure",
                "Weight",
                "Daily P&L",
            ],
            rows,
            [False, False, False, True, True, True, True, True, True],
        )
        + "</div>",
    )


def _availability(view: ReportView) -> str:
    items = "".join(
        f'<li><span class="{"yes" if ok else "no"}">{"✓" if ok else "✗"}</span>{_e(label)}</li>'
        for label, ok in availability(view)
    )
    return _panel(
        "availability",
        "Data availability",
        "What the stored results cover.",
        f'<ul class="check">{items}</ul>',
    )


def _footer(view: ReportView) -> str:
    doc = view.doc
    conventions = ", ".join(f"{k} {v}" for k, v in (doc.get("conventions") or {}).items())
    return (
        f"<footer>Schema {_e(doc.get('schema'))} · risk run {_e(doc.get('run_id'))} · built from "
        f"stored results only. Conventions: {_e(conventions)}. VaR and CVaR are one-day losses "
        "as positive numbers.</footer>"
    )


def render_html(view: ReportView) -> str:
    """The tear sheet as one HTML document."""
    doc = view.doc
    title = f"{view.data.portfolio_name} · risk report {doc.get('as_of')}"
    body = "".join(
        [
            _header(view),
            _banner(view),
            _cards(view),
            _narrative(view),
            _performance(view),
            '<div class="grid">',
            _sector(view),
            _factors(view),
            "</div>",
            '<div class="grid">',
            _stress(view),
            _correlation(view),
            "</div>",
            '<div class="grid">',
            _var_table(view),
            _exposures(view),
            "</div>",
            _greeks(view),
            _positions(view),
            _availability(view),
            _footer(view),
        ]
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{CSS}</style></head>"
        f'<body><main class="sheet">{body}</main></body></html>\n'
    )
