"""The user's portfolios and their stored results (``/api/v1/portfolios``)."""

import datetime as dt
import json
from dataclasses import asdict
from typing import Annotated, Any, TypeVar

import anyio.to_thread
from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from models import Portfolio, PortfolioSnapshot, PositionRisk
from sigmasight.api.cache import CachedDocument, CacheKey, DocumentCache
from sigmasight.api.deps import (
    PageDep,
    PortfolioDep,
    PortfolioId,
    SessionDep,
    UserDep,
    not_found,
    valid_portfolio_id,
)
from sigmasight.api.errors import ApiError, problem_schema
from sigmasight.api.schemas import (
    AttributionOut,
    BacktestDayOut,
    BacktestOut,
    Contributions,
    Correlations,
    FactorBeta,
    FactorExposures,
    LimitsOut,
    Page,
    PortfolioDetail,
    PortfolioSummary,
    PositionFactorBetas,
    PositionOut,
    RiskHeadline,
    SnapshotPoint,
    StressOut,
    StressResults,
)
from sigmasight.books import Holding
from sigmasight.dated_risk import detail_rebuilder
from sigmasight.db import get_sessionmaker
from sigmasight.documents import (
    Amount,
    Attribution,
    Backtest,
    History,
    LimitState,
    RiskDocument,
    VarChange,
)
from sigmasight.domain import OptionRight, position_type_for
from sigmasight.reports.explain import STATUS_ORDER, block_warnings
from sigmasight.reports.return_stats import backtest_days
from sigmasight.repositories import api_reads
from sigmasight.repositories import reports as reports_repo
from sigmasight.repositories import results as results_repo
from sigmasight.repositories.documents import stored_document
from sigmasight.risk.document import GREEK_KEYS
from sigmasight.settings import Settings

router = APIRouter(prefix="/api/v1/portfolios", tags=["portfolios"])

AsOf = Annotated[
    dt.date | None,
    Query(description="valuation session (YYYY-MM-DD); default: the current snapshot"),
]
ERRORS = problem_schema(401, 404, 422)


def no_results(external_id: str, as_of: dt.date | None) -> ApiError:
    """404 for an owned portfolio without a snapshot on that date."""
    when = f"on {as_of}" if as_of else "yet (no current snapshot)"
    return ApiError(404, "no_results", f"no risk results for portfolio {external_id!r} {when}")


def require_snapshot(
    session: Session, portfolio: Portfolio, as_of: dt.date | None
) -> PortfolioSnapshot:
    """The snapshot of ``as_of`` (or the current one); 404 when there is none."""
    snap = api_reads.snapshot_for(session, portfolio.id, as_of)
    if snap is None:
        raise no_results(portfolio.external_id, as_of)
    return snap


def _headline(row: api_reads.OwnedPortfolio) -> RiskHeadline | None:
    if row.as_of is None or row.status is None:
        return None
    var = row.hist_var_95 * row.nav if row.hist_var_95 is not None and row.nav else None
    return RiskHeadline(
        as_of=row.as_of,
        status=row.status,
        nav=row.nav,
        daily_pnl=row.daily_pnl,
        var_95=var,
        var_95_fraction=row.hist_var_95,
        beta_spy=row.beta_spy,
    )


@router.get("", response_model=Page[PortfolioSummary], responses=problem_schema(401, 422))
def list_portfolios(user: UserDep, session: SessionDep, page: PageDep) -> Page[PortfolioSummary]:
    """The user's portfolios (by id), each with its current NAV, VaR, beta and status."""
    rows = api_reads.list_owned_portfolios(session, user.id, limit=page.limit, offset=page.offset)
    total = api_reads.count_owned_portfolios(session, user.id)
    items = [
        PortfolioSummary(
            id=row.external_id,
            name=row.name,
            base_currency=row.base_currency,
            cash=float(row.cash),
            positions=row.positions,
            options=row.options,
            current=_headline(row),
        )
        for row in rows
    ]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


def _position(position: Holding, risk: PositionRisk | None) -> PositionOut:
    greeks = (
        {key: getattr(risk, key) for key in GREEK_KEYS}
        if risk is not None and position.underlying is not None
        else None
    )
    right: OptionRight | None = (
        "call" if position.right == "call" else "put" if position.right == "put" else None
    )
    return PositionOut(
        symbol=position.symbol,
        position_type=position_type_for(position.quantity, right).value,
        quantity=float(position.quantity),
        underlying=position.underlying,
        strike=float(position.strike) if position.strike is not None else None,
        expiry=position.expiry,
        option_right=position.right,
        multiplier=position.multiplier,
        price=risk.price if risk else None,
        market_value=risk.market_value if risk else None,
        exposure=risk.exposure if risk else None,
        weight=risk.weight if risk else None,
        daily_pnl=risk.daily_pnl if risk else None,
        beta_spy_150d=risk.beta_spy_150d if risk else None,
        greeks=greeks,
    )


