"""What a report is made of, and the view every format renders from (pure).

:class:`ReportInput` is everything one portfolio's report needs: the stored
``sigmasight.risk/1`` document (a :class:`~sigmasight.documents.RiskDocument`, read through
its attributes) plus extras the document does not carry (portfolio name, position master
data and sectors, the return path for the chart, factor and scenario labels, correlation
clusters, the narrative, the actual history of stored snapshots). :func:`build_view` derives the tables once
(sorted positions, sector exposure, Greek totals, stress ranking, correlation summary) so
that JSON, Markdown, CSV and HTML never repeat the work.

Derived figures are sums and rankings of stored numbers, never re-estimated risk:

* ``greek_totals``: the sum over option positions of each position-level Greek
  (``delta_dollars``, ``gamma_shares_per_1usd``, ``*_usd_*``); ``None`` when any is missing.
* ``sectors``: long (positive) and short (negative) exposure per sector of the asset (the
  underlying for an option); ETFs without a sector count as "ETF", others "Unclassified".
* ``stress``: every scenario with its linear P&L (the document's ``stress``, defined for
  every scenario) and, for books with options, its full revaluation P&L where stored;
  ranked by the linear P&L, worst first. "Worst stress" everywhere means the lowest linear
  P&L, so the HTML, Markdown, narrative and artifacts always name the same scenario.
* ``effective_positions``: ``1 / sum(w_i^2)`` with ``w_i = |exposure_i| / sum |exposure|``.
* ``corr_average``: the mean of the off-diagonal pairwise correlations that are defined.
"""

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise, repeat
from operator import itemgetter
from typing import Any

from sigmasight.documents import Amount, Greeks, Position, RiskDocument, StressImpact, Valuation
from sigmasight.reports.explain import Explained, explain
from sigmasight.risk.types import FloatArray

GREEK_TOTAL_KEYS = (
    "delta_dollars",
    "gamma_shares_per_1usd",
    "vega_usd_per_1pct_vol",
    "theta_usd_per_calendar_day",
    "rho_usd_per_1pct_rate",
)


@dataclass(frozen=True)
class PositionDetail:
    """Position master data and stored per-position extras the document does not carry."""

    position_id: int | None = None
    position_type: str | None = None
    entry_price: float | None = None
    entry_date: dt.date | None = None
    strike: float | None = None
    expiry: dt.date | None = None
    option_right: str | None = None
    multiplier: int | None = None
    daily_pnl: float | None = None
    beta_spy_150d: float | None = None
    sector: str | None = None
    industry: str | None = None
    asset_type: str | None = None
    underlying_price: float | None = None


@dataclass(frozen=True)
class ScenarioInfo:
    """A stress scenario's category and description (from the scenario table)."""

    category: str
    description: str | None


@dataclass(frozen=True)
class Narrative:
    """The report's commentary and where it came from."""

    text: str
    source: str  # "openai" or "template"
    model: str | None = None
    note: str | None = None  # why the template was used, when it was


@dataclass(frozen=True)
class ReturnPath:
    """Wealth and drawdown of today's book over the stored history (see ``series``)."""

    dates: tuple[dt.date, ...]
    wealth: FloatArray
    drawdown: FloatArray
    benchmark_symbol: str | None = None
    benchmark_wealth: FloatArray | None = None
    #: The daily returns behind ``wealth`` (NaN on a day a held asset has no return) and
    #: the benchmark's over the same days, for the return statistics (``return_stats``).
    returns: FloatArray | None = None
    benchmark_returns: FloatArray | None = None


