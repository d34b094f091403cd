"""Dated books, trades and cash flows; snapshots keep the actual history (issue 11).

Every existing position becomes part of the book of its portfolio's ``valuation_date`` (or,
for a portfolio without one, of the undated book that is in effect on every date), with
the portfolio's cash as that book's cash: nothing is lost and every date computes as before.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 09:30:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNDATED = "1900-01-01"


def upgrade() -> None:
    op.create_table(
        "portfolio_book",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("portfolio_id", sa.Integer(), nullable=False),
        sa.Column("book_date", sa.Date(), nullable=False),
        sa.Column("cash", sa.Numeric(20, 8), server_default="0", nullable=False),
        sa.Column("source", sa.String(length=16), server_default="bundle", nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["portfolio_id"],
            ["portfolio.id"],
            name=op.f("fk_portfolio_book__portfolio_id__portfolio"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portfolio_book")),
        sa.UniqueConstraint(
            "portfolio_id", "book_date", name=op.f("uq_portfolio_book__portfolio_id_book_date")
        ),
    )
    op.execute(
        "INSERT INTO portfolio_book (portfolio_id, book_date, cash) "
        f"SELECT id, coalesce(valuation_date, DATE '{UNDATED}'), cash FROM portfolio"
    )
    op.add_column("position", sa.Column("book_date", sa.Date(), nullable=True))
    op.execute(
        f"UPDATE position p SET book_date = coalesce(f.valuation_date, DATE '{UNDATED}') "
        "FROM portfolio f WHERE f.id = p.portfolio_id"
    )
    op.alter_column("position", "book_date", nullable=False)
    op.drop_constraint(op.f("uq_position__portfolio_id_symbol"), "position", type_="unique")
    op.create_unique_constraint(
        op.f("uq_position__portfolio_id_book_date_symbol"),
        "position",
        ["portfolio_id", "book_date", "symbol"],
    )
    op.create_foreign_key(
        op.f("fk_position__portfolio_id_book_date__portfolio_book"),
        "position",
        "portfolio_book",
        ["portfolio_id", "book_date"],
        ["portfolio_id", "book_date"],
        ondelete="CASCADE",
    )

    op.create_table(
        "trade",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("portfolio_id", sa.Integer(), nullable=False),
        sa.Column("trade_date", sa.Date(), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("quantity", sa.Numeric(20, 8), nullable=False),
        sa.Column("price", sa.Numeric(20, 8), nullable=False),
        sa.Column("fees", sa.Numeric(20, 8), server_default="0", nullable=False),
        sa.Column("trade_id", sa.String(length=64), nullable=True),
        sa.Column("underlying", sa.String(length=32), nullable=True),
        sa.Column("strike", sa.Numeric(20, 8), nullable=True),
        sa.Column("expiry_date", sa.Date(), nullable=True),
        sa.Column("option_right", sa.String(length=4), nullable=True),
        sa.Column("multiplier", sa.Integer(), nullable=True),
        sa.Column("implied_vol", sa.Double(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("quantity <> 0", name=op.f("ck_trade__nonzero_quantity")),
        sa.CheckConstraint(
            "price >= 0 AND fees >= 0", name=op.f("ck_trade__nonnegative_price_fees")
        ),
        sa.CheckConstraint(
            "option_right IS NULL OR option_right IN ('call', 'put')", name=op.f("ck_trade__right")
        ),
        sa.ForeignKeyConstraint(
            ["portfolio_id"],
            ["portfolio.id"],
            name=op.f("fk_trade__portfolio_id__portfolio"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trade")),
    )
    op.create_index(
        op.f("ix_trade__portfolio_id_trade_date"), "trade", ["portfolio_id", "trade_date"]
    )
    op.create_index(
        "uq_trade__portfolio_id_trade_id",
        "trade",
        ["portfolio_id", "trade_id"],
        unique=True,
        postgresql_where=sa.text("trade_id IS NOT NULL"),
    )
    op.create_index(
        "uq_trade__natural",
        "trade",
        ["portfolio_id", "trade_date", "symbol", "quantity", "price"],
        unique=True,
        postgresql_where=sa.text("trade_id IS NULL"),
    )
    op.create_table(
        "cash_flow",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("portfolio_id", sa.Integer(), nullable=False),
        sa.Column("flow_date", sa.Date(), nullable=False),
        sa.Column("amount", sa.Numeric(20, 8), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["portfolio_id"],
            ["portfolio.id"],
            name=op.f("fk_cash_flow__portfolio_id__portfolio"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cash_flow")),
        sa.UniqueConstraint(
            "portfolio_id", "flow_date", name=op.f("uq_cash_flow__portfolio_id_flow_date")
        ),
    )

    for column in ("external_flow", "pnl", "twr_daily", "twr_cumulative"):
        op.add_column("portfolio_snapshot", sa.Column(column, sa.Double(), nullable=True))
    op.add_column("portfolio_snapshot", sa.Column("book_date", sa.Date(), nullable=True))

    # position_risk: keyed by symbol within a portfolio's date (trades open holdings that have
    # no stored position row), and a deleted book keeps the risk it had on past dates.
    op.drop_constraint(
        op.f("uq_position_risk__position_id_as_of_date"), "position_risk", type_="unique"
    )
    op.drop_index(op.f("ix_position_risk__portfolio_id_as_of_date"), table_name="position_risk")
    op.drop_constraint(
        op.f("fk_position_risk__position_id__position"), "position_risk", type_="foreignkey"
    )
    op.alter_column("position_risk", "position_id", nullable=True)
    op.create_foreign_key(
        op.f("fk_position_risk__position_id__position"),
        "position_risk",
        "position",
        ["position_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_index(op.f("ix_position_risk__position_id"), "position_risk", ["position_id"])
    op.create_unique_constraint(
        op.f("uq_position_risk__portfolio_id_as_of_date_symbol"),
        "position_risk",
        ["portfolio_id", "as_of_date", "symbol"],
    )
    # Detail older than the retention window is pruned by date; rows arrive in date order.
    for table in ("position_risk", "correlation_result"):
        op.create_index(
            f"ix_{table}__as_of_date_brin", table, ["as_of_date"], postgresql_using="brin"
        )


def downgrade() -> None:
    # Only the latest book of each portfolio survives a downgrade (the old schema had one).
    for table in ("position_risk", "correlation_result"):
        op.drop_index(f"ix_{table}__as_of_date_brin", table_name=table)
    op.drop_constraint(
        op.f("uq_position_risk__portfolio_id_as_of_date_symbol"), "position_risk", type_="unique"
    )
    op.drop_index(op.f("ix_position_risk__position_id"), table_name="position_risk")
    op.drop_constraint(
        op.f("fk_position_risk__position_id__position"), "position_risk", type_="foreignkey"
    )
    op.execute("DELETE FROM position_risk WHERE position_id IS NULL")
    op.alter_column("position_risk", "position_id", nullable=False)
    op.create_foreign_key(
        op.f("fk_position_risk__position_id__position"),
        "position_risk",
        "position",
        ["position_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.create_index(
        op.f("ix_position_risk__portfolio_id_as_of_date"),
        "position_risk",
        ["portfolio_id", "as_of_date"],
    )
    op.create_unique_constraint(
        op.f("uq_position_risk__position_id_as_of_date"),
        "position_risk",
        ["position_id", "as_of_date"],
    )
    for column in ("book_date", "twr_cumulative", "twr_daily", "pnl", "external_flow"):
        op.drop_column("portfolio_snapshot", column)
    op.drop_table("cash_flow")
    op.drop_index("uq_trade__natural", table_name="trade")
    op.drop_index("uq_trade__portfolio_id_trade_id", table_name="trade")
    op.drop_index(op.f("ix_trade__portfolio_id_trade_date"), table_name="trade")
    op.drop_table("trade")
    op.drop_constraint(
        op.f("fk_position__portfolio_id_book_date__portfolio_book"), "position", type_="foreignkey"
    )
    op.execute(
        "DELETE FROM position p USING (SELECT portfolio_id, max(book_date) AS latest "
        "FROM portfolio_book GROUP BY portfolio_id) b "
        "WHERE b.portfolio_id = p.portfolio_id AND p.book_date <> b.latest"
    )
    op.drop_constraint(
        op.f("uq_position__portfolio_id_book_date_symbol"), "position", type_="unique"
    )
    op.create_unique_constraint(
        op.f("uq_position__portfolio_id_symbol"), "position", ["portfolio_id", "symbol"]
    )
    op.drop_column("position", "book_date")
    op.drop_table("portfolio_book")
