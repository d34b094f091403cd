"""The ``sigmasight.risk/1`` document (FORMATS.md sections 5 and 8) as frozen typed models.

One type crosses the layers: the stored parts are joined into a :class:`RiskDocument`
(``repositories.documents.documents_for``), the API returns it as its response model, ``export
risk`` dumps it with :meth:`RiskDocument.as_json`, and the reports read it through attributes.
:class:`Headline` is the one derivation of the summary figures (NAV, VaR, beta, worst stress)
used by the run summary, the reports and their index.

Readers ignore unknown keys (FORMATS.md section 8): every model keeps extra keys as they came,
so a document written by a newer run still reads and dumps unchanged. Pure: pydantic only.
"""

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA = "sigmasight.risk/1"


class _Block(BaseModel):
    """A document block: immutable, unknown keys kept, field names as in FORMATS.md."""

    model_config = ConfigDict(frozen=True, extra="allow", populate_by_name=True)


class Amount(_Block):
    """A risk figure as a fraction of NAV and in currency (a loss is positive)."""

    fraction: float | None
    currency: float | None


class RiskWindow(_Block):
    """VaR, ES and volatility over one window (``full`` or ``252d``)."""

    n_obs: int
    ann_vol: float | None
    hist_var_95: Amount
    hist_var_99: Amount
    param_var_95: Amount
    param_var_99: Amount
    cvar_95: Amount
    cvar_99: Amount


class Valuation(_Block):
    """NAV and exposures (FORMATS.md section 5, "Exposures")."""

    nav: float | None
    cash: float | None
    long_mv: float | None
    short_mv: float | None
    stock_market_value: float | None
    option_market_value: float | None
    gross_exposure: float | None
    net_exposure: float | None
    gross_leverage: float | None
    net_leverage: float | None


class Book(_Block):
    """Where the valued book came from (FORMATS section 8, RISK-CONVENTIONS C15, C16)."""

    book_date: dt.date | None = None
    trades_applied: int | None = None
    realized_pnl: float | None = None
    cost_basis: float | None = None
    unrealized_pnl: float | None = None


class History(_Block):
    """The actual day against the previous computed session (RISK-CONVENTIONS C17)."""

    pnl: float | None = None
    external_flow: float | None = None
    twr_daily: float | None = None
    twr_cumulative: float | None = None
    previous_as_of: dt.date | None = None


class DailyPnl(_Block):
    """The day's P&L in currency and as a return."""

    pnl: float | None
    return_: float | None = Field(alias="return")


class Greeks(_Block):
    """An option's per-share greeks and its position figures (``*_usd_*``)."""

    delta: float | None
    gamma: float | None
    vega_per_1pct_vol: float | None
    theta_per_calendar_day: float | None
    rho_per_1pct_rate: float | None
    delta_dollars: float | None
    gamma_shares_per_1usd: float | None
    vega_usd_per_1pct_vol: float | None
    theta_usd_per_calendar_day: float | None
    rho_usd_per_1pct_rate: float | None


class Position(_Block):
    """One position; ``underlying`` and ``greeks`` only for options."""

    symbol: str
    quantity: float
    underlying: str | None = None
    price: float | None
    market_value: float | None
    exposure: float | None
    weight: float | None
    greeks: Greeks | None = None


class BetaSpy(_Block):
    """Beta to SPY over the full window and the last 150 sessions."""

    full: float | None
    d150: float | None = Field(alias="150d")


class FactorExposures(_Block):
    """The 7-factor regression (betas keyed by ETF symbol, in model order)."""

    window: int
    n_obs: int
    betas: dict[str, float | None]
    alpha_daily: float | None
    r2: float | None


class RateSensitivity(_Block):
    """Sensitivity to the 10-year Treasury yield."""

    series: str
    rate_beta_per_pp: float | None
    duration_years: float | None
    dv01: float | None


class Performance(_Block):
    """Drawdown and risk-adjusted return over the full window."""

    max_drawdown: float | None
    sharpe: float | None
    sortino: float | None
    cumulative_return: float | None


class StressImpact(_Block):
    """One scenario's effect: return on NAV and P&L in currency."""

    return_impact: float | None
    pnl: float | None


class Correlation(_Block):
    """Pairwise correlations of the portfolio's symbols (underlyings for options)."""

    symbols: list[str]
    matrix: list[list[float | None]]
    min_overlap: int


class DecompositionPosition(_Block):
    """One position's contributions to risk (C22-C25); fractions of NAV, daily unless named."""

    symbol: str
    underlying: str
    weight: float | None
    mctr_daily: float | None
    ctr_daily: float | None
    ctr_annual: float | None
    ctr_share: float | None
    param_var_95: Amount
    cvar_95: Amount


class GroupContribution(_Block):
    """Contributions summed over an underlying or a sector.

    ``ctr_share`` is a share of the book's volatility; ``param_var_95`` and ``cvar_95`` are
    fractions of NAV.
    """

    ctr_share: float | None
    param_var_95: float | None
    cvar_95: float | None


class FactorRiskSplit(_Block):
    """Variance of daily returns split into factor and specific parts (C26).

    ``contributions`` are each factor's share of ``total_variance`` (keyed by ETF symbol,
    in model order); with ``specific_variance / total_variance`` they sum to 1.
    """

    window: int
    total_variance: float | None
    systematic_variance: float | None
    specific_variance: float | None
    contributions: dict[str, float | None]


