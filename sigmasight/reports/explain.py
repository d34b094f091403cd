"""The tear sheet's "explain the risk" figures, derived once per report (pure).

Everything here is a ranking, a sum or a re-labelling of stored figures (the document's
``limits``, ``decomposition``, ``benchmark``, ``attribution``, ``change`` and ``backtest``
blocks, RISK-CONVENTIONS C22-C31), plus the return statistics of ``return_stats`` over one
daily series: the actual time-weighted returns from stored snapshots when there are at
least ``MIN_ACTUAL_RETURNS`` of them, else the replay of today's book (C18), labelled as
such wherever it is shown. A block the document lacks stays ``None``; :meth:`Explained.reason`
gives the document's own warning for it, so a section says why, never shows a made-up number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from sigmasight.documents import (
    Attribution,
    Backtest,
    Benchmark,
    LimitState,
    RiskDocument,
    VarChange,
)
from sigmasight.reports import fmt
from sigmasight.reports.return_stats import (
    MIN_ACTUAL_RETURNS,
    ROLLING_WINDOW,
    BacktestDay,
    Drawdown,
    MonthlyRow,
    ReturnSeries,
    actual_returns,
    backtest_days,
    interval_returns,
    known_count,
    monthly_returns,
    return_histogram,
    rolling_beta,
    rolling_volatility,
    wealth_path,
    worst_drawdowns,
)
from sigmasight.risk.types import FloatArray

if TYPE_CHECKING:
    from sigmasight.reports.model import ActualHistory, PositionDetail, ReturnPath

TOP_CONTRIBUTORS = 10
WORST_DRAWDOWNS = 5

#: Display label and number format of each limit key (FORMATS section 7, C31).
LIMIT_LABELS: dict[str, tuple[str, str]] = {
    "hist_var_95_fraction": ("Historical VaR 95 % (1 day, full window)", "pct"),
    "gross_leverage": ("Gross leverage", "times"),
    "net_leverage": ("Net leverage", "times"),
    "beta_spy_150d": ("Beta to SPY (150 days)", "number"),
    "max_position_weight": ("Largest underlying weight", "pct"),
    "worst_stress_fraction": ("Worst linear stress loss / NAV", "pct"),
}
#: Status order: breaches first, then unknown, resolved and ok.
STATUS_ORDER = {"new": 0, "continuing": 1, "unknown": 2, "resolved": 3, "ok": 4}
STATUS_TEXT = {
    "new": "New breach",
    "continuing": "Breach (continuing)",
    "unknown": "Unknown: figure not computed",
    "resolved": "Resolved since the previous session",
    "ok": "Within limit",
}
#: Statuses the breach banner lists: in breach, or not known to be within the limit.
ALERT_STATUSES = frozenset({"new", "continuing", "unknown"})

#: Words that tie a document warning to the block it explains.
REASON_WORDS: dict[str, tuple[str, ...]] = {
    "decomposition": ("decomposition", "decomposed"),
    "factor": ("factor risk split",),
    "benchmark": ("information ratio", "tracking", "benchmark"),
    "attribution": ("attribution:",),
    "change": ("change:",),
    "backtest": ("backtest:",),
    "history": ("history:",),
}


def block_warnings(warnings: Sequence[str], *blocks: str) -> list[str]:
    """The document warnings that explain ``blocks`` (see :data:`REASON_WORDS`), in order."""
    words = [w for block in blocks for w in REASON_WORDS.get(block, (block,))]
    return [warning for warning in warnings if any(w in warning.lower() for w in words)]


def _format(value: float | None, kind: str) -> str:
    if kind == "pct":
        return fmt.pct(value)
    if kind == "times":
        return fmt.times(value)
    return fmt.number(value, 2)


@dataclass(frozen=True)
class LimitRow:
    """One limit as the reports show it."""

    limit: str
    label: str
    value: float | None
    value_text: str
    bound_text: str
    status: str
    status_text: str

    @property
    def alert(self) -> bool:
        """Listed in the breach banner (``new``, ``continuing`` or ``unknown``)."""
        return self.status in ALERT_STATUSES


def limit_row(state: LimitState) -> LimitRow:
    """A document limit entry with its label, formatted value and bound."""
    label, kind = LIMIT_LABELS.get(state.limit, (state.limit, "number"))
    bound = state.bound
    if isinstance(bound, tuple):
        bound_text = f"{_format(bound[0], kind)} to {_format(bound[1], kind)}"
    else:
        bound_text = f"at most {_format(bound, kind)}"
    return LimitRow(
        limit=state.limit,
        label=label,
        value=state.value,
        value_text=_format(state.value, kind),
        bound_text=bound_text,
        status=state.status,
        status_text=STATUS_TEXT.get(state.status, state.status),
    )


@dataclass(frozen=True)
class Contributor:
    """One position's contributions to risk (C22-C25), with its sector."""

    symbol: str
    underlying: str
    sector: str | None
    weight: float | None
    mctr_daily: float | None
    ctr_share: float | None
    ctr_annual: float | None
    param_var_95: float | None  # fraction of NAV
    param_var_95_currency: float | None
    cvar_95: float | None
    cvar_95_currency: float | None


