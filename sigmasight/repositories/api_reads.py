"""Reads behind the HTTP API: users, a user's own portfolios, results, reports, runs, health.

Every portfolio read is scoped to its owner (``owner_id``), so another user's portfolio is
indistinguishable from one that does not exist. Like every repository, these functions
take a session and never commit.
"""

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, select, text
from sqlalchemy.orm import Session

from models import (
    Backup,
    Factor,
    FactorExposure,
    FlowRun,
    Portfolio,
    PortfolioBook,
    PortfolioSnapshot,
    Position,
    PositionRisk,
    Report,
    User,
)
from sigmasight.books import Holding
from sigmasight.history import HistoryPoint
from sigmasight.repositories import results, risk_inputs
from sigmasight.repositories.backups import GOOD_STATUSES

#: Backup statuses that count as a good backup (upload completed, checksum matched).


# ---- users ---------------------------------------------------------------------------------
def get_login_user(session: Session, email: str) -> User | None:
    """The active user with this (case-insensitive) email who has a password, or None."""
    return session.scalar(
        select(User).where(
            User.email == email.strip().lower(),
            User.is_active,
            User.password_hash.is_not(None),
        )
    )


def get_active_user(session: Session, user_id: int) -> User | None:
    """The user with this id if the account is still active."""
    return session.scalar(select(User).where(User.id == user_id, User.is_active))


# ---- portfolios ----------------------------------------------------------------------------
def owned_portfolio(session: Session, user_id: int, external_id: str) -> Portfolio | None:
    """The portfolio ``external_id`` if ``user_id`` owns it and is active; else None."""
    return session.scalar(
        select(Portfolio)
        .join(User, User.id == Portfolio.owner_id)
        .where(
            Portfolio.external_id == external_id,
            Portfolio.owner_id == user_id,
            User.is_active,
        )
    )


@dataclass(frozen=True)
class OwnedPortfolio:
    """One line of a user's portfolio list, with the current snapshot's headline."""

    external_id: str
    name: str
    base_currency: str
    cash: Decimal
    positions: int
    options: int
    as_of: dt.date | None
    nav: float | None
    hist_var_95: float | None
    beta_spy: float | None
    status: str | None
    daily_pnl: float | None


def count_owned_portfolios(session: Session, user_id: int) -> int:
    """How many portfolios ``user_id`` owns (none while the account is inactive)."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(Portfolio)
            .join(User, User.id == Portfolio.owner_id)
            .where(Portfolio.owner_id == user_id, User.is_active)
        )
        or 0
    )


def list_owned_portfolios(
    session: Session, user_id: int | None, *, limit: int | None = None, offset: int = 0
) -> list[OwnedPortfolio]:
    """``user_id``'s portfolios (every portfolio when None), each with its current risk headline."""
    latest = (
        select(PortfolioBook.portfolio_id, func.max(PortfolioBook.book_date).label("book_date"))
        .group_by(PortfolioBook.portfolio_id)
        .subquery()
    )
    # Positions of each portfolio's latest book (older books stay for history).
    counts = (
        select(
            Position.portfolio_id,
            func.count(Position.id).label("n"),
            func.count(Position.id).filter(Position.underlying.is_not(None)).label("n_opt"),
        )
        .join(
            latest,
            (latest.c.portfolio_id == Position.portfolio_id)
            & (latest.c.book_date == Position.book_date),
        )
        .group_by(Position.portfolio_id)
        .subquery()
    )
    snap = PortfolioSnapshot
    stmt = (
        select(
            Portfolio.external_id,
            Portfolio.name,
            Portfolio.base_currency,
            Portfolio.cash,
            func.coalesce(counts.c.n, 0),
            func.coalesce(counts.c.n_opt, 0),
            snap.as_of_date,
            snap.nav,
            snap.hist_var_95,
            snap.beta_spy,
            snap.status,
            snap.daily_pnl,
        )
        .join(User, User.id == Portfolio.owner_id)
        .outerjoin(counts, counts.c.portfolio_id == Portfolio.id)
        .outerjoin(snap, (snap.portfolio_id == Portfolio.id) & snap.is_current)
        .order_by(Portfolio.external_id)
        .offset(offset)
    )
    if user_id is not None:
        stmt = stmt.where(Portfolio.owner_id == user_id, User.is_active)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [OwnedPortfolio(*row) for row in session.execute(stmt).all()]


