"""Bar prices as double precision: what vendors send, and loadable with binary COPY.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 01:01:35.040095

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column(
        "price_bar",
        "open",
        existing_type=sa.NUMERIC(precision=18, scale=6),
        type_=sa.Double(),
        existing_nullable=True,
    )
    op.alter_column(
        "price_bar",
        "high",
        existing_type=sa.NUMERIC(precision=18, scale=6),
        type_=sa.Double(),
        existing_nullable=True,
    )
    op.alter_column(
        "price_bar",
        "low",
        existing_type=sa.NUMERIC(precision=18, scale=6),
        type_=sa.Double(),
        existing_nullable=True,
    )
    op.alter_column(
        "price_bar",
        "close",
        existing_type=sa.NUMERIC(precision=18, scale=6),
        type_=sa.Double(),
        existing_nullable=False,
    )
    op.alter_column(
        "price_bar",
        "adj_close",
        existing_type=sa.NUMERIC(precision=18, scale=6),
        type_=sa.Double(),
        existing_nullable=True,
    )


def downgrade() -> None:
    op.alter_column(
        "price_bar",
        "adj_close",
        existing_type=sa.Double(),
        type_=sa.NUMERIC(precision=18, scale=6),
        existing_nullable=True,
    )
    op.alter_column(
        "price_bar",
        "close",
        existing_type=sa.Double(),
        type_=sa.NUMERIC(precision=18, scale=6),
        existing_nullable=False,
    )
    op.alter_column(
        "price_bar",
        "low",
        existing_type=sa.Double(),
        type_=sa.NUMERIC(precision=18, scale=6),
        existing_nullable=True,
    )
    op.alter_column(
        "price_bar",
        "high",
        existing_type=sa.Double(),
        type_=sa.NUMERIC(precision=18, scale=6),
        existing_nullable=True,
    )
    op.alter_column(
        "price_bar",
        "open",
        existing_type=sa.Double(),
        type_=sa.NUMERIC(precision=18, scale=6),
        existing_nullable=True,
    )
