"""position_decomposition: per-position risk contributions live with the positions.

The document's ``decomposition.positions`` (RISK-CONVENTIONS.md C22-C25) is position-level
detail like ``positions``, so its figures are stored as columns of ``position_risk`` and the
list is rebuilt on read, keeping the snapshot's headline document small.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 12:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("mctr_daily", "ctr_daily", "param_var_95_component", "cvar_95_component")


def upgrade() -> None:
    for name in COLUMNS:
        op.add_column("position_risk", sa.Column(name, sa.Double(), nullable=True))


def downgrade() -> None:
    for name in reversed(COLUMNS):
        op.drop_column("position_risk", name)
