"""risk_limit and limit_alert: per-portfolio and default limits, and alerts sent (issue 13, C31).

Limits bound figures of a portfolio's document; each risk run evaluates them and stores
the breach states in the document. A new breach is posted to the webhook once, and
``limit_alert`` remembers that, so rerunning the date does not post it again.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 12:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "risk_limit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("portfolio_id", sa.Integer(), nullable=True),
        sa.Column("limit_key", sa.String(length=32), nullable=False),
        sa.Column("min_value", sa.Float(), nullable=True),
        sa.Column("max_value", sa.Float(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "limit_key IN ('hist_var_95_fraction', 'gross_leverage', 'net_leverage', "
            "'beta_spy_150d', 'max_position_weight', 'worst_stress_fraction')",
            name=op.f("ck_risk_limit__known_key"),
        ),
        sa.CheckConstraint(
            "CASE WHEN limit_key = 'beta_spy_150d' "
            "THEN min_value IS NOT NULL AND min_value <= max_value "
            "ELSE min_value IS NULL AND max_value >= 0 END",
            name=op.f("ck_risk_limit__valid_bound"),
        ),
        sa.ForeignKeyConstraint(
            ["portfolio_id"],
            ["portfolio.id"],
            name=op.f("fk_risk_limit__portfolio_id__portfolio"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_limit")),
        sa.UniqueConstraint(
            "portfolio_id",
            "limit_key",
            name=op.f("uq_risk_limit__portfolio_id_limit_key"),
            postgresql_nulls_not_distinct=True,
        ),
    )
    op.create_table(
        "limit_alert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("portfolio_id", sa.Integer(), nullable=False),
        sa.Column("as_of_date", sa.Date(), nullable=False),
        sa.Column("limit_key", sa.String(length=32), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        sa.Column(
            "sent_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["portfolio_id"],
            ["portfolio.id"],
            name=op.f("fk_limit_alert__portfolio_id__portfolio"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_limit_alert")),
        sa.UniqueConstraint(
            "portfolio_id",
            "as_of_date",
            "limit_key",
            name=op.f("uq_limit_alert__portfolio_id_as_of_date_limit_key"),
        ),
    )


def downgrade() -> None:
    op.drop_table("limit_alert")
    op.drop_table("risk_limit")
