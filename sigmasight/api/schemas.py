"""Request and response models of the HTTP API (they are also its OpenAPI schema)."""

import datetime as dt
import uuid
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sigmasight.documents import (
    Amount,
    Attribution,
    Backtest,
    Benchmark,
    Decomposition,
    History,
    LimitState,
    VarChange,
)

T = TypeVar("T")

MAX_QUESTION_CHARS = 2000
#: Something@something without whitespace or control characters.
EMAIL_PATTERN = r"^[^\s@\x00-\x1f\x7f]+@[^\s@\x00-\x1f\x7f]+$"


class ErrorDetail(BaseModel):
    """One problem with a request (validation errors list every one)."""

    location: str
    message: str


class ErrorBody(BaseModel):
    """A stable ``code`` for programs and a ``message`` for people."""

    code: str
    message: str
    details: list[ErrorDetail] | None = None


class ErrorResponse(BaseModel):
    """Every 4xx and 5xx answer has this shape."""

    error: ErrorBody


class Page(BaseModel, Generic[T]):
    """One page of a list: ``items`` from ``offset``, at most ``limit``, of ``total``."""

    items: list[T]
    total: int
    limit: int
    offset: int


# ---- health ---------------------------------------------------------------------------------
CheckStatus = Literal["ok", "failing", "disabled", "unknown"]


class HealthCheck(BaseModel):
    """One part of the system and whether it is fine."""

    status: CheckStatus
    detail: str
    as_of: dt.date | None = None
    finished_at: dt.datetime | None = None
    age_seconds: float | None = None
    last_status: str | None = None


class HealthResponse(BaseModel):
    """``healthy`` only when every check is ok (or disabled); ``failing`` names the others."""

    status: Literal["healthy", "unhealthy"]
    failing: list[str]
    checks: dict[str, HealthCheck]


# ---- auth -----------------------------------------------------------------------------------
class LoginRequest(BaseModel):
    """Email and password of a SigmaSight user."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"email": "demo_hnw@sigmasight.com", "password": "demo12345"}]
        }
    )

    email: str = Field(min_length=3, max_length=255, pattern=EMAIL_PATTERN)
    password: str = Field(min_length=1, max_length=1024)

    @field_validator("password")
    @classmethod
    def _encodable(cls, value: str) -> str:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("must be valid UTF-8 text") from None
        return value


class TokenResponse(BaseModel):
    """A bearer token for ``Authorization: Bearer <access_token>``."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="seconds until the token expires")


class UserOut(BaseModel):
    """The logged-in user."""

    id: int
    email: str
    full_name: str | None


# ---- portfolios -----------------------------------------------------------------------------
class RiskHeadline(BaseModel):
    """The current snapshot's headline figures (1-day 95 % historical VaR as a loss)."""

    as_of: dt.date
    status: str
    nav: float | None
    daily_pnl: float | None
    var_95: float | None = Field(description="1-day 95 % historical VaR, currency (positive loss)")
    var_95_fraction: float | None
    beta_spy: float | None = Field(description="150-day beta to SPY")


class PortfolioSummary(BaseModel):
    """One of the user's portfolios."""

    id: str = Field(description="the portfolio's external id (used in every URL)")
    name: str
    base_currency: str
    cash: float
    positions: int
    options: int
    current: RiskHeadline | None


class PositionOut(BaseModel):
    """A holding with its valuation from the snapshot (null when it was not valued)."""

    symbol: str
    position_type: str
    quantity: float
    underlying: str | None = None
    strike: float | None = None
    expiry: dt.date | None = None
    option_right: str | None = None
    multiplier: int | None = None
    price: float | None
    market_value: float | None
    exposure: float | None
    weight: float | None
    daily_pnl: float | None
    beta_spy_150d: float | None = None
    greeks: dict[str, float | None] | None = None


class PortfolioDetail(BaseModel):
    """A portfolio, its book and the snapshot valuation of each position."""

    id: str
    name: str
    base_currency: str
    cash: float
    benchmark: str
    valuation_date: dt.date | None
    as_of: dt.date | None = Field(description="the snapshot the valuation comes from")
    run_id: uuid.UUID | None
    status: str | None
    valuation: dict[str, float | None] | None
    positions: list[PositionOut]


