"""flow_run.status may be ``crashed``: a run whose process died, found by the next run.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 08:00:00

"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NAME = "ck_flow_run__status"


def upgrade() -> None:
    op.drop_constraint(op.f(_NAME), "flow_run", type_="check")
    op.create_check_constraint(
        op.f(_NAME),
        "flow_run",
        "status IN ('running', 'succeeded', 'failed', 'skipped', 'crashed')",
    )


def downgrade() -> None:
    op.execute("UPDATE flow_run SET status = 'failed' WHERE status = 'crashed'")
    op.drop_constraint(op.f(_NAME), "flow_run", type_="check")
    op.create_check_constraint(
        op.f(_NAME), "flow_run", "status IN ('running', 'succeeded', 'failed', 'skipped')"
    )
