"""Report reads (what to report on, and the extras a report shows) and the report index.

The risk figures themselves come from ``sigmasight.runs.risk.export_documents``; this module
reads only what the document does not carry: portfolio names, position master data and
sectors, stored per-position extras (daily P&L, beta), correlation clusters, and the actual
history (the stored snapshot series up to the report's date). Writes are one
upsert per chunk into ``report`` keyed on (portfolio, date, kind): a rerun replaces a row,
never adds one, and a rerun that produced identical files leaves the row untouched.
"""

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from models import CorrelationResult, Portfolio, PortfolioSnapshot, Position, PositionRisk, Report
from models import Security as SecurityRow
from sigmasight.reports.model import ActualHistory


@dataclass(frozen=True)
class Reportable:
    """A portfolio with a stored snapshot on the date."""

    portfolio_id: int
    external_id: str
    name: str


@dataclass(frozen=True)
class PositionExtra:
    """Position master data and stored per-position figures the document leaves out."""

    portfolio_id: int
    symbol: str
    position_id: int | None
    position_type: str | None
    entry_price: float | None
    entry_date: dt.date | None
    strike: float | None
    expiry: dt.date | None
    option_right: str | None
    multiplier: int | None
    daily_pnl: float | None
    beta_spy_150d: float | None
    sector: str | None
    industry: str | None
    asset_type: str | None


@dataclass(frozen=True)
class IndexRow:
    """One report file as indexed."""

    portfolio_id: int
    as_of: dt.date
    kind: str
    path: str
    size_bytes: int
    sha256: str
    s3_key: str | None


def list_reportable(
    session: Session,
    as_of: dt.date,
    external_id: str | None = None,
    *,
    external_ids: Sequence[str] | None = None,
) -> list[Reportable]:
    """Portfolios with a snapshot on ``as_of`` (optionally one, or a chunk), by external id."""
    stmt = (
        select(Portfolio.id, Portfolio.external_id, Portfolio.name)
        .join(PortfolioSnapshot, PortfolioSnapshot.portfolio_id == Portfolio.id)
        .where(PortfolioSnapshot.as_of_date == as_of)
        .order_by(Portfolio.external_id)
    )
    if external_id is not None:
        stmt = stmt.where(Portfolio.external_id == external_id)
    if external_ids is not None:
        stmt = stmt.where(Portfolio.external_id.in_(list(external_ids)))
    return [Reportable(int(i), str(e), str(n)) for i, e, n in session.execute(stmt).all()]


def reported_assets(session: Session, as_of: dt.date) -> list[str]:
    """Every symbol and underlying of the positions stored for ``as_of`` (one query).

    The assets whose prices a reports run reads once for all its portfolios.
    """
    rows = session.execute(
        text(
            "SELECT DISTINCT symbol FROM position_risk WHERE as_of_date = :d "
            "UNION SELECT DISTINCT underlying FROM position_risk "
            "WHERE as_of_date = :d AND underlying IS NOT NULL"
        ),
        {"d": as_of},
    )
    return sorted(str(r[0]) for r in rows)


def indexed_files(
    session: Session, portfolio_ids: Sequence[int], as_of: dt.date
) -> dict[tuple[int, str], IndexRow]:
    """The index rows of the portfolios' reports on ``as_of``, by (portfolio id, kind)."""
    if not portfolio_ids:
        return {}
    rows = session.execute(
        select(
            Report.portfolio_id,
            Report.kind,
            Report.path,
            Report.size_bytes,
            Report.sha256,
            Report.s3_key,
        ).where(Report.portfolio_id.in_(list(portfolio_ids)), Report.as_of_date == as_of)
    ).all()
    return {
        (int(pid), str(kind)): IndexRow(
            int(pid), as_of, str(kind), str(path), int(size), str(sha), s3_key
        )
        for pid, kind, path, size, sha, s3_key in rows
    }


def _float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def load_position_extras(
    session: Session, portfolio_ids: Sequence[int], as_of: dt.date
) -> list[PositionExtra]:
    """Every stored position of the portfolios on ``as_of`` with master data and sector."""
    asset = func.coalesce(PositionRisk.underlying, PositionRisk.symbol)
    stmt = (
        select(
            PositionRisk.portfolio_id,
            PositionRisk.symbol,
            # position_risk.position_id is not a foreign key: a position deleted since the
            # run reads as None through the join, as it did when the key set it NULL.
            Position.id,
            Position.position_type,
            Position.entry_price,
            Position.entry_date,
            Position.strike,
            Position.expiry_date,
            Position.option_right,
            Position.multiplier,
            PositionRisk.daily_pnl,
            PositionRisk.beta_spy_150d,
            SecurityRow.sector,
            SecurityRow.industry,
            SecurityRow.asset_type,
        )
        .outerjoin(Position, Position.id == PositionRisk.position_id)
        .outerjoin(SecurityRow, SecurityRow.symbol == asset)
        .where(PositionRisk.portfolio_id.in_(list(portfolio_ids)), PositionRisk.as_of_date == as_of)
    )
    return [
        PositionExtra(
            portfolio_id=int(r[0]),
            symbol=str(r[1]),
            position_id=None if r[2] is None else int(r[2]),
            position_type=str(r[3].value if hasattr(r[3], "value") else r[3]) if r[3] else None,
            entry_price=_float(r[4]),
            entry_date=r[5],
            strike=_float(r[6]),
            expiry=r[7],
            option_right=r[8],
            multiplier=r[9],
            daily_pnl=r[10],
            beta_spy_150d=r[11],
            sector=r[12],
            industry=r[13],
            asset_type=r[14],
        )
        for r in session.execute(stmt).all()
    ]


