"""Portfolio reads: overviews and books."""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Portfolio, PortfolioSnapshot, Position, User


@dataclass(frozen=True)
class PortfolioOverview:
    """One line per portfolio for summaries."""

    id: int
    external_id: str
    name: str
    owner_email: str
    cash: Decimal
    positions: int
    options: int
    as_of: dt.date | None = None
    nav: float | None = None
    var95: float | None = None
    beta: float | None = None
    status: str | None = None


def portfolio_overview(session: Session) -> list[PortfolioOverview]:
    """Every portfolio with its owner, position counts and current risk headline."""
    counts = (
        select(
            Position.portfolio_id,
            func.count(Position.id).label("n"),
            func.count(Position.id).filter(Position.underlying.is_not(None)).label("n_opt"),
        )
        .group_by(Position.portfolio_id)
        .subquery()
    )
    snap = PortfolioSnapshot
    stmt = (
        select(
            Portfolio.id,
            Portfolio.external_id,
            Portfolio.name,
            User.email,
            Portfolio.cash,
            func.coalesce(counts.c.n, 0),
            func.coalesce(counts.c.n_opt, 0),
            snap.as_of_date,
            snap.nav,
            snap.hist_var_95 * snap.nav,
            snap.beta_spy,
            snap.status,
        )
        .join(User, User.id == Portfolio.owner_id)
        .outerjoin(counts, counts.c.portfolio_id == Portfolio.id)
        .outerjoin(snap, (snap.portfolio_id == Portfolio.id) & snap.is_current)
        .order_by(Portfolio.external_id)
    )
    return [PortfolioOverview(*row) for row in session.execute(stmt).all()]