@dataclass(frozen=True)
class GroupRow:
    """Contributions summed over a sector or an underlying (fractions of NAV)."""

    name: str
    ctr_share: float | None
    param_var_95: float | None
    cvar_95: float | None


@dataclass(frozen=True)
class FactorShare:
    """One factor's share of the book's variance (C26)."""

    symbol: str
    name: str | None
    share: float | None


@dataclass(frozen=True)
class Explained:
    """Every derived figure of the explain sections."""

    document: RiskDocument
    limits: tuple[LimitRow, ...] | None
    contributors: tuple[Contributor, ...]
    by_sector: tuple[GroupRow, ...]
    by_underlying: tuple[GroupRow, ...]
    factor_shares: tuple[FactorShare, ...]
    systematic_share: float | None
    specific_share: float | None
    series: ReturnSeries | None
    monthly: tuple[MonthlyRow, ...]
    histogram: tuple[FloatArray, FloatArray]
    rolling_vol: FloatArray | None
    rolling_beta: FloatArray | None
    drawdowns: tuple[Drawdown, ...]
    backtest_days: tuple[BacktestDay, ...]
    attribution_positions: tuple[tuple[str, float | None], ...] = field(default=())

    @property
    def alerts(self) -> tuple[LimitRow, ...]:
        """Limits in breach or unknown: what the banner lists."""
        return tuple(r for r in self.limits or () if r.alert)

    @property
    def benchmark(self) -> Benchmark | None:
        """The document's ``benchmark`` block."""
        return self.document.benchmark

    @property
    def attribution(self) -> Attribution | None:
        """The document's ``attribution`` block."""
        return self.document.attribution

    @property
    def change(self) -> VarChange | None:
        """The document's ``change`` block."""
        return self.document.change

    @property
    def backtest(self) -> Backtest | None:
        """The document's ``backtest`` block."""
        return self.document.backtest

    def top(self, key: str, n: int = TOP_CONTRIBUTORS) -> tuple[Contributor, ...]:
        """The ``n`` positions with the largest ``|key|`` (a :class:`Contributor` field)."""
        known = [c for c in self.contributors if getattr(c, key) is not None]
        known.sort(key=lambda c: (-abs(getattr(c, key)), c.symbol))
        return tuple(known[:n])

    @property
    def latest_vol(self) -> float | None:
        """The last rolling volatility, if any."""
        return _last_finite(self.rolling_vol)

    @property
    def latest_beta(self) -> float | None:
        """The last rolling beta, if any."""
        return _last_finite(self.rolling_beta)

    def reason(self, block: str) -> str:
        """Why ``block`` is missing: the document's warning about it, or a plain statement."""
        found = block_warnings(self.document.warnings, block)
        if found:
            return found[0]
        return f"the document has no {block} figures (computed by an older run?)"

    def backtest_exceptions(self, level: str) -> int:
        """Exceptions among the charted days (``"95"`` or ``"99"``)."""
        flag = "exception_95" if level == "95" else "exception_99"
        return sum(1 for d in self.backtest_days if getattr(d, flag))


def _last_finite(values: FloatArray | None) -> float | None:
    if values is None:
        return None
    known = values[np.isfinite(values)]
    return float(known[-1]) if known.size else None


def _sector(symbol: str, underlying: str, details: Mapping[str, PositionDetail]) -> str | None:
    for key in (symbol, underlying):
        detail = details.get(key)
        if detail is not None and detail.sector:
            return detail.sector
    return None


def tearsheet_series(
    path: ReturnPath | None,
    history: ActualHistory | None,
    min_actual: int = MIN_ACTUAL_RETURNS,
) -> ReturnSeries | None:
    """The series the return sections use: actual when long enough, else the replay (C18)."""
    if history is not None and history.sessions >= 2 and len(history.twr_daily) == history.sessions:
        base, dates, returns = actual_returns(history.dates, history.twr_daily)
        if known_count(returns) >= min_actual:
            bench = None
            if path is not None and path.benchmark_wealth is not None:
                bench = interval_returns(base, dates, path.dates, path.benchmark_wealth)
            return ReturnSeries(
                "actual",
                base,
                dates,
                returns,
                bench,
                path.benchmark_symbol if bench is not None and path is not None else None,
            )
    if path is not None and path.returns is not None and len(path.dates) >= 2:
        return ReturnSeries(
            "replay",
            path.dates[0],
            tuple(path.dates[1:]),
            np.asarray(path.returns, dtype=np.float64),
            None
            if path.benchmark_returns is None
            else np.asarray(path.benchmark_returns, dtype=np.float64),
            path.benchmark_symbol,
        )
    return None