class FactorBeta(BaseModel):
    """A portfolio's beta to one factor ETF and the dollar exposure it implies (beta x NAV)."""

    factor: str
    name: str | None
    beta: float | None
    exposure_usd: float | None


class PositionFactorBetas(BaseModel):
    """One position's own factor betas (its underlying's for an option)."""

    symbol: str
    weight: float | None
    betas: dict[str, float | None]


class FactorExposures(BaseModel):
    """Factor regression of one snapshot."""

    portfolio_id: str
    as_of: dt.date
    window: int | None
    n_obs: int | None
    r2: float | None
    factors: list[FactorBeta]
    positions: list[PositionFactorBetas]


class Correlations(BaseModel):
    """Pairwise correlations of the portfolio's symbols and the clusters found."""

    portfolio_id: str
    as_of: dt.date
    symbols: list[str]
    matrix: list[list[float | None]]
    min_overlap: int
    clusters: list[list[str]]


class StressOut(BaseModel):
    """P&L of one scenario (``linear`` or ``full_revaluation`` for books with options)."""

    scenario: str
    method: str
    return_impact: float | None
    pnl: float | None


class StressResults(BaseModel):
    """Every stored scenario of one snapshot, worst P&L first."""

    portfolio_id: str
    as_of: dt.date
    items: list[StressOut]


class SnapshotPoint(BaseModel):
    """One computed session of the portfolio's actual history (the stored snapshot).

    The same figures as ``sigmasight export history`` (FORMATS section 7), plus the
    snapshot's status. Currency figures are in the portfolio's currency; VaR, CVaR, volatility
    and returns are fractions (a loss is positive). ``daily_pnl`` / ``daily_return`` replay the
    book held on the date over the previous session's prices; ``pnl`` and the ``twr_*``
    figures are the portfolio's actual performance (RISK-CONVENTIONS C17, C18).
    """

    as_of: dt.date
    status: str = Field(description="ok, warnings or incomplete")
    is_current: bool = Field(description="the snapshot the other routes show by default")
    book_date: dt.date | None = Field(description="date of the stored book the day rolled from")
    nav: float | None = Field(description="net asset value at the close, currency")
    cash: float | None = Field(description="cash at the close, currency")
    pnl: float | None = Field(
        description="P&L net of external flows since the previous computed session, currency "
        "(NAV_t - NAV_t-1 - F_t); null on the first session or when a NAV is unknown"
    )
    external_flow: float | None = Field(
        description="deposits (+) and withdrawals (-) since the previous computed session"
    )
    twr_daily: float | None = Field(description="time-weighted return of the day, pnl / NAV_t-1")
    twr_cumulative: float | None = Field(
        description="compounded time-weighted return since the series started"
    )
    hist_var_95: float | None = Field(
        description="1-day 95 % historical VaR, full window, fraction of NAV"
    )
    hist_var_99: float | None = Field(
        description="1-day 99 % historical VaR, full window, fraction of NAV"
    )
    param_var_95: float | None = Field(
        description="1-day 95 % parametric VaR, full window, fraction of NAV"
    )
    cvar_95: float | None = Field(description="1-day 95 % historical CVaR, full window, fraction")
    ann_vol: float | None = Field(description="annualised volatility, full window, fraction")
    beta_spy_150d: float | None = Field(description="150-day beta to SPY")
    gross_leverage: float | None = Field(description="gross exposure / NAV")
    daily_pnl: float | None = Field(
        description="replay: the day's P&L of the book held on the date, currency"
    )
    daily_return: float | None = Field(description="replay: daily_pnl as a return")
    breaches: int = Field(description="limits in breach on the date (new or continuing)")
    beta_spy: float | None = Field(description="the same as beta_spy_150d (kept for old clients)")
    run_id: uuid.UUID


