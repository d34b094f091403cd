"""The HTML report: one self-contained tear sheet (pure: view in, HTML text out).

Inline CSS, inline SVG charts (``charts``), system fonts, no script and no URL to fetch, so
the file opens offline, from an e-mail attachment or from S3 alike. Sections, each with an
``id`` a reader (or test) can link to, breaches first:

* ``summary`` (header); ``breaches`` (only when a limit is ``new``, ``continuing`` or
  ``unknown``); ``data-status`` (only when the document has warnings); ``key-figures``;
  ``limits`` (every configured limit, breaches first); ``commentary``;
* where the risk comes from: ``contributions`` (top contributors to VaR and volatility),
  ``sector-risk``, ``factor-risk`` (systematic/specific and per-factor shares),
  ``benchmark`` (tracking error, information ratio, active beta);
* what changed: ``var-change`` (book and market effect), ``attribution`` (the day's P&L);
* ``backtest`` (actual P&L against the previous VaR, exceptions marked);
* return statistics over one labelled series (the actual time-weighted returns when long
  enough, else the replay of today's book, C18): ``monthly-returns``,
  ``return-distribution`` (with the VaR lines), ``drawdowns`` (the worst five), ``rolling``
  (63-day volatility and beta);
* then ``actual-history`` (only with two or more stored snapshots), ``performance`` (the
  replay of today's book, labelled as one: C18), ``sector-exposure``, ``factor-betas``,
  ``stress``, ``correlation``, ``var-es``, ``exposures``, ``greeks``, ``positions``,
  ``availability``.

A section whose block the document lacks says why (the document's own warning), never
shows a made-up number. The page is ``templates/report.html.j2`` (styles in
``templates/tearsheet.css``); this module draws the charts it embeds and renders it.
"""

from markupsafe import Markup, escape

from sigmasight.reports import charts, fmt
from sigmasight.reports.model import ReportView, StressRow, availability
from sigmasight.reports.templating import render_html_template, scenario_label, sign_class


def _sector_chart(view: ReportView) -> str:
    rows = [
        (s.sector, s.long, s.short, fmt.typographic(fmt.compact_money(s.net))) for s in view.sectors
    ]
    return charts.long_short_chart("sector-exposure", "Exposure by sector", rows)