def current_limit_states(session: Session, user_id: int) -> dict[str, list[dict[str, Any]] | None]:
    """The ``limits`` block of each of ``user_id``'s current snapshots, by external id.

    Only the block is read from the stored document (JSONB path), never the whole document;
    None for a snapshot without one (computed before limits were evaluated).
    """
    snap = PortfolioSnapshot
    rows = session.execute(
        select(Portfolio.external_id, snap.document["limits"])
        .join(User, User.id == Portfolio.owner_id)
        .join(snap, (snap.portfolio_id == Portfolio.id) & snap.is_current)
        .where(Portfolio.owner_id == user_id, User.is_active)
    ).all()
    return {str(external_id): limits for external_id, limits in rows}


def snapshot_for(
    session: Session, portfolio_id: int, as_of: dt.date | None
) -> PortfolioSnapshot | None:
    """The snapshot of ``as_of``, or the current one when ``as_of`` is None."""
    stmt = select(PortfolioSnapshot).where(PortfolioSnapshot.portfolio_id == portfolio_id)
    if as_of is None:
        stmt = stmt.where(PortfolioSnapshot.is_current)
    else:
        stmt = stmt.where(PortfolioSnapshot.as_of_date == as_of)
    return session.scalar(stmt)


def positions_with_valuation(
    session: Session, portfolio_id: int, as_of: dt.date | None
) -> list[tuple[Holding, PositionRisk | None]]:
    """The book in effect on ``as_of`` (the latest, trades applied, when None), by symbol.

    Each holding comes with its stored valuation on ``as_of`` when there is one.
    """
    through = as_of or dt.date.max
    line = risk_inputs.load_timelines(session, [portfolio_id], through=through).timelines[
        portfolio_id
    ]
    state = line.state_on(through)
    if state is None:
        return []
    risks = {r.symbol: r for r in position_risks(session, portfolio_id, as_of)} if as_of else {}
    return [(h, risks.get(h.symbol)) for h in state.holdings]


def position_risks(session: Session, portfolio_id: int, as_of: dt.date) -> list[PositionRisk]:
    """Stored per-position rows of one snapshot, largest absolute exposure first."""
    return list(
        session.scalars(
            select(PositionRisk)
            .where(PositionRisk.portfolio_id == portfolio_id, PositionRisk.as_of_date == as_of)
            .order_by(func.abs(PositionRisk.exposure).desc().nulls_last(), PositionRisk.symbol)
        )
    )


@dataclass(frozen=True)
class DocumentVersion:
    """Which snapshot a risk-document request names, and a fingerprint of its stored rows."""

    portfolio_id: int
    snapshot_id: int | None
    as_of: dt.date | None
    fingerprint: str


# PostgreSQL gives every inserted or updated row version a new, increasing xmin, and the
# result writers skip rows whose values did not change. So (count, newest xmin) per table
# changes whenever a stored part of the document changes: a cheap validator for a cache.
_VERSION_SQL = """
SELECT p.id, s.id, s.as_of_date,
       s.xmin::text
       || '/' || (SELECT count(*) || '.' || coalesce(max(r.xmin::text::bigint), 0)
                  FROM position_risk r
                  WHERE r.portfolio_id = p.id AND r.as_of_date = s.as_of_date)
       || '/' || coalesce((SELECT c.xmin::text FROM correlation_result c
                           WHERE c.portfolio_id = p.id AND c.as_of_date = s.as_of_date), '-')
FROM portfolio p
JOIN app_user u ON u.id = p.owner_id AND u.is_active
LEFT JOIN portfolio_snapshot s ON s.portfolio_id = p.id AND {snapshot}
WHERE p.external_id = :external_id AND p.owner_id = :user_id
"""
_VERSION_CURRENT = text(_VERSION_SQL.format(snapshot="s.is_current"))
_VERSION_ON = text(_VERSION_SQL.format(snapshot="s.as_of_date = :as_of"))


def document_version(
    session: Session, user_id: int, external_id: str, as_of: dt.date | None
) -> DocumentVersion | None:
    """None when the user owns no such portfolio; ``snapshot_id`` None when no snapshot."""
    params: dict[str, Any] = {"external_id": external_id, "user_id": user_id}
    if as_of is None:
        row = session.execute(_VERSION_CURRENT, params).first()
    else:
        row = session.execute(_VERSION_ON, {**params, "as_of": as_of}).first()
    if row is None:
        return None
    return DocumentVersion(
        portfolio_id=int(row[0]),
        snapshot_id=None if row[1] is None else int(row[1]),
        as_of=row[2],
        fingerprint=str(row[3] or ""),
    )