class Contributions(BaseModel):
    """Where the snapshot's risk comes from (RISK-CONVENTIONS C22-C27, FORMATS section 8).

    ``decomposition`` is the document's block with its ``positions`` ranked by the size of
    their 95 % parametric VaR component (largest first, at most ``top``); ``by_underlying``,
    ``by_sector`` and ``factor`` as stored. Fractions are of NAV, ``*_daily`` per day. A block
    that could not be computed is null and ``warnings`` says why.
    """

    portfolio_id: str
    as_of: dt.date
    nav: float | None
    param_var_95: Amount | None = Field(
        description="the book's 95 % parametric VaR (sum of the components)"
    )
    cvar_95: Amount | None = Field(
        description="the book's 95 % historical ES (sum of the components)"
    )
    positions_total: int = Field(description="positions in the decomposition before ``top``")
    decomposition: Decomposition | None
    benchmark: Benchmark | None
    warnings: list[str] = Field(description="the document's warnings about these blocks")


class AttributionOut(BaseModel):
    """The day's P&L explained and the VaR change split (C28, C29), from the snapshot.

    ``history`` is the actual day (P&L net of flows, C17); ``attribution`` splits it into
    holding (factor + specific) and trading P&L, with each position's P&L ranked by size;
    ``change`` splits the 95 % historical VaR change (fraction of NAV) into book and market
    effects. Null blocks come with the warnings that say why.
    """

    portfolio_id: str
    as_of: dt.date
    hist_var_95: Amount | None = Field(description="today's 1-day 95 % historical VaR, full window")
    history: History | None
    attribution: Attribution | None
    change: VarChange | None
    warnings: list[str]


class BacktestDayOut(BaseModel):
    """One backtest day: the actual P&L and the previous session's VaR, in currency (C30)."""

    as_of: dt.date
    pnl: float
    var_95: float
    var_99: float
    exception_95: bool = Field(description="the loss exceeded the 95 % VaR")
    exception_99: bool = Field(description="the loss exceeded the 99 % VaR")


class BacktestOut(BaseModel):
    """The stored VaR backtest (Kupiec, Basel zone) and the days it counts, oldest first.

    ``days`` are rebuilt from the stored snapshots up to the date (the last 250 with an
    actual P&L and the previous session's VaR), the same rows the risk run counted; the
    ``backtest`` block is null below 60 such days (``warnings`` says how many there are).
    """

    portfolio_id: str
    as_of: dt.date
    backtest: Backtest | None
    days: list[BacktestDayOut]
    warnings: list[str]


class LimitsOut(BaseModel):
    """The snapshot's limit states (C31), breaches first.

    ``limits`` is null for a snapshot computed before limits were evaluated, empty when
    none is configured. ``breaches`` counts ``new`` and ``continuing``; ``unknown`` (a figure
    that could not be computed) is never counted as within the limit.
    """

    portfolio_id: str
    as_of: dt.date
    breaches: int
    new: int
    unknown: int
    limits: list[LimitState] | None


class ReportOut(BaseModel):
    """A report file indexed in the database."""

    id: int
    portfolio_id: str
    as_of: dt.date
    kind: str
    filename: str
    size_bytes: int
    sha256: str
    created_at: dt.datetime
    run_id: uuid.UUID
    download_url: str
    view_url: str


class FlowRunOut(BaseModel):
    """One flow run from the run ledger."""

    id: uuid.UUID
    flow: str
    as_of: dt.date | None
    status: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    duration_s: float | None
    counts: dict[str, Any]
    timings: dict[str, Any]
    error: str | None = Field(description="the failure text; operators only")
    portfolios: dict[str, str] | None = Field(
        default=None,
        description="for a user who is not an operator: the status of each of their own "
        "portfolios in this run (counts, timings and errors are the operators')",
    )


# ---- analyze --------------------------------------------------------------------------------
class AnalyzeRequest(BaseModel):
    """A question about one portfolio's stored results."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"question": "What drives my VaR, and what is my worst stress scenario?"}]
        }
    )

    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)

    @field_validator("question")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be blank")
        return value


class ToolCallOut(BaseModel):
    """A tool the model called (or the offline answer read) and its arguments."""

    name: str
    arguments: dict[str, Any]


class AnalyzeResponse(BaseModel):
    """The answer and how it was made."""

    portfolio_id: str
    as_of: dt.date | None
    question: str
    answer: str
    mode: Literal["llm", "offline"]
    model: str | None
    tool_calls: list[ToolCallOut]
    note: str | None = None