@dataclass(frozen=True)
class ActualHistory:
    """The portfolio's stored snapshots up to the report's date (RISK-CONVENTIONS C17, C18).

    The actual history, unlike :class:`ReturnPath` (a replay of today's book): per computed
    session, oldest first, the NAV, the external flow and the cumulative time-weighted
    return as the risk runs stored them; ``None`` where a figure is unknown.
    """

    dates: tuple[dt.date, ...]
    nav: tuple[float | None, ...]
    external_flow: tuple[float | None, ...]
    twr_cumulative: tuple[float | None, ...]
    #: Per session as stored (empty when not read): the actual P&L and daily TWR (C17) and
    #: the full-window historical VaR fractions, for the return statistics and the backtest.
    pnl: tuple[float | None, ...] = ()
    twr_daily: tuple[float | None, ...] = ()
    var_95: tuple[float | None, ...] = ()
    var_99: tuple[float | None, ...] = ()

    @property
    def sessions(self) -> int:
        """Computed sessions in the series."""
        return len(self.dates)

    @property
    def cumulative_twr(self) -> float | None:
        """The last session's cumulative time-weighted return."""
        return self.twr_cumulative[-1] if self.dates else None

    @property
    def since(self) -> dt.date | None:
        """The session the last cumulative return compounds from, or None when unknown.

        The stored chain starts on the first computed session (whose cumulative return is
        unknown: no previous NAV) and starts again after a session whose NAV was unknown.
        """
        if self.cumulative_twr is None:
            return None
        for day, value in zip(reversed(self.dates), reversed(self.twr_cumulative), strict=True):
            if value is None:
                return day
        return None


@dataclass(frozen=True)
class ReportInput:
    """Everything one portfolio's report is rendered from."""

    document: RiskDocument
    portfolio_name: str
    narrative: Narrative
    details: Mapping[str, PositionDetail] = field(default_factory=dict)
    path: ReturnPath | None = None
    history: ActualHistory | None = None
    factor_names: Mapping[str, str] = field(default_factory=dict)
    scenarios: Mapping[str, ScenarioInfo] = field(default_factory=dict)
    clusters: Sequence[Sequence[str]] = ()


@dataclass(frozen=True)
class PositionRow:
    """One document position joined with its detail."""

    symbol: str
    quantity: float | None
    underlying: str | None
    price: float | None
    market_value: float | None
    exposure: float | None
    weight: float | None
    greeks: Greeks | None
    detail: PositionDetail

    @property
    def asset(self) -> str:
        """The symbol whose price drives this position (the underlying for an option)."""
        return self.underlying or self.symbol


@dataclass(frozen=True)
class SectorRow:
    """Exposure of one sector."""

    sector: str
    long: float
    short: float

    @property
    def net(self) -> float:
        """Long plus short."""
        return self.long + self.short

    @property
    def gross(self) -> float:
        """Long minus short."""
        return self.long - self.short


@dataclass(frozen=True)
class StressRow:
    """One scenario's stored P&L, linear and (books with options) by full revaluation."""

    name: str
    category: str | None
    description: str | None
    pnl: float | None
    return_impact: float | None
    full_pnl: float | None = None
    full_return_impact: float | None = None


@dataclass(frozen=True)
class FactorRow:
    """One factor beta with its dollar exposure (beta x NAV)."""

    symbol: str
    name: str | None
    beta: float | None
    dollars: float | None


@dataclass(frozen=True)
class ReportView:
    """Derived once per report; every format reads from here."""

    data: ReportInput
    positions: tuple[PositionRow, ...]
    options: tuple[PositionRow, ...]
    greek_totals: Mapping[str, float | None]
    sectors: tuple[SectorRow, ...]
    factors: tuple[FactorRow, ...]
    stress: tuple[StressRow, ...]
    has_full_revaluation: bool
    corr_symbols: tuple[str, ...]
    corr_matrix: tuple[tuple[float | None, ...], ...]
    corr_average: float | None
    corr_pairs: tuple[tuple[str, str, float], ...]
    effective_positions: float | None
    explained: Explained

    @property
    def doc(self) -> RiskDocument:
        """The risk document."""
        return self.data.document

    @property
    def valuation(self) -> Valuation:
        """The document's ``valuation`` block."""
        return self.doc.valuation

    @property
    def nav(self) -> float | None:
        """Net asset value."""
        return self.valuation.nav

    @property
    def worst_stress(self) -> StressRow | None:
        """The scenario with the lowest linear P&L."""
        return next((s for s in self.stress if s.pnl is not None), None)

    def risk(self, window: str, key: str, unit: str = "fraction") -> float | None:
        """A figure of the ``risk`` block, e.g. ``risk("full", "hist_var_95", "currency")``."""
        block = self.doc.risk.get(window)
        value = getattr(block, key, None) if block is not None else None
        if isinstance(value, Amount):
            found = getattr(value, unit, None)
            return float(found) if found is not None else None
        return float(value) if isinstance(value, int | float) else None