def load_clusters(
    session: Session, portfolio_ids: Sequence[int], as_of: dt.date
) -> dict[int, list[list[str]]]:
    """Stored correlation clusters per portfolio."""
    rows = session.execute(
        select(CorrelationResult.portfolio_id, CorrelationResult.clusters).where(
            CorrelationResult.portfolio_id.in_(list(portfolio_ids)),
            CorrelationResult.as_of_date == as_of,
        )
    ).all()
    return {int(pid): list(clusters or []) for pid, clusters in rows}


def load_actual_histories(
    session: Session, portfolio_ids: Sequence[int], through: dt.date
) -> dict[int, ActualHistory]:
    """Each portfolio's stored snapshots dated up to ``through``, oldest first (one query).

    Only snapshot columns are read (never the documents), so a chunk of portfolios with
    years of sessions stays one cheap index scan.
    """
    snap = PortfolioSnapshot
    rows = session.execute(
        select(
            snap.portfolio_id,
            snap.as_of_date,
            snap.nav,
            snap.external_flow,
            snap.twr_cumulative,
            snap.pnl,
            snap.twr_daily,
            snap.hist_var_95,
            snap.hist_var_99,
        )
        .where(snap.portfolio_id.in_(list(portfolio_ids)), snap.as_of_date <= through)
        .order_by(snap.portfolio_id, snap.as_of_date)
    ).all()
    columns: dict[int, list[list[Any]]] = {}
    for pid, *values in rows:
        found = columns.setdefault(int(pid), [[] for _ in values])
        for column, value in zip(found, values, strict=True):
            column.append(value)
    return {
        pid: ActualHistory(
            dates=tuple(dates),
            nav=tuple(navs),
            external_flow=tuple(flows),
            twr_cumulative=tuple(twrs),
            pnl=tuple(pnls),
            twr_daily=tuple(daily),
            var_95=tuple(var95),
            var_99=tuple(var99),
        )
        for pid, (dates, navs, flows, twrs, pnls, daily, var95, var99) in columns.items()
    }


def upsert_reports(session: Session, rows: Sequence[IndexRow], run_id: uuid.UUID) -> int:
    """Index report files; returns the rows inserted or changed.

    A row whose file is unchanged (same path, size, sha256 and S3 key) keeps its run id and
    timestamp, so a rerun with identical output leaves the table as it was.
    """
    if not rows:
        return 0
    # One statement with eight array parameters (unnest), however many rows: a VALUES list
    # of 1,000 rows compiled 8,000 bind parameters, the index step's CPU.
    result = session.execute(
        text(
            "INSERT INTO report (portfolio_id, as_of_date, kind, path, size_bytes, sha256, "
            "s3_key, run_id) "
            "SELECT p, d, k, f, b, h, s, CAST(:run_id AS uuid) FROM unnest("
            "CAST(:pids AS bigint[]), CAST(:dates AS date[]), CAST(:kinds AS varchar[]), "
            "CAST(:paths AS text[]), CAST(:sizes AS bigint[]), CAST(:hashes AS varchar[]), "
            "CAST(:keys AS text[])) AS u(p, d, k, f, b, h, s) "
            "ON CONFLICT (portfolio_id, as_of_date, kind) DO UPDATE SET "
            "path = excluded.path, size_bytes = excluded.size_bytes, sha256 = excluded.sha256, "
            "s3_key = excluded.s3_key, run_id = excluded.run_id, created_at = now() "
            "WHERE (report.path, report.size_bytes, report.sha256, report.s3_key) "
            "IS DISTINCT FROM (excluded.path, excluded.size_bytes, excluded.sha256, "
            "excluded.s3_key) "
            "RETURNING report.id"
        ),
        {
            "run_id": str(run_id),
            "pids": [r.portfolio_id for r in rows],
            "dates": [r.as_of for r in rows],
            "kinds": [r.kind for r in rows],
            "paths": [r.path for r in rows],
            "sizes": [r.size_bytes for r in rows],
            "hashes": [r.sha256 for r in rows],
            "keys": [r.s3_key for r in rows],
        },
    )
    return len(result.all())


def list_reports(
    session: Session, as_of: dt.date, external_id: str | None = None
) -> list[tuple[str, Report]]:
    """Indexed report files of ``as_of`` with the portfolio's external id."""
    stmt = (
        select(Portfolio.external_id, Report)
        .join(Portfolio, Portfolio.id == Report.portfolio_id)
        .where(Report.as_of_date == as_of)
        .order_by(Portfolio.external_id, Report.kind)
    )
    if external_id is not None:
        stmt = stmt.where(Portfolio.external_id == external_id)
    return [(str(ext), report) for ext, report in session.execute(stmt).all()]
