"""Risk limits (RISK-CONVENTIONS C31) and the breach alerts already sent."""

import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TimestampMixin

#: The limit keys the table accepts (``sigmasight.risk.limits.LIMIT_KEYS``).
LIMIT_KEY_CHECK = (
    "limit_key IN ('hist_var_95_fraction', 'gross_leverage', 'net_leverage', "
    "'beta_spy_150d', 'max_position_weight', 'worst_stress_fraction')"
)


class RiskLimit(TimestampMixin, Base):
    """One limit: a portfolio's own, or a default for every portfolio (``portfolio_id`` NULL).

    A portfolio's own limit replaces the default of the same key. ``beta_spy_150d`` is a
    range (``min_value`` to ``max_value``, any sign); every other key has one bound
    (``max_value`` >= 0, ``min_value`` NULL).
    """

    __tablename__ = "risk_limit"
    __table_args__ = (
        # One default per key: NULL portfolio ids count as equal (PostgreSQL 15+).
        UniqueConstraint("portfolio_id", "limit_key", postgresql_nulls_not_distinct=True),
        CheckConstraint(LIMIT_KEY_CHECK, name="known_key"),
        CheckConstraint(
            "CASE WHEN limit_key = 'beta_spy_150d' "
            "THEN min_value IS NOT NULL AND min_value <= max_value "
            "ELSE min_value IS NULL AND max_value >= 0 END",
            name="valid_bound",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    portfolio_id: Mapped[int | None] = mapped_column(ForeignKey("portfolio.id", ondelete="CASCADE"))
    limit_key: Mapped[str] = mapped_column(String(32))
    min_value: Mapped[float | None]
    max_value: Mapped[float]
    # Who set it last: "bundle" or "cli".
    source: Mapped[str] = mapped_column(String(16))


class LimitAlert(Base):
    """A new breach already posted to the webhook, so a rerun of its date does not post again."""

    __tablename__ = "limit_alert"
    __table_args__ = (UniqueConstraint("portfolio_id", "as_of_date", "limit_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    portfolio_id: Mapped[int] = mapped_column(ForeignKey("portfolio.id", ondelete="CASCADE"))
    as_of_date: Mapped[dt.date]
    limit_key: Mapped[str] = mapped_column(String(32))
    # The nightly-risk run that posted it.
    run_id: Mapped[uuid.UUID | None]
    sent_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
