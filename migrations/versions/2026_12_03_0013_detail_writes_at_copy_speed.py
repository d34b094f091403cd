"""Detail result tables shaped for binary COPY: typed correlation arrays, no per-row checks.

Issue 15: a night's result rows (about 80 per portfolio) should land at the speed of a raw
binary COPY. Measured at 2,000 x 50, most of the write time was the server parsing
correlation matrices stored as JSONB (2,500 numerics per portfolio) and checking foreign
keys row by row.

- ``correlation_result.symbols`` and ``matrix`` become ``text[]`` and ``float8[]`` (2-D;
  JSON nulls become NULL elements, an empty matrix an empty array). The doubles travel as
  their bits, so values are unchanged. ``clusters`` stays JSONB (ragged, small).
- ``position_risk.factor_betas`` (a JSONB object per row: half the server's time for
  position rows) becomes ``factor_symbols text[]`` + ``factor_betas float8[]``, the beta to
  ``factor_symbols[i]`` at ``factor_betas[i]``.
- ``portfolio_snapshot.document`` and ``correlation_result.matrix`` are stored uncompressed
  (STORAGE EXTERNAL): pglz took about 0.4 ms per 12 KB document and per matrix, most of
  those rows' write time. The price is disk: a document takes about 12 KB instead of 6 KB
  (about 60 MB more per night for 10,000 portfolios); matrices barely compress.
- The detail tables (position_risk, factor_exposure, correlation_result, stress_result)
  lose their foreign keys (to portfolio, position and flow_run) and the indexes nothing
  reads by: run_id (no read selects detail by run) and position_id (reads join position
  from position_risk, never the other way). Each foreign key cost one lookup per row
  written. Kept: the unique keys (every read and the rerun merge go through them), the
  BRIN date indexes (cheap; the retention prune uses them), and on portfolio_snapshot
  (one row per portfolio and date) its keys to portfolio and flow_run and its run_id index
  (the API lists a run's snapshots).
- The ON DELETE CASCADE from portfolio is kept by one statement-level trigger on
  ``portfolio``: it costs nothing when results are written. ``position_risk.position_id``
  no longer becomes NULL when its position is deleted; readers join ``position`` on it, so
  a deleted position reads as absent as before (position ids are never reused).
- ``risk_rerun_part`` holds the binary COPY payload and its row count instead of CSV.
  Parts left by a dead rerun are dropped (the next run of the date recomputes them).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 14:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DETAIL = ("position_risk", "factor_exposure", "correlation_result", "stress_result")
POSITION_FKS = ("position_risk", "factor_exposure")

CASCADE_FUNCTION = """
CREATE FUNCTION portfolio_detail_cascade() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM position_risk WHERE portfolio_id IN (SELECT id FROM gone);
    DELETE FROM factor_exposure WHERE portfolio_id IN (SELECT id FROM gone);
    DELETE FROM correlation_result WHERE portfolio_id IN (SELECT id FROM gone);
    DELETE FROM stress_result WHERE portfolio_id IN (SELECT id FROM gone);
    RETURN NULL;
