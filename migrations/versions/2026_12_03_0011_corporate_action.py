"""corporate_action: splits and cash dividends by symbol and ex-date (issue 12).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 09:55:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "corporate_action",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("ex_date", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Numeric(24, 12), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "kind IN ('split', 'cash_dividend')", name=op.f("ck_corporate_action__kind")
        ),
        sa.CheckConstraint("value > 0", name=op.f("ck_corporate_action__positive_value")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_corporate_action")),
        sa.UniqueConstraint(
            "symbol", "ex_date", "kind", name=op.f("uq_corporate_action__symbol_ex_date_kind")
        ),
    )
    op.create_index(op.f("ix_corporate_action__ex_date"), "corporate_action", ["ex_date"])


def downgrade() -> None:
    op.drop_index(op.f("ix_corporate_action__ex_date"), table_name="corporate_action")
    op.drop_table("corporate_action")