def begin_consistent_read(session: Session) -> None:
    """Make the session's next transaction one snapshot of the database (repeatable read).

    Must run before any other statement of the transaction (PostgreSQL's rule). Not declared
    READ ONLY: rebuilding an old date's position detail stages its symbols in a temporary
    table, which PostgreSQL refuses in a read-only transaction. The caller reads only and
    never commits (the session is rolled back when it closes).
    """
    session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))


def get_snapshot(session: Session, snapshot_id: int) -> PortfolioSnapshot | None:
    """A snapshot by primary key."""
    return session.get(PortfolioSnapshot, snapshot_id)


def portfolio_factor_exposures(
    session: Session, portfolio_id: int, as_of: dt.date
) -> list[tuple[FactorExposure, str | None]]:
    """Portfolio-level factor betas of one snapshot with the factor's name, in display order."""
    stmt = (
        select(FactorExposure, Factor.name)
        .outerjoin(Factor, Factor.symbol == FactorExposure.factor_symbol)
        .where(
            FactorExposure.portfolio_id == portfolio_id,
            FactorExposure.as_of_date == as_of,
            FactorExposure.position_id.is_(None),
        )
        .order_by(Factor.display_order.nulls_last(), FactorExposure.factor_symbol)
    )
    found: list[tuple[FactorExposure, str | None]] = [
        (row, name) for row, name in session.execute(stmt).all()
    ]
    if found:
        return found
    # Older than the detail retention: the snapshot's document holds the same figures.
    snap = session.scalar(
        select(PortfolioSnapshot).where(
            PortfolioSnapshot.portfolio_id == portfolio_id, PortfolioSnapshot.as_of_date == as_of
        )
    )
    block = ((snap.document or {}) if snap else {}).get("factor_exposures") or {}
    betas: dict[str, float | None] = block.get("betas") or {}
    if snap is None or not betas:
        return []
    names = dict(session.execute(select(Factor.symbol, Factor.name)).tuples().all())
    order = {
        sym: i
        for i, sym in enumerate(
            session.scalars(select(Factor.symbol).order_by(Factor.display_order.nulls_last()))
        )
    }
    rows = [
        FactorExposure(
            portfolio_id=portfolio_id,
            as_of_date=as_of,
            run_id=snap.run_id,
            factor_symbol=sym,
            beta=beta,
            exposure_usd=None if beta is None or snap.nav is None else beta * snap.nav,
            window=block.get("window"),
            n_obs=block.get("n_obs"),
            r2=block.get("r2"),
        )
        for sym, beta in betas.items()
    ]
    rows.sort(key=lambda r: (order.get(r.factor_symbol, len(order)), r.factor_symbol))
    return [(row, names.get(row.factor_symbol)) for row in rows]


def _page(session: Session, stmt: Select[Any], *, limit: int, offset: int) -> tuple[list[Any], int]:
    total = int(
        session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    )
    return list(session.scalars(stmt.limit(limit).offset(offset))), total


def snapshot_history(
    session: Session,
    portfolio_id: int,
    *,
    start: dt.date | None,
    end: dt.date | None,
    limit: int,
    offset: int,
) -> tuple[list[HistoryPoint], int]:
    """The actual history newest first within ``[start, end]``, one page, and the total count.

    The same columns as ``sigmasight export history`` (``results.history_select``).
    """
    stmt = results.history_select(portfolio_id, start, end)
    total = int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    rows = session.execute(
        stmt.order_by(PortfolioSnapshot.as_of_date.desc()).limit(limit).offset(offset)
    ).all()
    return [results.history_point(row) for row in rows], total


# ---- reports --------------------------------------------------------------------------------
def list_reports(
    session: Session,
    portfolio_id: int,
    *,
    as_of: dt.date | None,
    kind: str | None,
    limit: int,
    offset: int,
) -> tuple[list[Report], int]:
    """A portfolio's report files, newest date first, one page, and the total count."""
    stmt = select(Report).where(Report.portfolio_id == portfolio_id)
    if as_of is not None:
        stmt = stmt.where(Report.as_of_date == as_of)
    if kind is not None:
        stmt = stmt.where(Report.kind == kind)
    stmt = stmt.order_by(Report.as_of_date.desc(), Report.kind)
    return _page(session, stmt, limit=limit, offset=offset)


def get_report(session: Session, portfolio_id: int, report_id: int) -> Report | None:
    """One report row of this portfolio."""
    return session.scalar(
        select(Report).where(Report.id == report_id, Report.portfolio_id == portfolio_id)
    )


def reports_on(session: Session, portfolio_id: int, as_of: dt.date) -> list[Report]:
    """Every report file of a portfolio on one date."""
    return list(
        session.scalars(
            select(Report).where(Report.portfolio_id == portfolio_id, Report.as_of_date == as_of)
        )
    )