END $$
"""
CASCADE_TRIGGER = (
    "CREATE TRIGGER portfolio_detail_cascade AFTER DELETE ON portfolio "
    "REFERENCING OLD TABLE AS gone FOR EACH STATEMENT "
    "EXECUTE FUNCTION portfolio_detail_cascade()"
)


def upgrade() -> None:
    for table in DETAIL:
        op.drop_constraint(op.f(f"fk_{table}__portfolio_id__portfolio"), table, type_="foreignkey")
        op.drop_constraint(op.f(f"fk_{table}__run_id__flow_run"), table, type_="foreignkey")
        op.drop_index(op.f(f"ix_{table}__run_id"), table_name=table)
    for table in POSITION_FKS:
        op.drop_constraint(op.f(f"fk_{table}__position_id__position"), table, type_="foreignkey")
        op.drop_index(op.f(f"ix_{table}__position_id"), table_name=table)
    op.execute(CASCADE_FUNCTION)
    op.execute(CASCADE_TRIGGER)

    # A subquery cannot convert a column in ALTER ... USING: new columns, filled, renamed.
    op.add_column("correlation_result", sa.Column("symbols_a", postgresql.ARRAY(sa.Text())))
    op.add_column(
        "correlation_result", sa.Column("matrix_a", postgresql.ARRAY(sa.Double(), dimensions=2))
    )
    op.execute(
        "UPDATE correlation_result SET "
        "symbols_a = ARRAY(SELECT s FROM jsonb_array_elements_text(symbols) "
        "WITH ORDINALITY AS e(s, i) ORDER BY i), "
        "matrix_a = coalesce((SELECT array_agg(r ORDER BY i) FROM ("
        " SELECT i, ARRAY(SELECT (c #>> '{}')::float8 FROM jsonb_array_elements(row_) "
        " WITH ORDINALITY AS y(c, j) ORDER BY j) AS r"
        " FROM jsonb_array_elements(matrix) WITH ORDINALITY AS x(row_, i)) m), '{}')"
    )
    for name in ("symbols", "matrix"):
        op.drop_column("correlation_result", name)
        op.alter_column("correlation_result", f"{name}_a", new_column_name=name, nullable=False)

    op.add_column("position_risk", sa.Column("factor_symbols", postgresql.ARRAY(sa.Text())))
    op.add_column("position_risk", sa.Column("factor_betas_a", postgresql.ARRAY(sa.Double())))
    op.execute(
        "UPDATE position_risk SET "
        "factor_symbols = ARRAY(SELECT k FROM jsonb_object_keys(factor_betas) k ORDER BY k), "
        "factor_betas_a = ARRAY(SELECT (factor_betas ->> k)::float8 "
        "FROM jsonb_object_keys(factor_betas) k ORDER BY k) "
        "WHERE factor_betas IS NOT NULL AND jsonb_typeof(factor_betas) = 'object'"
    )
    op.drop_column("position_risk", "factor_betas")
    op.alter_column("position_risk", "factor_betas_a", new_column_name="factor_betas")

    op.execute("ALTER TABLE portfolio_snapshot ALTER COLUMN document SET STORAGE EXTERNAL")
    op.execute("ALTER TABLE correlation_result ALTER COLUMN matrix SET STORAGE EXTERNAL")

    op.execute("DELETE FROM risk_rerun_part")
    op.alter_column("risk_rerun_part", "csv", new_column_name="payload")
    op.add_column("risk_rerun_part", sa.Column("n_rows", sa.Integer(), nullable=False))


def downgrade() -> None:
    op.execute("DELETE FROM risk_rerun_part")
    op.drop_column("risk_rerun_part", "n_rows")
    op.alter_column("risk_rerun_part", "payload", new_column_name="csv")

    op.execute("ALTER TABLE portfolio_snapshot ALTER COLUMN document SET STORAGE EXTENDED")
    op.add_column(
        "position_risk", sa.Column("factor_betas_j", postgresql.JSONB(astext_type=sa.Text()))
    )
    op.execute(
        "UPDATE position_risk SET factor_betas_j = (SELECT jsonb_object_agg(s, b) "
        "FROM unnest(factor_symbols, factor_betas) AS u(s, b)) WHERE factor_symbols IS NOT NULL"
    )
    op.drop_column("position_risk", "factor_betas")
    op.drop_column("position_risk", "factor_symbols")
    op.alter_column("position_risk", "factor_betas_j", new_column_name="factor_betas")

    op.add_column(
        "correlation_result", sa.Column("symbols_j", postgresql.JSONB(astext_type=sa.Text()))
    )
    op.add_column(
        "correlation_result", sa.Column("matrix_j", postgresql.JSONB(astext_type=sa.Text()))
    )
    op.execute(
        "UPDATE correlation_result SET symbols_j = to_jsonb(symbols), "
        "matrix_j = coalesce((SELECT jsonb_agg(to_jsonb(r) ORDER BY i) FROM ("
        " SELECT i, ARRAY(SELECT matrix[i][j] FROM generate_subscripts(matrix, 2) j ORDER BY j)"
        " AS r FROM generate_subscripts(matrix, 1) i) m), '[]'::jsonb)"
    )
    for name in ("symbols", "matrix"):
        op.drop_column("correlation_result", name)
        op.alter_column("correlation_result", f"{name}_j", new_column_name=name, nullable=False)

    op.execute("DROP TRIGGER portfolio_detail_cascade ON portfolio")
    op.execute("DROP FUNCTION portfolio_detail_cascade()")
    # What the foreign keys would have done meanwhile, so that they can be created again.
    op.execute(
        "UPDATE position_risk r SET position_id = NULL WHERE position_id IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM position p WHERE p.id = r.position_id)"
    )
    op.execute(
        "DELETE FROM factor_exposure f WHERE position_id IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM position p WHERE p.id = f.position_id)"
    )
    for table in DETAIL:
        op.execute(
            f"DELETE FROM {table} t WHERE NOT EXISTS "
            "(SELECT 1 FROM flow_run r WHERE r.id = t.run_id)"
        )
    for table in POSITION_FKS:
        op.create_index(op.f(f"ix_{table}__position_id"), table, ["position_id"])
    op.create_foreign_key(
        op.f("fk_position_risk__position_id__position"),
        "position_risk",
        "position",
        ["position_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_foreign_key(
        op.f("fk_factor_exposure__position_id__position"),
        "factor_exposure",
        "position",
        ["position_id"],
        ["id"],
        ondelete="CASCADE",
    )
    for table in DETAIL:
        op.create_index(op.f(f"ix_{table}__run_id"), table, ["run_id"])
        op.create_foreign_key(
            op.f(f"fk_{table}__run_id__flow_run"), table, "flow_run", ["run_id"], ["id"]
        )
        op.create_foreign_key(
            op.f(f"fk_{table}__portfolio_id__portfolio"),
            table,
            "portfolio",
            ["portfolio_id"],
            ["id"],
            ondelete="CASCADE",
        )