def _f(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _finite_row(row: Sequence[Any]) -> tuple[float | None, ...]:
    """``_f`` of each value; a row of finite floats (the usual case) is taken as it is.

    The sum of floats is finite only when every one of them is (an infinity or NaN
    propagates; an overflow merely sends the row down the value-by-value path).
    """
    if set(map(type, row)) <= {float} and math.isfinite(sum(row)):
        return tuple(row)
    return tuple(_f(v) for v in row)


def _corr_pairs(
    symbols: Sequence[str], matrix: Sequence[Sequence[float | None]]
) -> list[tuple[str, str, float]]:
    """The defined off-diagonal pairs (upper triangle, row by row)."""
    pairs: list[tuple[str, str, float]] = []
    for i, row in enumerate(matrix):
        cells = zip(repeat(symbols[i]), symbols[i + 1 :], row[i + 1 :])
        if None in row:
            pairs.extend((a, b, v) for a, b, v in cells if v is not None)
        else:
            pairs.extend(cells)  # type: ignore[arg-type]  # no None: every value a float
    return pairs


def _sector_of(row: PositionRow, details: Mapping[str, PositionDetail]) -> str:
    for own in (row.detail, details.get(row.asset)):
        if own is not None and own.sector:
            return own.sector
    if any(
        own is not None and (own.asset_type or "").lower() == "etf"
        for own in (row.detail, details.get(row.asset))
    ):
        return "ETF"
    return "Unclassified"


def _position_row(p: Position, details: Mapping[str, PositionDetail]) -> PositionRow:
    return PositionRow(
        symbol=p.symbol,
        quantity=_f(p.quantity),
        underlying=p.underlying,
        price=_f(p.price),
        market_value=_f(p.market_value),
        exposure=_f(p.exposure),
        weight=_f(p.weight),
        greeks=p.greeks,
        detail=details.get(p.symbol, PositionDetail()),
    )


def build_view(data: ReportInput) -> ReportView:
    """Derive every table the formats share, once."""
    doc = data.document
    details = data.details
    rows = [_position_row(p, details) for p in doc.positions]
    positions = tuple(sorted(rows, key=lambda r: (-abs(r.exposure or 0.0), r.symbol)))
    options = tuple(r for r in positions if r.underlying is not None)

    totals: dict[str, float | None] = {}
    for key in GREEK_TOTAL_KEYS:
        values = [_f(getattr(r.greeks, key)) if r.greeks else None for r in options]
        totals[key] = (
            sum(v for v in values if v is not None)
            if values and all(v is not None for v in values)
            else (0.0 if not values else None)
        )

    by_sector: dict[str, list[float]] = {}
    for r in positions:
        if r.exposure is None:
            continue
        bucket = by_sector.setdefault(_sector_of(r, details), [0.0, 0.0])
        bucket[0 if r.exposure >= 0 else 1] += r.exposure
    sectors = tuple(
        sorted(
            (SectorRow(name, long, short) for name, (long, short) in by_sector.items()),
            key=lambda s: (-s.gross, s.sector),
        )
    )

    nav = _f(doc.valuation.nav)
    betas = doc.factor_exposures.betas if doc.factor_exposures else {}
    factor_rows = []
    for symbol, raw in betas.items():
        beta = _f(raw)
        factor_rows.append(
            FactorRow(
                symbol=str(symbol),
                name=data.factor_names.get(str(symbol)),
                beta=beta,
                dollars=beta * nav if beta is not None and nav is not None else None,
            )
        )
    # Display order of the factor table (Market first), then any factor it does not list.
    order = {s: i for i, s in enumerate(data.factor_names)}
    factors = tuple(sorted(factor_rows, key=lambda f: (order.get(f.symbol, len(order)), f.symbol)))

    full: Mapping[str, StressImpact] = doc.stress_full_revaluation or {}
    stress_rows = []
    for name, block in doc.stress.items():
        info = data.scenarios.get(name)
        full_block = full.get(name)
        stress_rows.append(
            StressRow(
                name=name,
                category=info.category if info else None,
                description=info.description if info else None,
                pnl=_f(block.pnl),
                return_impact=_f(block.return_impact),
                full_pnl=_f(full_block.pnl) if full_block else None,
                full_return_impact=_f(full_block.return_impact) if full_block else None,
            )
        )
    stress = tuple(
        sorted(
            stress_rows,
            key=lambda s: (
                s.pnl is None,
                s.pnl if s.pnl is not None else 0.0,
                s.name,
            ),
        )
    )

    corr = doc.correlation
    symbols = tuple(corr.symbols) if corr else ()
    matrix = tuple(_finite_row(row) for row in corr.matrix) if corr else ()
    pairs = _corr_pairs(symbols, matrix)
    average = sum(map(itemgetter(2), pairs)) / len(pairs) if pairs else None
    # Highest first, then by the two symbols: (-value, a, b), in two stable C-level sorts
    # (the first is needed only when the symbols are not in order: pairs come row by row).
    if any(a >= b for a, b in pairwise(symbols)):
        pairs.sort(key=itemgetter(0, 1))
    pairs.sort(key=itemgetter(2), reverse=True)

    gross_abs = sum(abs(r.exposure) for r in positions if r.exposure is not None)
    effective = (
        1.0 / sum((abs(r.exposure) / gross_abs) ** 2 for r in positions if r.exposure is not None)
        if gross_abs > 0
        else None
    )
    return ReportView(
        data=data,
        positions=positions,
        options=options,
        greek_totals=totals,
        sectors=sectors,
        factors=factors,
        stress=stress,
        has_full_revaluation=bool(full),
        corr_symbols=symbols,
        corr_matrix=matrix,
        corr_average=average,
        corr_pairs=tuple(pairs),
        effective_positions=effective,
        explained=explain(
            doc,
            details=details,
            factor_names=data.factor_names,
            path=data.path,
            history=data.history,
        ),
    )


def availability(view: ReportView) -> list[tuple[str, bool]]:
    """Which engines produced data for this report (the original's checklist)."""
    fx = view.doc.factor_exposures
    rate = view.doc.rate_sensitivity
    return [
        ("Valuation and exposures", view.nav is not None),
        (
            f"Option Greeks ({len(view.options)} option positions)",
            all(v is not None for v in view.greek_totals.values()),
        ),
        ("VaR and expected shortfall", view.risk("full", "hist_var_95") is not None),
        ("Factor exposures", fx is not None and any(v is not None for v in fx.betas.values())),
        ("Interest-rate sensitivity", rate is not None and rate.rate_beta_per_pp is not None),
        (
            f"Stress tests ({len(view.stress)} scenarios)",
            any(s.pnl is not None for s in view.stress),
        ),
        (f"Correlations ({len(view.corr_symbols)} symbols)", view.corr_average is not None),
        ("Risk contributions by position, sector and factor", view.doc.decomposition is not None),
        ("Benchmark-relative risk", view.doc.benchmark is not None),
        ("P&L attribution and VaR change", view.doc.attribution is not None),
        ("VaR backtest (60+ sessions)", view.doc.backtest is not None),
        ("Limits evaluated", view.doc.limits is not None),
        ("Return history for the replay chart", view.data.path is not None),
        (
            "Actual history (two or more stored snapshots)",
            view.data.history is not None and view.data.history.sessions >= 2,
        ),
    ]