@router.get("/{portfolio_id}", response_model=PortfolioDetail, responses=ERRORS)
def portfolio_detail(portfolio: PortfolioDep, session: SessionDep) -> PortfolioDetail:
    """The book in effect on the current snapshot's date, each position valued as in it."""
    snap = api_reads.snapshot_for(session, portfolio.id, None)
    as_of = snap.as_of_date if snap else None
    document = (snap.document or {}) if snap else {}
    rows = api_reads.positions_with_valuation(session, portfolio.id, as_of)
    return PortfolioDetail(
        id=portfolio.external_id,
        name=portfolio.name,
        base_currency=portfolio.base_currency,
        cash=float(portfolio.cash),
        benchmark=portfolio.benchmark,
        valuation_date=portfolio.valuation_date,
        as_of=as_of,
        run_id=snap.run_id if snap else None,
        status=snap.status if snap else None,
        valuation=document.get("valuation"),
        positions=[_position(position, risk) for position, risk in rows],
    )


def _etag_matches(request: Request, etag: str) -> bool:
    wanted = request.headers.get("if-none-match")
    if not wanted:
        return False
    return wanted.strip() == "*" or etag in {tag.strip() for tag in wanted.split(",")}


def _document(
    session: Session, cache: DocumentCache, key: CacheKey, settings: Settings
) -> CachedDocument:
    """Check the stored rows' fingerprint; reuse the cached bytes or build them again."""
    user_id, external_id, as_of = key
    version = api_reads.document_version(session, user_id, external_id, as_of)
    if version is not None and version.snapshot_id is not None:
        entry = cache.revalidate(key, version.snapshot_id, version.fingerprint)
        if entry is not None:
            return entry
    # Build: read the fingerprint and the document in one snapshot of the database, so
    # that a nightly run committing meanwhile cannot produce a mixed document.
    session.rollback()
    api_reads.begin_consistent_read(session)
    version = api_reads.document_version(session, user_id, external_id, as_of)
    if version is None:
        raise not_found(external_id)
    if version.snapshot_id is None:
        raise no_results(external_id, as_of)
    snap = api_reads.get_snapshot(session, version.snapshot_id)
    assert snap is not None
    body = json.dumps(
        # A date older than the detail retention has its positions rebuilt (point in time).
        stored_document(session, snap, rebuild=detail_rebuilder(settings)).as_json(),
        allow_nan=False,
        separators=(",", ":"),
    )
    return cache.put(key, version.snapshot_id, version.fingerprint, body.encode())


def _checked_document(cache: DocumentCache, key: CacheKey, settings: Settings) -> CachedDocument:
    # Its own session, not the request's: the check is shared by every request waiting
    # for this document and must outlive any one of them.
    with get_sessionmaker()() as session:
        return _document(session, cache, key, settings)


async def _cached_entry(
    request: Request, user_id: int, portfolio_id: str, as_of: dt.date | None
) -> CachedDocument:
    """The serialized document from the cache, checked against the database when stale."""
    cache: DocumentCache = request.app.state.documents
    key: CacheKey = (user_id, valid_portfolio_id(portfolio_id), as_of)
    entry = cache.fresh(key)
    if entry is None:
        # All of the database work in one thread-pool call (the event loop never blocks).
        entry = await cache.shared(
            key,
            lambda: anyio.to_thread.run_sync(
                _checked_document, cache, key, request.app.state.settings
            ),
        )
    return entry


@router.get(
    "/{portfolio_id}/risk",
    response_model=RiskDocument,
    responses={**ERRORS, 304: {"description": "unchanged since the ETag sent in If-None-Match"}},
    summary="The sigmasight.risk/1 document",
)
async def risk_document(
    portfolio_id: PortfolioId,
    user: UserDep,
    request: Request,
    as_of: AsOf = None,
) -> Response:
    """Exactly the document ``sigmasight export risk`` writes (FORMATS.md section 5).

    Served from an in-process cache revalidated against the database at most
    ``SIGMASIGHT_API_CACHE_TTL_S`` seconds (default 1) before the request; see
    ``sigmasight.api.cache``.
    """
    entry = await _cached_entry(request, user.id, portfolio_id, as_of)
    headers = {"ETag": entry.etag, "Cache-Control": "private, no-cache"}
    if _etag_matches(request, entry.etag):
        return Response(status_code=304, headers=headers)
    return Response(entry.body, media_type="application/json", headers=headers)