class Decomposition(_Block):
    """Risk decomposition over the full window (FORMATS.md section 8)."""

    window: str
    n_obs: int
    sigma_daily: float | None
    positions: list[DecompositionPosition] = Field(default_factory=list)
    by_underlying: dict[str, GroupContribution] = Field(default_factory=dict)
    by_sector: dict[str, GroupContribution] = Field(default_factory=dict)
    factor: FactorRiskSplit | None = None


class Benchmark(_Block):
    """Benchmark-relative risk over the full window (C27)."""

    symbol: str
    tracking_error: float | None
    information_ratio: float | None
    active_beta: float | None


class PositionPnl(_Block):
    """One position's P&L over the day (C28): the previous session's book, today's prices."""

    symbol: str
    pnl: float | None


class Attribution(_Block):
    """The day's P&L explained (C28), in currency; ``by_factor`` keyed by factor ETF.

    holding + trading = the actual P&L (C17); factor + specific = holding.
    """

    holding_pnl: float | None
    factor_pnl: float | None
    specific_pnl: float | None
    trading_pnl: float | None
    by_factor: dict[str, float | None] = Field(default_factory=dict)
    positions: list[PositionPnl] = Field(default_factory=list)


class VarChangeSplit(_Block):
    """The previous VaR and the day's change split into book and market effects (C29)."""

    previous: float | None
    book_effect: float | None
    market_effect: float | None


class VarChange(_Block):
    """What changed since the previous computed session (C29); fractions of NAV."""

    previous_as_of: dt.date | None = None
    hist_var_95: VarChangeSplit


class BacktestResult(_Block):
    """Exceptions and Kupiec's test of one VaR level (C30); ``basel_zone`` for 99 % only."""

    days: int
    exceptions: int
    expected: float | None
    kupiec_lr: float | None
    p_value: float | None
    basel_zone: str | None = None


class Backtest(_Block):
    """The VaR backtest over the last ``window`` sessions (C30)."""

    window: int
    var_95: BacktestResult
    var_99: BacktestResult


LimitStatus = Literal["ok", "new", "continuing", "resolved", "unknown"]


class LimitState(_Block):
    """One configured limit on the document's date (C31): the figure, its bound, its state.

    ``bound`` is a cap on the figure's magnitude, or ``(min, max)`` for a range limit
    (``beta_spy_150d``); ``value`` is None (status ``unknown``) when the figure could not be
    computed.
    """

    limit: str
    value: float | None
    bound: float | tuple[float, float]
    status: LimitStatus

    @property
    def in_breach(self) -> bool:
        """Whether the limit is breached on the date (``new`` or ``continuing``)."""
        return self.status in ("new", "continuing")


class Headline(BaseModel):
    """The summary figures of one document: what a list, a run summary or an index shows.

    ``var_95`` is the 1-day 95 % historical VaR over the full window in currency (a loss is
    positive); ``beta_spy`` is the 150-day beta; the worst stress is the lowest linear P&L
    (ties broken by name).
    """

    model_config = ConfigDict(frozen=True)

    as_of: dt.date
    nav: float | None
    daily_pnl: float | None
    daily_return: float | None
    var_95: float | None
    var_95_fraction: float | None
    beta_spy: float | None
    gross_exposure: float | None
    net_exposure: float | None
    worst_stress: str | None
    worst_stress_pnl: float | None
    stress_pnl: dict[str, float]
    warnings: int


class RiskDocument(_Block):
    """One portfolio's risk on one date, field order as FORMATS.md shows it."""

    schema_: str = Field(alias="schema", default=SCHEMA)
    portfolio_id: str
    as_of: dt.date
    run_id: str
    data_as_of: dt.date | None = None
    conventions: dict[str, str | int] = Field(default_factory=dict)
    valuation: Valuation
    book: Book | None = None
    positions: list[Position] = Field(default_factory=list)
    daily_pnl: DailyPnl | None = None
    history: History | None = None
    risk: dict[str, RiskWindow]
    beta_spy: BetaSpy
    factor_exposures: FactorExposures | None = None
    rate_sensitivity: RateSensitivity | None = None
    performance: Performance | None = None
    stress: dict[str, StressImpact] = Field(default_factory=dict)
    stress_full_revaluation: dict[str, StressImpact] | None = None
    correlation: Correlation | None = None
    decomposition: Decomposition | None = None
    benchmark: Benchmark | None = None
    attribution: Attribution | None = None
    change: VarChange | None = None
    backtest: Backtest | None = None
    #: Every configured limit (C31); None on documents written before limits existed.
    limits: list[LimitState] | None = None
    warnings: list[str] = Field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The document as JSON values, exactly the keys it was built with, in order."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)

    def headline(self) -> Headline:
        """The summary figures (see :class:`Headline`)."""
        full = self.risk.get("full")
        var = full.hist_var_95 if full else None
        stress = {
            name: impact.pnl for name, impact in self.stress.items() if impact.pnl is not None
        }
        worst = min(stress.items(), key=lambda item: (item[1], item[0])) if stress else None
        return Headline(
            as_of=self.as_of,
            nav=self.valuation.nav,
            daily_pnl=self.daily_pnl.pnl if self.daily_pnl else None,
            daily_return=self.daily_pnl.return_ if self.daily_pnl else None,
            var_95=var.currency if var else None,
            var_95_fraction=var.fraction if var else None,
            beta_spy=self.beta_spy.d150,
            gross_exposure=self.valuation.gross_exposure,
            net_exposure=self.valuation.net_exposure,
            worst_stress=worst[0] if worst else None,
            worst_stress_pnl=worst[1] if worst else None,
            stress_pnl=stress,
            warnings=len(self.warnings),
        )
