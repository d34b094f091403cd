"""The HTML report: one self-contained tear sheet (pure: view in, HTML text out).

Inline CSS, inline SVG charts (``charts``), system fonts, no script and no URL to fetch, so
the file opens offline, from an e-mail attachment or from S3 alike. Sections, each with an
``id`` a reader (or test) can link to: ``summary`` (header), ``data-status`` (only when the
document has warnings), ``key-figures``, ``commentary``, ``actual-history`` (only with two or
more stored snapshots), ``performance`` (the replay of today's book, labelled as one: C18),
``sector-exposure``, ``factor-betas``, ``stress``, ``correlation``, ``var-es``,
``exposures``, ``greeks``, ``positions``, ``availability``.

The page is ``templates/report.html.j2`` (styles in ``templates/tearsheet.css``); this module
draws the charts it embeds and renders it.
"""

from markupsafe import Markup

from sigmasight.reports import charts, fmt
from sigmasight.reports.model import ReportView, StressRow, availability
from sigmasight.reports.templating import render_html_template, scenario_label


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


def chart_markup(view: ReportView) -> dict[str, Markup]:
    """The report's inline SVG charts by section (``charts`` escapes its own text)."""
    return {
        "history": Markup(charts.actual_history_chart(view.data.history)),
        "performance": Markup(charts.performance_chart(view.data.path)),
        "sector": Markup(_sector_chart(view)),
        "factors": Markup(_factor_chart(view)),
        "stress": Markup(_stress_chart(view)),
        "correlation": Markup(charts.correlation_heatmap(view.corr_symbols, view.corr_matrix)),
    }


def render_html(view: ReportView) -> str:
    """The tear sheet as one HTML document."""
    return render_html_template(
        "report.html.j2",
        view=view,
        doc=view.doc,
        charts=chart_markup(view),
        availability=availability(view),
    )
