"""Portfolio reads: overviews and books."""

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Portfolio, Position, User


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


def portfolio_overview(session: Session) -> list[PortfolioOverview]:
    """Every portfolio with its owner and position counts, by external id."""
    n_positions = func.count(Position.id)
    n_options = func.count(Position.id).filter(Position.underlying.is_not(None))
    stmt = (
        select(
            Portfolio.id,
            Portfolio.external_id,
            Portfolio.name,
            User.email,
            Portfolio.cash,
            n_positions,
            n_options,
        )
        .join(User, User.id == Portfolio.owner_id)
        .outerjoin(Position, Position.portfolio_id == Portfolio.id)
        .group_by(Portfolio.id, User.email)
        .order_by(Portfolio.external_id)
    )
    return [PortfolioOverview(*row) for row in session.execute(stmt).all()]
