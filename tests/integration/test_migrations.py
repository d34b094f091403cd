"""The Alembic history against a real PostgreSQL, run by a role that is not a superuser."""

import datetime as dt
import json

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


def test_dated_books_migration_keeps_every_position(empty_db_url):
    """0009: today's positions become the book of their portfolio's valuation_date, losslessly."""
    engine = sdb.get_engine()
    migrate.upgrade(engine, "0008")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO app_user (id, email) VALUES (1, 'a@example.com')"))
        conn.execute(
            text(
                "INSERT INTO portfolio (id, external_id, owner_id, name, cash, valuation_date) "
                "VALUES (1, 'DATED', 1, 'd', 1234.5, '2025-01-02'), "
                "(2, 'UNDATED', 1, 'u', 99, NULL)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO position (portfolio_id, symbol, position_type, quantity, entry_price) "
                "VALUES (1, 'AAPL', 'LONG', 10, 150), (1, 'MSFT', 'SHORT', -5, NULL), "
                "(2, 'SPY', 'LONG', 3, NULL)"
            )
        )
    migrate.upgrade(engine)
    with engine.connect() as conn:
        books = conn.execute(
            text("SELECT portfolio_id, book_date, cash FROM portfolio_book ORDER BY 1")
        ).all()
        positions = conn.execute(
            text(
                "SELECT portfolio_id, book_date, symbol, quantity, entry_price FROM position "
                "ORDER BY 1, 3"
            )
        ).all()
    undated = dt.date(1900, 1, 1)
    assert [(p, d, float(c)) for p, d, c in books] == [
        (1, dt.date(2025, 1, 2), 1234.5),
        (2, undated, 99.0),
    ]
    assert [
        (p, d, s, float(q), None if e is None else float(e)) for p, d, s, q, e in positions
    ] == [
        (1, dt.date(2025, 1, 2), "AAPL", 10.0, 150.0),
        (1, dt.date(2025, 1, 2), "MSFT", -5.0, None),
        (2, undated, "SPY", 3.0, None),
    ]
    # And back: the single book per portfolio survives a downgrade.
    migrate.downgrade(engine, "0008")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM position")).scalar_one() == 3


def test_detail_arrays_migration_keeps_every_value(empty_db_url):
    """0013: correlation and factor-beta JSON become typed arrays and back, value for value."""
    engine = sdb.get_engine()
    migrate.upgrade(engine, "0012")
    run = "00000000-0000-0000-0000-000000000013"
    matrix = [[1.0, 0.1 + 0.2, None], [0.30000000000000004, 1.0, -1e-300], [None, -1e-300, 1.0]]
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO app_user (id, email) VALUES (1, 'a@example.com')"))
        conn.execute(
            text(
                "INSERT INTO portfolio (id, external_id, owner_id, name) "
                "VALUES (1, 'KEEP', 1, 'k'), (2, 'GONE', 1, 'g')"
            )
        )
        conn.execute(text(f"INSERT INTO flow_run (id, flow) VALUES ('{run}', 'nightly-risk')"))
        for pid in (1, 2):
            conn.execute(
                text(
                    "INSERT INTO correlation_result (portfolio_id, as_of_date, run_id, symbols, "
                    "matrix, min_overlap, clusters) VALUES (:p, '2026-12-02', :r, "
                    '\'["B", "A", "C"]\', cast(:m AS jsonb), 60, \'[]\'), '
                    "(:p, '2026-12-01', :r, '[]', '[]', 60, '[]')"
                ),
                {"p": pid, "r": run, "m": json.dumps(matrix)},
            )
            conn.execute(
                text(
                    "INSERT INTO position_risk (portfolio_id, as_of_date, run_id, symbol, "
                    "factor_betas) VALUES (:p, '2026-12-02', :r, 'A', "
                    '\'{"SPY": 1.25, "QQQ": null, "IWM": -5e-324}\'), '
                    "(:p, '2026-12-02', :r, 'B', NULL)"
                ),
                {"p": pid, "r": run},
            )
    migrate.upgrade(engine)
    with engine.begin() as conn:
        stored = conn.execute(
            text(
                "SELECT as_of_date, symbols, matrix FROM correlation_result "
                "WHERE portfolio_id = 1 ORDER BY 1"
            )
        ).all()
        betas = conn.execute(
            text(
                "SELECT symbol, factor_symbols, factor_betas FROM position_risk "
                "WHERE portfolio_id = 1 ORDER BY 1"
            )
        ).all()
        conn.execute(text("DELETE FROM portfolio WHERE id = 2"))
        left = {
            table: conn.execute(text(f"SELECT DISTINCT portfolio_id FROM {table}")).scalars().all()
            for table in ("correlation_result", "position_risk")
        }
    assert [tuple(r) for r in stored] == [
        (dt.date(2026, 12, 1), [], []),
        (dt.date(2026, 12, 2), ["B", "A", "C"], matrix),
    ]
    assert [tuple(r) for r in betas] == [
        ("A", ["IWM", "QQQ", "SPY"], [-5e-324, None, 1.25]),
        ("B", None, None),
    ]
    # The trigger that replaced the foreign keys' cascade.
    assert left == {"correlation_result": [1], "position_risk": [1]}

    migrate.downgrade(engine, "0012")
    with engine.connect() as conn:
        back = conn.execute(
            text(
                "SELECT symbols, matrix FROM correlation_result WHERE portfolio_id = 1 "
                "ORDER BY as_of_date"
            )
        ).all()
        betas_back = (
            conn.execute(
                text(
                    "SELECT factor_betas FROM position_risk WHERE portfolio_id = 1 ORDER BY symbol"
                )
            )
            .scalars()
            .all()
        )
    assert [tuple(r) for r in back] == [([], []), (["B", "A", "C"], matrix)]
    assert betas_back == [{"SPY": 1.25, "QQQ": None, "IWM": -5e-324}, None]