def explain(
    document: RiskDocument,
    *,
    details: Mapping[str, PositionDetail],
    factor_names: Mapping[str, str],
    path: ReturnPath | None,
    history: ActualHistory | None,
) -> Explained:
    """Derive the explain sections' figures from the document and the report's series."""
    limits = (
        tuple(
            sorted(
                (limit_row(s) for s in document.limits),
                key=lambda r: (STATUS_ORDER.get(r.status, 9), r.limit),
            )
        )
        if document.limits is not None
        else None
    )
    decomposition = document.decomposition
    contributors: list[Contributor] = []
    by_sector: list[GroupRow] = []
    by_underlying: list[GroupRow] = []
    shares: list[FactorShare] = []
    systematic = specific = None
    if decomposition is not None:
        for p in decomposition.positions:
            contributors.append(
                Contributor(
                    symbol=p.symbol,
                    underlying=p.underlying,
                    sector=_sector(p.symbol, p.underlying, details),
                    weight=p.weight,
                    mctr_daily=p.mctr_daily,
                    ctr_share=p.ctr_share,
                    ctr_annual=p.ctr_annual,
                    param_var_95=p.param_var_95.fraction,
                    param_var_95_currency=p.param_var_95.currency,
                    cvar_95=p.cvar_95.fraction,
                    cvar_95_currency=p.cvar_95.currency,
                )
            )
        for target, groups in (
            (by_sector, decomposition.by_sector),
            (by_underlying, decomposition.by_underlying),
        ):
            rows = [
                GroupRow(name, g.ctr_share, g.param_var_95, g.cvar_95) for name, g in groups.items()
            ]
            rows.sort(key=lambda g: (-abs(g.ctr_share or 0.0), g.name))
            target.extend(rows)
        split = decomposition.factor
        if split is not None:
            shares = [
                FactorShare(symbol, factor_names.get(symbol), share)
                for symbol, share in split.contributions.items()
            ]
            total = split.total_variance
            if total:
                if split.systematic_variance is not None:
                    systematic = split.systematic_variance / total
                if split.specific_variance is not None:
                    specific = split.specific_variance / total

    series = tearsheet_series(path, history)
    monthly: tuple[MonthlyRow, ...] = ()
    histogram: tuple[FloatArray, FloatArray] = (np.empty(0), np.empty(0))
    vol = beta = None
    drawdowns: tuple[Drawdown, ...] = ()
    if series is not None:
        monthly = tuple(monthly_returns(series.dates, series.returns))
        histogram = return_histogram(series.returns)
        if known_count(series.returns) >= ROLLING_WINDOW:
            vol = rolling_volatility(series.returns)
            if series.benchmark is not None:
                beta = rolling_beta(series.returns, series.benchmark)
                if not np.isfinite(beta).any():
                    beta = None
            if not np.isfinite(vol).any():
                vol = None
        wealth = wealth_path(series.returns)
        drawdowns = tuple(
            worst_drawdowns((series.base, *series.dates), wealth, top=WORST_DRAWDOWNS)
        )

    days: tuple[BacktestDay, ...] = ()
    if history is not None and all(
        len(column) == history.sessions for column in (history.pnl, history.var_95, history.var_99)
    ):
        days = tuple(
            backtest_days(history.dates, history.nav, history.pnl, history.var_95, history.var_99)
        )

    attribution = document.attribution
    moves: tuple[tuple[str, float | None], ...] = ()
    if attribution is not None:
        ranked = sorted(
            ((p.symbol, p.pnl) for p in attribution.positions),
            key=lambda item: (item[1] is None, -abs(item[1] or 0.0), item[0]),
        )
        moves = tuple(ranked[:TOP_CONTRIBUTORS])
    return Explained(
        document=document,
        limits=limits,
        contributors=tuple(contributors),
        by_sector=tuple(by_sector),
        by_underlying=tuple(by_underlying),
        factor_shares=tuple(shares),
        systematic_share=systematic,
        specific_share=specific,
        series=series,
        monthly=monthly,
        histogram=histogram,
        rolling_vol=vol,
        rolling_beta=beta,
        drawdowns=drawdowns,
        backtest_days=days,
        attribution_positions=moves,
    )
