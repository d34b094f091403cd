"""SQLAlchemy models: every table SigmaSight owns (Alembic's target metadata)."""

from models.base import Base, TimestampMixin
from models.limits import LimitAlert, RiskLimit
from models.market import (
    CorporateAction,
    DataQuality,
    Factor,
    PriceBar,
    RateObservation,
    StressScenario,
)
from models.portfolio import (
    UNDATED_BOOK_DATE,
    CashFlow,
    Portfolio,
    PortfolioBook,
    Position,
    PositionType,
    Security,
    Trade,
    User,
)
from models.results import (
    Backup,
    CorrelationResult,
    FactorExposure,
    PortfolioSnapshot,
    PositionRisk,
    Report,
    RiskRerunPart,
    StressResult,
)
from models.runs import FlowRun, TableStat

__all__ = [
    "UNDATED_BOOK_DATE",
    "Backup",
    "Base",
    "CashFlow",
    "CorporateAction",
    "CorrelationResult",
    "DataQuality",
    "Factor",
    "FactorExposure",
    "FlowRun",
    "LimitAlert",
    "Portfolio",
    "PortfolioBook",
    "PortfolioSnapshot",
    "Position",
    "PositionRisk",
    "PositionType",
    "PriceBar",
    "RateObservation",
    "Report",
    "RiskLimit",
    "RiskRerunPart",
    "Security",
    "StressResult",
    "StressScenario",
    "TableStat",
    "TimestampMixin",
    "Trade",
    "User",
]