def latest_reports(session: Session, user_id: int, kind: str) -> dict[str, Report]:
    """The newest report of ``kind`` per portfolio of ``user_id``, keyed by external id."""
    stmt = (
        select(Portfolio.external_id, Report)
        .join(Report, Report.portfolio_id == Portfolio.id)
        .where(Portfolio.owner_id == user_id, Report.kind == kind)
        .order_by(Portfolio.external_id, Report.as_of_date.desc())
        .distinct(Portfolio.external_id)
    )
    return {str(ext): report for ext, report in session.execute(stmt).all()}


# ---- runs and health -------------------------------------------------------------------------
def list_flow_runs(
    session: Session,
    *,
    flow: str | None,
    status: str | None,
    limit: int,
    offset: int,
) -> tuple[list[FlowRun], int]:
    """Runs newest first, optionally of one flow and status; one page and the total."""
    stmt = select(FlowRun)
    if flow is not None:
        stmt = stmt.where(FlowRun.flow == flow)
    if status is not None:
        stmt = stmt.where(FlowRun.status == status)
    stmt = stmt.order_by(FlowRun.started_at.desc(), FlowRun.id)
    return _page(session, stmt, limit=limit, offset=offset)


def is_operator(session: Session, user_id: int) -> bool:
    """True when the (active) user may read the whole run ledger."""
    return bool(session.scalar(select(User.is_operator).where(User.id == user_id, User.is_active)))


def own_portfolio_statuses(
    session: Session, user_id: int, run_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, str]]:
    """Per run: the status of each of the user's portfolios that the run computed."""
    if not run_ids:
        return {}
    rows = session.execute(
        select(PortfolioSnapshot.run_id, Portfolio.external_id, PortfolioSnapshot.status)
        .join(Portfolio, Portfolio.id == PortfolioSnapshot.portfolio_id)
        .where(Portfolio.owner_id == user_id, PortfolioSnapshot.run_id.in_(list(run_ids)))
        .order_by(Portfolio.external_id)
    ).all()
    found: dict[uuid.UUID, dict[str, str]] = {}
    for run_id, external_id, status in rows:
        found.setdefault(run_id, {})[str(external_id)] = str(status)
    return found


def get_flow_run(session: Session, run_id: uuid.UUID) -> FlowRun | None:
    """One run by id."""
    return session.get(FlowRun, run_id)


def last_flow_run(session: Session, flow: str, *, status: str | None = None) -> FlowRun | None:
    """The newest run of ``flow`` (optionally with ``status``) by start time."""
    stmt = select(FlowRun).where(FlowRun.flow == flow)
    if status is not None:
        stmt = stmt.where(FlowRun.status == status)
    return session.scalar(stmt.order_by(FlowRun.started_at.desc()).limit(1))


def last_successful_run(session: Session, flow: str) -> FlowRun | None:
    """The succeeded run of ``flow`` with the newest as-of date (then the newest finish)."""
    return session.scalar(
        select(FlowRun)
        .where(FlowRun.flow == flow, FlowRun.status == "succeeded")
        .order_by(FlowRun.as_of_date.desc().nulls_last(), FlowRun.finished_at.desc().nulls_last())
        .limit(1)
    )


def flow_run_timestamps(session: Session) -> list[tuple[str, str, dt.datetime]]:
    """(flow, status, newest finish) for every flow and final status seen."""
    rows = session.execute(
        select(FlowRun.flow, FlowRun.status, func.max(FlowRun.finished_at))
        .where(FlowRun.finished_at.is_not(None))
        .group_by(FlowRun.flow, FlowRun.status)
        .order_by(FlowRun.flow, FlowRun.status)
    ).all()
    return [(str(flow), str(status), finished) for flow, status, finished in rows if finished]


@dataclass(frozen=True)
class NewestBackups:
    """The newest backup of any status, the newest good one and the newest verified one."""

    any: Backup | None
    good: Backup | None
    verified: Backup | None


def newest_backups(session: Session) -> NewestBackups:
    """The newest backups by kind (good = completed or verified)."""

    def newest(*statuses: str) -> Backup | None:
        stmt = select(Backup).order_by(Backup.created_at.desc()).limit(1)
        if statuses:
            stmt = stmt.where(Backup.status.in_(statuses))
        return session.scalar(stmt)

    return NewestBackups(any=newest(), good=newest(*GOOD_STATUSES), verified=newest("verified"))


def server_version(session: Session) -> str:
    """The database server's version (a round trip that proves the connection works)."""
    return str(session.execute(text("SHOW server_version")).scalar_one())