def _factor_chart(view: ReportView) -> str:
    bars = [
        charts.Bar(
            label=f"{f.symbol} · {f.name}" if f.name else f.symbol,
            value=f.beta,
            value_text=fmt.typographic(fmt.number(f.beta, 2)),
            title=f"{f.symbol}: beta {fmt.number(f.beta, 3)}, {fmt.money(f.dollars, 0)}",
        )
        for f in view.factors
    ]
    return charts.bar_chart(
        "factor-betas", "Factor betas", bars, positive=charts.BLUE, negative=charts.AMBER
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


def _stress_chart(view: ReportView) -> str:
    full = view.has_full_revaluation
    return charts.bar_chart(
        "stress",
        "Stress P&L by scenario",
        [_stress_bar(s, full) for s in view.stress],
        positive=charts.GREEN,
        negative=charts.RED,
        legend=("Linear", "Full revaluation") if full else None,
        tick_format="money",
        label_width=170,
    )


def _contribution_charts(view: ReportView) -> tuple[str, str]:
    ex = view.explained
    var_bars = [
        charts.Bar(
            label=c.symbol,
            value=c.param_var_95_currency,
            value_text=fmt.typographic(fmt.compact_money(c.param_var_95_currency)),
            title=f"{c.symbol}: {fmt.money(c.param_var_95_currency, 0)} "
            f"({fmt.pct(c.param_var_95)} of NAV) of the 95 % parametric VaR; "
            f"ES component {fmt.money(c.cvar_95_currency, 0)}",
        )
        for c in ex.top("param_var_95_currency")
    ]
    vol_bars = [
        charts.Bar(
            label=c.symbol,
            value=c.ctr_share,
            value_text=fmt.typographic(fmt.pct(c.ctr_share, 1)),
            title=f"{c.symbol}: {fmt.pct(c.ctr_share, 1)} of the volatility "
            f"({fmt.pct(c.ctr_annual)} annualised)",
        )
        for c in ex.top("ctr_share")
    ]
    return (
        charts.bar_chart(
            "contrib-var",
            "Top contributors to the 95 % parametric VaR",
            var_bars,
            positive=charts.RED,
            negative=charts.GREEN,
            tick_format="money",
            label_width=170,
        ),
        charts.bar_chart(
            "contrib-vol",
            "Top contributors to volatility",
            vol_bars,
            positive=charts.BLUE,
            negative=charts.GREEN,
            tick_format="pct",
            label_width=170,
        ),
    )


def _sector_risk_chart(view: ReportView) -> str:
    bars = [
        charts.Bar(
            label=g.name,
            value=g.ctr_share,
            value_text=fmt.typographic(fmt.pct(g.ctr_share, 1)),
            title=f"{g.name}: {fmt.pct(g.ctr_share, 1)} of the volatility; parametric VaR "
            f"{fmt.pct(g.param_var_95)} and ES {fmt.pct(g.cvar_95)} of NAV",
        )
        for g in view.explained.by_sector
    ]
    return charts.bar_chart(
        "sector-risk",
        "Share of volatility by sector",
        bars,
        positive=charts.BLUE,
        negative=charts.GREEN,
        tick_format="pct",
    )


def _factor_risk_charts(view: ReportView) -> tuple[str, str]:
    ex = view.explained
    parts = []
    if ex.systematic_share is not None and ex.specific_share is not None:
        parts = [
            ("Systematic (factors)", ex.systematic_share, charts.BLUE),
            ("Specific", ex.specific_share, charts.SLATE),
        ]
    split = charts.split_bar("factor-split", "Variance: systematic and specific", parts)
    bars = [
        charts.Bar(
            label=f"{f.symbol} · {f.name}" if f.name else f.symbol,
            value=f.share,
            value_text=fmt.typographic(fmt.pct(f.share, 1)),
            title=f"{f.symbol}: {fmt.pct(f.share, 2)} of the variance",
        )
        for f in ex.factor_shares
    ]
    shares = charts.bar_chart(
        "factor-shares",
        "Share of variance by factor",
        bars,
        positive=charts.BLUE,
        negative=charts.AMBER,
        tick_format="pct",
    )
    return split, shares


def _attribution_chart(view: ReportView) -> str:
    attribution = view.explained.attribution
    if attribution is None:
        return charts.empty_chart("attribution", "No attribution for this date")
    bars = [
        charts.Bar(
            label=symbol,
            value=value,
            value_text=fmt.typographic(fmt.compact_money(value)),
            title=f"{symbol}: {fmt.money(value, 0, sign=True)} factor P&L",
        )
        for symbol, value in attribution.by_factor.items()
    ]
    bars.append(
        charts.Bar(
            label="Specific",
            value=attribution.specific_pnl,
            value_text=fmt.typographic(fmt.compact_money(attribution.specific_pnl)),
            title="Holding P&L not explained by the factors",
        )
    )
    return charts.bar_chart(
        "attribution",
        "Holding P&L by factor and specific",
        bars,
        positive=charts.GREEN,
        negative=charts.RED,
        tick_format="money",
    )


def _histogram_chart(view: ReportView) -> str:
    edges, counts = view.explained.histogram
    lines = []
    for key, label, color in (
        ("hist_var_95", "VaR 95 %", charts.AMBER),
        ("hist_var_99", "VaR 99 %", charts.RED),
    ):
        value = view.risk("full", key)
        if value is not None:
            lines.append((f"{label} −{fmt.pct(value)}", -value, color))
    return charts.histogram_chart(
        "return-distribution", "Distribution of daily returns with the VaR", edges, counts, lines
    )


def _rolling_chart(view: ReportView) -> str:
    ex = view.explained
    series = ex.series
    symbol = series.benchmark_symbol if series is not None else None
    return charts.rolling_chart(
        "rolling",
        "Rolling 63-day volatility and beta",
        series.dates if series is not None else (),
        ex.rolling_vol,
        ex.rolling_beta,
        f"Beta to {symbol or 'the benchmark'} (63 days)",
    )


def chart_markup(view: ReportView) -> dict[str, Markup]:
    """The report's inline SVG charts by section (``charts`` escapes its own text)."""
    contrib_var, contrib_vol = _contribution_charts(view)
    factor_split, factor_shares = _factor_risk_charts(view)
    return {
        "contrib_var": Markup(contrib_var),
        "contrib_vol": Markup(contrib_vol),
        "sector_risk": Markup(_sector_risk_chart(view)),
        "factor_split": Markup(factor_split),
        "factor_shares": Markup(factor_shares),
        "attribution": Markup(_attribution_chart(view)),
        "histogram": Markup(_histogram_chart(view)),
        "rolling": Markup(_rolling_chart(view)),
        "backtest": Markup(
            charts.backtest_chart(
                "backtest",
                "Actual daily P&L against the previous session's VaR",
                view.explained.backtest_days,
            )
        ),
        "history": Markup(charts.actual_history_chart(view.data.history)),
        "performance": Markup(charts.performance_chart(view.data.path)),
        "sector": Markup(_sector_chart(view)),
        "factors": Markup(_factor_chart(view)),
        "stress": Markup(_stress_chart(view)),
        "correlation": Markup(charts.correlation_heatmap(view.corr_symbols, view.corr_matrix)),
    }


def positions_body(view: ReportView) -> Markup:
    """The rows of the positions table (its ``<tbody>``), one line each.

    Built here rather than in the template: 50 rows of nine cells through Jinja's filters
    and escaping were a fifth of the page's rendering. Text from the data is escaped as the
    template escapes it; the formatted numbers hold no character that needs escaping. A
    weight bar is ``46 px * |weight| / max |weight|`` wide, none when that rounds to zero.
    """
    weights = [abs(p.weight) for p in view.positions if p.weight is not None]
    top = max(weights) if weights else 0.0
    rows = []
    for p in view.positions:
        width = 0 if not top or p.weight is None else int(round(46 * abs(p.weight) / top, 0))
        bar = (
            f'<span class="wbar{" short" if p.weight is not None and p.weight < 0 else ""}" '
            f'style="width:{width}px"></span>'
            if width
            else ""
        )
        d = p.detail
        rows.append(
            f"<tr><td>{escape(p.symbol)}</td><td>{escape(d.position_type or fmt.MISSING)}</td>"
            f"<td>{escape(d.sector or fmt.MISSING)}</td>"
            f'<td class="n">{fmt.typographic(fmt.quantity(p.quantity))}</td>'
            f'<td class="n">{fmt.typographic(fmt.money(p.price))}</td>'
            f'<td class="n">{fmt.typographic(fmt.money(p.market_value, 0))}</td>'
            f'<td class="n">{fmt.typographic(fmt.money(p.exposure, 0))}</td>'
            f'<td class="n">{bar}{fmt.typographic(fmt.pct(p.weight, 1))}</td>'
            f'<td class="n"><span class="{sign_class(d.daily_pnl)}">'
            f"{fmt.typographic(fmt.money(d.daily_pnl, 0, sign=True))}</span></td></tr>\n"
        )
    return Markup("".join(rows))


def render_html(view: ReportView) -> str:
    """The tear sheet as one HTML document."""
    return render_html_template(
        "report.html.j2",
        view=view,
        doc=view.doc,
        charts=chart_markup(view),
        positions_body=positions_body(view),
        availability=availability(view),
    )
