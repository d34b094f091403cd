"""Initial schema: users, portfolios, market data, run ledger and result tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-26 00:38:51.053627

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "app_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("full_name", sa.String(length=255), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default="true", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_user")),
        sa.UniqueConstraint("email", name=op.f("uq_app_user__email")),
    )
    op.create_table(
        "factor",
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("display_order", sa.Integer(), server_default="0", nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default="true", nullable=False),
        sa.PrimaryKeyConstraint("symbol", name=op.f("pk_factor")),
        sa.UniqueConstraint("name", name=op.f("uq_factor__name")),
    )
    op.create_table(
        "flow_run",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("flow", sa.String(length=64), nullable=False),
        sa.Column("as_of_date", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="running", nullable=False),
        sa.Column(
            "started_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "inputs",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "counts",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "timings",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('running', 'succeeded', 'failed', 'skipped')",
            name=op.f("ck_flow_run__status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flow_run")),
    )
    op.create_index(
        op.f("ix_flow_run__flow_as_of_date"), "flow_run", ["flow", "as_of_date"], unique=False
    )
    op.create_index(op.f("ix_flow_run__started_at"), "flow_run", ["started_at"], unique=False)
    op.create_table(
        "price_bar",
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("price_date", sa.Date(), nullable=False),
        sa.Column("open", sa.Numeric(precision=18, scale=6), nullable=True),
        sa.Column("high", sa.Numeric(precision=18, scale=6), nullable=True),
        sa.Column("low", sa.Numeric(precision=18, scale=6), nullable=True),
        sa.Column("close", sa.Numeric(precision=18, scale=6), nullable=False),
        sa.Column("adj_close", sa.Numeric(precision=18, scale=6), nullable=True),
        sa.Column("volume", sa.BigInteger(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        sa.Column(
            "ingested_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "adj_close IS NULL OR adj_close > 0", name=op.f("ck_price_bar__positive_adj_close")
        ),
        sa.CheckConstraint("close > 0", name=op.f("ck_price_bar__positive_close")),
        sa.CheckConstraint(
            "high IS NULL OR low IS NULL OR high >= low", name=op.f("ck_price_bar__high_ge_low")
        ),
        sa.PrimaryKeyConstraint("symbol", "price_date", name=op.f("pk_price_bar")),
    )
    op.create_index(op.f("ix_price_bar__price_date"), "price_bar", ["price_date"], unique=False)
    op.create_table(
        "rate_observation",
        sa.Column("series_id", sa.String(length=32), nullable=False),
        sa.Column("obs_date", sa.Date(), nullable=False),
        sa.Column("value_pct", sa.Double(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        sa.Column(
            "ingested_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("series_id", "obs_date", name=op.f("pk_rate_observation")),
    )
    op.create_table(
        "security",
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("asset_type", sa.String(length=16), server_default="stock", nullable=False),
        sa.Column("sector", sa.String(length=100), nullable=True),
        sa.Column("industry", sa.String(length=100), nullable=True),
        sa.Column("market_cap", sa.Double(), nullable=True),
        sa.Column("currency", sa.String(length=3), server_default="USD", nullable=False),
        sa.Column("exchange", sa.String(length=20), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("symbol", name=op.f("pk_security")),
    )
    op.create_table(
        "stress_scenario",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("shocks", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("rate_shock_pp", sa.Double(), server_default="0", nullable=False),
        sa.Column("is_builtin", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default="true", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "category IN ('market', 'rates', 'rotation', 'volatility', 'historical', 'custom')",
            name=op.f("ck_stress_scenario__category"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stress_scenario")),
        sa.UniqueConstraint("name", name=op.f("uq_stress_scenario__name")),
    )
    op.create_table(
        "backup",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.String(length=255), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="uploading", nullable=False),
        sa.Column("database_name", sa.String(length=255), nullable=False),
        sa.Column("server_version", sa.String(length=32), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("manifest", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("as_of_date", sa.Date(), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["flow_run.id"], name=op.f("fk_backup__run_id__flow_run")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backup")),
        sa.UniqueConstraint("key", name=op.f("uq_backup__key")),
    )
    op.create_index(op.f("ix_backup__run_id"), "backup", ["run_id"], unique=False)
    op.create_index(
        op.f("ix_backup__status_as_of_date"), "backup", ["status", "as_of_date"], unique=False
    )
    op.create_table(
        "portfolio",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("base_currency", sa.String(length=3), server_default="USD", nullable=False),
        sa.Column("cash", sa.Numeric(precision=20, scale=8), server_default="0", nullable=False),
        sa.Column("benchmark", sa.String(length=32), server_default="SPY", nullable=False),
        sa.Column("risk_free_rate", sa.Double(), nullable=True),
        sa.Column("valuation_date", sa.Date(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["app_user.id"], name=op.f("fk_portfolio__owner_id__app_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portfolio")),
        sa.UniqueConstraint("external_id", name=op.f("uq_portfolio__external_id")),
    )
    op.create_index(op.f("ix_portfolio__owner_id"), "portfolio", ["owner_id"], unique=False)
    op.create_table(
        "correlation_result",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("portfolio_id", sa.Integer(), nullable=False),
        sa.Column("symbols", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("matrix", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("min_overlap", sa.Integer(), nullable=False),
        sa.Column(
            "clusters",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("as_of_date", sa.Date(), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["portfolio_id"],
            ["portfolio.id"],
            name=op.f("fk_correlation_result__portfolio_id__portfolio"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["flow_run.id"], name=op.f("fk_correlation_result__run_id__flow_run")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_correlation_result")),
        sa.UniqueConstraint(
            "portfolio_id",
            "as_of_date",
            name=op.f("uq_correlation_result__portfolio_id_as_of_date"),
        ),
    )
    op.create_index(
        op.f("ix_correlation_result__run_id"), "correlation_result", ["run_id"], unique=False
    )
    op.create_table(
        "portfolio_snapshot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("portfolio_id", sa.Integer(), nullable=False),
        sa.Column("is_current", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("status", sa.String(length=16), server_default="ok", nullable=False),
        sa.Column("nav", sa.Double(), nullable=True),
        sa.Column("cash", sa.Double(), nullable=True),
        sa.Column("long_mv", sa.Double(), nullable=True),
        sa.Column("short_mv", sa.Double(), nullable=True),
        sa.Column("gross_exposure", sa.Double(), nullable=True),
        sa.Column("net_exposure", sa.Double(), nullable=True),
        sa.Column("daily_pnl", sa.Double(), nullable=True),
        sa.Column("daily_return", sa.Double(), nullable=True),
        sa.Column("hist_var_95", sa.Double(), nullable=True),
        sa.Column("hist_var_99", sa.Double(), nullable=True),
        sa.Column("cvar_95", sa.Double(), nullable=True),
        sa.Column("beta_spy", sa.Double(), nullable=True),
        sa.Column("document", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "warnings",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("as_of_date", sa.Date(), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["portfolio_id"],
            ["portfolio.id"],
            name=op.f("fk_portfolio_snapshot__portfolio_id__portfolio"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["flow_run.id"], name=op.f("fk_portfolio_snapshot__run_id__flow_run")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portfolio_snapshot")),
        sa.UniqueConstraint(
            "portfolio_id",
            "as_of_date",
            name=op.f("uq_portfolio_snapshot__portfolio_id_as_of_date"),
        ),
    )
    op.create_index(
        op.f("ix_portfolio_snapshot__run_id"), "portfolio_snapshot", ["run_id"], unique=False
    )
    op.create_index(
        "uq_portfolio_snapshot__current",
        "portfolio_snapshot",
        ["portfolio_id"],
        unique=True,
        postgresql_where=sa.text("is_current"),
    )
    op.create_table(
        "position",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("portfolio_id", sa.Integer(), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column(
            "position_type",
            sa.Enum("LONG", "SHORT", "LC", "LP", "SC", "SP", name="position_type"),
            nullable=False,
        ),
        sa.Column("quantity", sa.Numeric(precision=20, scale=8), nullable=False),
        sa.Column("entry_price", sa.Numeric(precision=20, scale=8), nullable=True),
        sa.Column("entry_date", sa.Date(), nullable=True),
        sa.Column("underlying", sa.String(length=32), nullable=True),
        sa.Column("strike", sa.Numeric(precision=20, scale=8), nullable=True),
        sa.Column("expiry_date", sa.Date(), nullable=True),
        sa.Column("option_right", sa.String(length=4), nullable=True),
        sa.Column("multiplier", sa.Integer(), nullable=True),
        sa.Column("implied_vol", sa.Double(), nullable=True),
        sa.Column("dividend_yield", sa.Double(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(position_type IN ('LONG', 'LC', 'LP') AND quantity > 0) OR (position_type IN ('SHORT', 'SC', 'SP') AND quantity < 0)",
            name=op.f("ck_position__sign_matches_type"),
        ),
        sa.CheckConstraint(
            "(position_type IN ('LONG', 'SHORT')) = (underlying IS NULL AND strike IS NULL AND expiry_date IS NULL AND option_right IS NULL AND multiplier IS NULL)",
            name=op.f("ck_position__option_fields_match_type"),
        ),
        sa.CheckConstraint(
            "option_right IS NULL OR option_right IN ('call', 'put')",
            name=op.f("ck_position__right"),
        ),
        sa.CheckConstraint("quantity <> 0", name=op.f("ck_position__nonzero_quantity")),
        sa.ForeignKeyConstraint(
            ["portfolio_id"],
            ["portfolio.id"],
            name=op.f("fk_position__portfolio_id__portfolio"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_position")),
        sa.UniqueConstraint(
            "portfolio_id", "symbol", name=op.f("uq_position__portfolio_id_symbol")
        ),
    )
    op.create_index(
        op.f("ix_position__portfolio_id_position_type"),
        "position",
        ["portfolio_id", "position_type"],
        unique=False,
    )
    op.create_index(op.f("ix_position__symbol"), "position", ["symbol"], unique=False)
    op.create_index(op.f("ix_position__underlying"), "position", ["underlying"], unique=False)
    op.create_table(
        "report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("portfolio_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("s3_key", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("as_of_date", sa.Date(), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["portfolio_id"],
            ["portfolio.id"],
            name=op.f("fk_report__portfolio_id__portfolio"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["flow_run.id"], name=op.f("fk_report__run_id__flow_run")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report")),
        sa.UniqueConstraint(
            "portfolio_id",
            "as_of_date",
            "kind",
            name=op.f("uq_report__portfolio_id_as_of_date_kind"),
        ),
    )
    op.create_index(op.f("ix_report__run_id"), "report", ["run_id"], unique=False)
    op.create_table(
        "stress_result",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("portfolio_id", sa.Integer(), nullable=False),
        sa.Column("scenario", sa.String(length=64), nullable=False),
        sa.Column("method", sa.String(length=24), server_default="linear", nullable=False),
        sa.Column("return_impact", sa.Double(), nullable=True),
        sa.Column("pnl", sa.Double(), nullable=True),
        sa.Column("as_of_date", sa.Date(), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["portfolio_id"],
            ["portfolio.id"],
            name=op.f("fk_stress_result__portfolio_id__portfolio"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["flow_run.id"], name=op.f("fk_stress_result__run_id__flow_run")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stress_result")),
        sa.UniqueConstraint(
            "portfolio_id",
            "as_of_date",
            "scenario",
            "method",
            name=op.f("uq_stress_result__portfolio_id_as_of_date_scenario_method"),
        ),
    )
    op.create_index(op.f("ix_stress_result__run_id"), "stress_result", ["run_id"], unique=False)
    op.create_table(
        "factor_exposure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("portfolio_id", sa.Integer(), nullable=False),
        sa.Column("position_id", sa.Integer(), nullable=True),
        sa.Column("factor_symbol", sa.String(length=32), nullable=False),
        sa.Column("beta", sa.Double(), nullable=True),
        sa.Column("exposure_usd", sa.Double(), nullable=True),
        sa.Column("window", sa.Integer(), nullable=False),
        sa.Column("n_obs", sa.Integer(), nullable=False),
        sa.Column("r2", sa.Double(), nullable=True),
        sa.Column("as_of_date", sa.Date(), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["portfolio_id"],
            ["portfolio.id"],
            name=op.f("fk_factor_exposure__portfolio_id__portfolio"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["position_id"],
            ["position.id"],
            name=op.f("fk_factor_exposure__position_id__position"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["flow_run.id"], name=op.f("fk_factor_exposure__run_id__flow_run")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_factor_exposure")),
        sa.UniqueConstraint(
            "portfolio_id",
            "position_id",
            "factor_symbol",
            "as_of_date",
            name=op.f("uq_factor_exposure__portfolio_id_position_id_factor_symbol_as_of_date"),
            postgresql_nulls_not_distinct=True,
        ),
    )
    op.create_index(
        op.f("ix_factor_exposure__position_id"), "factor_exposure", ["position_id"], unique=False
    )
    op.create_index(op.f("ix_factor_exposure__run_id"), "factor_exposure", ["run_id"], unique=False)
    op.create_table(
        "position_risk",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("portfolio_id", sa.Integer(), nullable=False),
        sa.Column("position_id", sa.Integer(), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("price", sa.Double(), nullable=True),
        sa.Column("market_value", sa.Double(), nullable=True),
        sa.Column("exposure", sa.Double(), nullable=True),
        sa.Column("weight", sa.Double(), nullable=True),
        sa.Column("daily_pnl", sa.Double(), nullable=True),
        sa.Column("delta", sa.Double(), nullable=True),
        sa.Column("gamma", sa.Double(), nullable=True),
        sa.Column("vega_per_1pct_vol", sa.Double(), nullable=True),
        sa.Column("theta_per_calendar_day", sa.Double(), nullable=True),
        sa.Column("rho_per_1pct_rate", sa.Double(), nullable=True),
        sa.Column("delta_dollars", sa.Double(), nullable=True),
        sa.Column("gamma_shares_per_1usd", sa.Double(), nullable=True),
        sa.Column("vega_usd_per_1pct_vol", sa.Double(), nullable=True),
        sa.Column("theta_usd_per_calendar_day", sa.Double(), nullable=True),
        sa.Column("rho_usd_per_1pct_rate", sa.Double(), nullable=True),
        sa.Column("as_of_date", sa.Date(), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["portfolio_id"],
            ["portfolio.id"],
            name=op.f("fk_position_risk__portfolio_id__portfolio"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["position_id"],
            ["position.id"],
            name=op.f("fk_position_risk__position_id__position"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["flow_run.id"], name=op.f("fk_position_risk__run_id__flow_run")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_position_risk")),
        sa.UniqueConstraint(
            "position_id", "as_of_date", name=op.f("uq_position_risk__position_id_as_of_date")
        ),
    )
    op.create_index(
        op.f("ix_position_risk__portfolio_id_as_of_date"),
        "position_risk",
        ["portfolio_id", "as_of_date"],
        unique=False,
    )
    op.create_index(op.f("ix_position_risk__run_id"), "position_risk", ["run_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_position_risk__run_id"), table_name="position_risk")
    op.drop_index(op.f("ix_position_risk__portfolio_id_as_of_date"), table_name="position_risk")
    op.drop_table("position_risk")
    op.drop_index(op.f("ix_factor_exposure__run_id"), table_name="factor_exposure")
    op.drop_index(op.f("ix_factor_exposure__position_id"), table_name="factor_exposure")
    op.drop_table("factor_exposure")
    op.drop_index(op.f("ix_stress_result__run_id"), table_name="stress_result")
    op.drop_table("stress_result")
    op.drop_index(op.f("ix_report__run_id"), table_name="report")
    op.drop_table("report")
    op.drop_index(op.f("ix_position__underlying"), table_name="position")
    op.drop_index(op.f("ix_position__symbol"), table_name="position")
    op.drop_index(op.f("ix_position__portfolio_id_position_type"), table_name="position")
    op.drop_table("position")
    op.drop_index(
        "uq_portfolio_snapshot__current",
        table_name="portfolio_snapshot",
        postgresql_where=sa.text("is_current"),
    )
    op.drop_index(op.f("ix_portfolio_snapshot__run_id"), table_name="portfolio_snapshot")
    op.drop_table("portfolio_snapshot")
    op.drop_index(op.f("ix_correlation_result__run_id"), table_name="correlation_result")
    op.drop_table("correlation_result")
    op.drop_index(op.f("ix_portfolio__owner_id"), table_name="portfolio")
    op.drop_table("portfolio")
    op.drop_index(op.f("ix_backup__status_as_of_date"), table_name="backup")
    op.drop_index(op.f("ix_backup__run_id"), table_name="backup")
    op.drop_table("backup")
    op.drop_table("stress_scenario")
    op.drop_table("security")
    op.drop_table("rate_observation")
    op.drop_index(op.f("ix_price_bar__price_date"), table_name="price_bar")
    op.drop_table("price_bar")
    op.drop_index(op.f("ix_flow_run__started_at"), table_name="flow_run")
    op.drop_index(op.f("ix_flow_run__flow_as_of_date"), table_name="flow_run")
    op.drop_table("flow_run")
    op.drop_table("factor")
    op.drop_table("app_user")
    sa.Enum(name="position_type").drop(op.get_bind(), checkfirst=True)