@router.get("/{portfolio_id}/factor-exposures", response_model=FactorExposures, responses=ERRORS)
def factor_exposures(
    portfolio: PortfolioDep, session: SessionDep, as_of: AsOf = None
) -> FactorExposures:
    """Portfolio betas to the factor ETFs (150-day regression) and each position's own betas."""
    snap = require_snapshot(session, portfolio, as_of)
    rows = api_reads.portfolio_factor_exposures(session, portfolio.id, snap.as_of_date)
    positions = api_reads.position_risks(session, portfolio.id, snap.as_of_date)
    first = rows[0][0] if rows else None
    return FactorExposures(
        portfolio_id=portfolio.external_id,
        as_of=snap.as_of_date,
        window=first.window if first else None,
        n_obs=first.n_obs if first else None,
        r2=first.r2 if first else None,
        factors=[
            FactorBeta(
                factor=row.factor_symbol, name=name, beta=row.beta, exposure_usd=row.exposure_usd
            )
            for row, name in rows
        ],
        positions=[
            PositionFactorBetas(
                symbol=p.symbol,
                weight=p.weight,
                betas=dict(zip(p.factor_symbols or [], p.factor_betas or [], strict=True)),
            )
            for p in positions
        ],
    )


@router.get("/{portfolio_id}/correlations", response_model=Correlations, responses=ERRORS)
def correlations(portfolio: PortfolioDep, session: SessionDep, as_of: AsOf = None) -> Correlations:
    """The correlation matrix of the portfolio's symbols (an option counts as its underlying)."""
    snap = require_snapshot(session, portfolio, as_of)
    key = (portfolio.id, snap.as_of_date)
    found = results_repo.correlations_of(session, [key]).get(key)
    if found is None:
        raise ApiError(
            404,
            "no_results",
            f"no correlations stored for portfolio {portfolio.external_id!r} on {snap.as_of_date}",
        )
    return Correlations(
        portfolio_id=portfolio.external_id,
        as_of=snap.as_of_date,
        symbols=found.symbols,
        matrix=found.matrix,
        min_overlap=found.min_overlap,
        clusters=found.clusters,
    )


@router.get("/{portfolio_id}/stress", response_model=StressResults, responses=ERRORS)
def stress_results(
    portfolio: PortfolioDep,
    session: SessionDep,
    as_of: AsOf = None,
    method: Annotated[
        str | None,
        Query(
            pattern="^(linear|full_revaluation)$",
            description="linear (delta-equivalent) or full_revaluation (options repriced)",
        ),
    ] = None,
) -> StressResults:
    """Every scenario's P&L on the snapshot, worst first."""
    snap = require_snapshot(session, portfolio, as_of)
    rows = results_repo.stress_for(session, portfolio.id, snap.as_of_date)
    items = [
        StressOut(scenario=r.scenario, method=r.method, return_impact=r.return_impact, pnl=r.pnl)
        for r in rows
        if method is None or r.method == method
    ]
    items.sort(key=lambda s: (s.method, s.pnl is None, s.pnl if s.pnl is not None else 0.0))
    return StressResults(portfolio_id=portfolio.external_id, as_of=snap.as_of_date, items=items)


