"""The Alembic history against a real PostgreSQL, run by a role that is not a superuser."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from models import Base
from sigmasight import db as sdb
from sigmasight import migrate


def test_round_trip_upgrade_downgrade_upgrade(empty_db_url):
    engine = sdb.get_engine()
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision()
    tables = set(inspect(engine).get_table_names())
    assert {t.name for t in Base.metadata.sorted_tables} <= tables

    migrate.downgrade(engine, "base")
    assert migrate.current_revision(engine) is None
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    with engine.connect() as conn:
        leftover_types = (
            conn.execute(
                text(
                    "SELECT typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
                    "WHERE n.nspname = 'public' AND t.typtype = 'e'"
                )
            )
            .scalars()
            .all()
        )
    assert leftover_types == []

    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision()


def test_models_and_migrations_agree(engine):
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    assert diff == []


def test_migrations_run_without_superuser(engine):
    with engine.connect() as conn:
        is_super = conn.execute(
            text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        ).scalar_one()
    assert is_super is False


def test_indexes_the_deployment_guide_asks_for(engine):
    insp = inspect(engine)

    def indexed(table: str, columns: list[str]) -> bool:
        candidates = insp.get_indexes(table) + [
            {"column_names": u["column_names"]} for u in insp.get_unique_constraints(table)
        ]
        pk = insp.get_pk_constraint(table)["constrained_columns"]
        candidates.append({"column_names": pk})
        return any(c["column_names"][: len(columns)] == columns for c in candidates)

    assert indexed("portfolio", ["owner_id"])
    assert indexed("position", ["portfolio_id"])
    assert indexed("position", ["symbol"])
    assert indexed("position", ["portfolio_id", "position_type"])
    assert indexed("portfolio_snapshot", ["portfolio_id", "as_of_date"])
    assert indexed("correlation_result", ["portfolio_id", "as_of_date"])
    current = [
        i
        for i in insp.get_indexes("portfolio_snapshot")
        if i["name"] == "uq_portfolio_snapshot__current"
    ]
    assert (
        current
        and current[0]["unique"]
        and "is_current" in current[0]["dialect_options"]["postgresql_where"]
    )
