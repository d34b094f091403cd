"""position_risk keeps the valued quantity, the underlying, and the 150-day betas.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 01:06:52.986055

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("position_risk", sa.Column("quantity", sa.Double(), nullable=True))
    op.add_column("position_risk", sa.Column("underlying", sa.String(length=32), nullable=True))
    op.add_column("position_risk", sa.Column("beta_spy_150d", sa.Double(), nullable=True))
    op.add_column(
        "position_risk",
        sa.Column("factor_betas", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("position_risk", "factor_betas")
    op.drop_column("position_risk", "beta_spy_150d")
    op.drop_column("position_risk", "underlying")
    op.drop_column("position_risk", "quantity")
