"""table_stat: per-table size and dead-tuple share recorded by db-maintenance runs.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 01:16:53.788603

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "table_stat",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("as_of_date", sa.Date(), nullable=False),
        sa.Column("table_name", sa.String(length=128), nullable=False),
        sa.Column("total_bytes", sa.BigInteger(), nullable=False),
        sa.Column("table_bytes", sa.BigInteger(), nullable=False),
        sa.Column("index_bytes", sa.BigInteger(), nullable=False),
        sa.Column("live_rows", sa.BigInteger(), nullable=False),
        sa.Column("dead_rows", sa.BigInteger(), nullable=False),
        sa.Column("dead_ratio", sa.Double(), nullable=False),
        sa.Column("last_vacuum", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_analyze", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["flow_run.id"], name=op.f("fk_table_stat__run_id__flow_run")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_table_stat")),
        sa.UniqueConstraint("run_id", "table_name", name=op.f("uq_table_stat__run_id_table_name")),
    )
    op.create_index(op.f("ix_table_stat__run_id"), "table_stat", ["run_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_table_stat__run_id"), table_name="table_stat")
    op.drop_table("table_stat")