@router.get("/{portfolio_id}/snapshots", response_model=Page[SnapshotPoint], responses=ERRORS)
def snapshots(
    portfolio: PortfolioDep,
    session: SessionDep,
    page: PageDep,
    start: Annotated[dt.date | None, Query(description="first date (inclusive)")] = None,
    end: Annotated[dt.date | None, Query(description="last date (inclusive)")] = None,
) -> Page[SnapshotPoint]:
    """The portfolio's actual history (NAV, P&L, time-weighted return, VaR), newest first."""
    if start is not None and end is not None and start > end:
        raise ApiError(422, "validation_error", f"start {start} is after end {end}")
    rows, total = api_reads.snapshot_history(
        session, portfolio.id, start=start, end=end, limit=page.limit, offset=page.offset
    )
    items = [SnapshotPoint(**asdict(point), beta_spy=point.beta_spy_150d) for point in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


# ---- explaining the risk (RISK-CONVENTIONS C22-C31, FORMATS section 8) -----------------------
ModelT = TypeVar("ModelT", bound=BaseModel)


def _block(model: type[ModelT], value: Any) -> ModelT | None:
    """A stored document block as its typed model (None when the block is null or absent)."""
    return None if value is None else model.model_validate(value)


def _full_amount(head: dict[str, Any], key: str) -> Amount | None:
    full = (head.get("risk") or {}).get("full") or {}
    return _block(Amount, full.get(key))


@router.get(
    "/{portfolio_id}/contributions",
    response_model=Contributions,
    response_model_exclude_unset=True,
    responses=ERRORS,
)
async def contributions(
    portfolio_id: PortfolioId,
    user: UserDep,
    request: Request,
    as_of: AsOf = None,
    top: Annotated[
        int | None,
        Query(ge=1, le=10_000, description="at most this many positions, largest VaR first"),
    ] = None,
) -> Contributions:
    """Contributions to volatility, VaR and ES by position, underlying and sector; factor split.

    Read through the same cache as the risk document; a date older than the detail
    retention has its position contributions rebuilt point in time.
    """
    entry = await _cached_entry(request, user.id, portfolio_id, as_of)
    document = RiskDocument.model_validate_json(entry.body)
    decomposition = document.decomposition
    total = 0
    if decomposition is not None:
        ranked = sorted(
            decomposition.positions,
            key=lambda p: (
                p.param_var_95.currency is None,
                -abs(p.param_var_95.currency or 0.0),
                p.symbol,
            ),
        )
        total = len(ranked)
        decomposition = decomposition.model_copy(update={"positions": ranked[:top]})
    full = document.risk.get("full")
    return Contributions(
        portfolio_id=document.portfolio_id,
        as_of=document.as_of,
        nav=document.valuation.nav,
        param_var_95=full.param_var_95 if full else None,
        cvar_95=full.cvar_95 if full else None,
        positions_total=total,
        decomposition=decomposition,
        benchmark=document.benchmark,
        warnings=block_warnings(document.warnings, "decomposition", "factor", "benchmark"),
    )


@router.get(
    "/{portfolio_id}/attribution",
    response_model=AttributionOut,
    response_model_exclude_unset=True,
    responses=ERRORS,
)
def attribution(portfolio: PortfolioDep, session: SessionDep, as_of: AsOf = None) -> AttributionOut:
    """The day's P&L attribution (holding, factor, specific, trading) and the VaR change."""
    snap = require_snapshot(session, portfolio, as_of)
    head = snap.document or {}
    block = _block(Attribution, head.get("attribution"))
    if block is not None:
        ranked = sorted(
            block.positions, key=lambda p: (p.pnl is None, -abs(p.pnl or 0.0), p.symbol)
        )
        block = block.model_copy(update={"positions": ranked})
    return AttributionOut(
        portfolio_id=portfolio.external_id,
        as_of=snap.as_of_date,
        hist_var_95=_full_amount(head, "hist_var_95"),
        history=_block(History, head.get("history")),
        attribution=block,
        change=_block(VarChange, head.get("change")),
        warnings=block_warnings(head.get("warnings") or [], "history", "attribution", "change"),
    )


@router.get(
    "/{portfolio_id}/backtest",
    response_model=BacktestOut,
    response_model_exclude_unset=True,
    responses=ERRORS,
)
def backtest(portfolio: PortfolioDep, session: SessionDep, as_of: AsOf = None) -> BacktestOut:
    """The VaR backtest: exceptions, Kupiec's test, the Basel zone and the days counted."""
    snap = require_snapshot(session, portfolio, as_of)
    head = snap.document or {}
    series = reports_repo.load_actual_histories(session, [portfolio.id], snap.as_of_date)
    found = series.get(portfolio.id)
    days = (
        backtest_days(found.dates, found.nav, found.pnl, found.var_95, found.var_99)
        if found is not None
        else []
    )
    return BacktestOut(
        portfolio_id=portfolio.external_id,
        as_of=snap.as_of_date,
        backtest=_block(Backtest, head.get("backtest")),
        days=[
            BacktestDayOut(
                as_of=d.day,
                pnl=d.pnl,
                var_95=d.var_95,
                var_99=d.var_99,
                exception_95=d.exception_95,
                exception_99=d.exception_99,
            )
            for d in days
        ],
        warnings=block_warnings(head.get("warnings") or [], "backtest"),
    )


@router.get(
    "/{portfolio_id}/limits",
    response_model=LimitsOut,
    response_model_exclude_unset=True,
    responses=ERRORS,
)
def limits(portfolio: PortfolioDep, session: SessionDep, as_of: AsOf = None) -> LimitsOut:
    """Every configured limit with its figure, bound and state, breaches first."""
    snap = require_snapshot(session, portfolio, as_of)
    raw = (snap.document or {}).get("limits")
    states = (
        sorted(
            (LimitState.model_validate(entry) for entry in raw),
            key=lambda s: (STATUS_ORDER.get(s.status, 9), s.limit),
        )
        if raw is not None
        else None
    )
    listed = states or []
    return LimitsOut(
        portfolio_id=portfolio.external_id,
        as_of=snap.as_of_date,
        breaches=sum(1 for s in listed if s.in_breach),
        new=sum(1 for s in listed if s.status == "new"),
        unknown=sum(1 for s in listed if s.status == "unknown"),
        limits=states,
    )
