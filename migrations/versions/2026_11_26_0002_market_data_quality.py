"""Market data: vendor status on bars and the per-symbol data-quality table.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 00:47:08.527141

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "data_quality",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("as_of_date", sa.Date(), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("roles", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=True),
        sa.Column("last_date", sa.Date(), nullable=True),
        sa.Column("staleness_sessions", sa.Integer(), nullable=True),
        sa.Column(
            "issues",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('ok', 'stale', 'missing')", name=op.f("ck_data_quality__status")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["flow_run.id"], name=op.f("fk_data_quality__run_id__flow_run")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_quality")),
        sa.UniqueConstraint(
            "as_of_date", "symbol", name=op.f("uq_data_quality__as_of_date_symbol")
        ),
    )
    op.create_index(op.f("ix_data_quality__run_id"), "data_quality", ["run_id"], unique=False)
    op.add_column("price_bar", sa.Column("vendor_status", sa.String(length=16), nullable=True))


def downgrade() -> None:
    op.drop_column("price_bar", "vendor_status")
    op.drop_index(op.f("ix_data_quality__run_id"), table_name="data_quality")
    op.drop_table("data_quality")
