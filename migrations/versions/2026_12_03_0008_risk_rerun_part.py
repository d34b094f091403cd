"""risk_rerun_part: a same-date rerun's rows wait here until the whole run succeeds.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 08:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "risk_rerun_part",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("as_of_date", sa.Date(), nullable=False),
        sa.Column("table_name", sa.String(length=64), nullable=False),
        sa.Column("columns", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("csv", sa.LargeBinary(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_rerun_part")),
    )
    op.create_index(
        op.f("ix_risk_rerun_part__as_of_date"), "risk_rerun_part", ["as_of_date"], unique=False
    )
    op.create_index(op.f("ix_risk_rerun_part__run_id"), "risk_rerun_part", ["run_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_risk_rerun_part__run_id"), table_name="risk_rerun_part")
    op.drop_index(op.f("ix_risk_rerun_part__as_of_date"), table_name="risk_rerun_part")
    op.drop_table("risk_rerun_part")
