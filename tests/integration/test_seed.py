"""`seed demo` against PostgreSQL: what it writes, idempotency, passwords and the CLI."""

import datetime as dt

from sqlalchemy import text

from cli.main import main
from sigmasight.demo import DEMO_PASSWORD, DEMO_USERS
from sigmasight.domain import DEFAULT_FACTORS
from sigmasight.runs.seed import seed_demo
from sigmasight.security import verify_password
from tests.dbstate import row_counts, table_digests

AS_OF = dt.date(2026, 11, 25)
PORTFOLIO_IDS = ("DEMO_INDIVIDUAL", "DEMO_HNW", "DEMO_HEDGE_FUND")


def options(engine):
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT p.symbol, p.position_type, p.expiry_date, p.underlying, p.multiplier, "
                "f.external_id FROM position p JOIN portfolio f ON f.id = p.portfolio_id "
                "WHERE p.underlying IS NOT NULL ORDER BY p.symbol"
            )
        ).all()


def test_seed_writes_the_demo_data(engine):
    result = seed_demo(AS_OF)
    assert (result.as_of, result.portfolios, result.positions) == (AS_OF, 3, 63)
    assert result.counts.changed > 0
    counts = row_counts(engine)
    assert counts["app_user"] == 3
    assert counts["portfolio"] == 3
    assert counts["position"] == 63
    assert counts["factor"] == 7
    assert counts["stress_scenario"] == 18
    with engine.connect() as conn:
        emails = conn.execute(text("SELECT email FROM app_user ORDER BY email")).scalars().all()
        portfolios = conn.execute(
            text("SELECT external_id, valuation_date FROM portfolio ORDER BY external_id")
        ).all()
        factors = conn.execute(text("SELECT symbol, name FROM factor ORDER BY display_order")).all()
        builtin = conn.execute(
            text("SELECT count(*) FROM stress_scenario WHERE is_builtin")
        ).scalar_one()
    assert emails == sorted(email for email, _ in DEMO_USERS)
    assert sorted(p.external_id for p in portfolios) == sorted(PORTFOLIO_IDS)
    assert all(p.valuation_date == AS_OF for p in portfolios)
    assert [tuple(f) for f in factors] == list(DEFAULT_FACTORS.items())
    assert builtin == 18


def test_option_positions_expire_after_as_of(engine):
    seed_demo(AS_OF)
    legs = options(engine)
    assert len(legs) == 8
    assert {leg.external_id for leg in legs} == {"DEMO_HEDGE_FUND"}
    assert all(leg.expiry_date > AS_OF for leg in legs)
    assert all(leg.multiplier == 100 and leg.symbol.startswith("O:") for leg in legs)
    assert {leg.position_type for leg in legs} <= {"LC", "LP", "SC", "SP"}


def test_reseeding_the_same_date_changes_nothing(engine):
    seed_demo(AS_OF)
    before = table_digests(engine)
    again = seed_demo(AS_OF)
    assert again.counts.changed == 0
    assert again.counts.inserted == {} and again.counts.updated == {} and again.counts.deleted == {}
    assert table_digests(engine) == before


def test_reseeding_a_later_date_keeps_stock_positions(engine):
    seed_demo(AS_OF)
    query = text("SELECT symbol, id FROM position WHERE underlying IS NULL")
    with engine.connect() as conn:
        stocks_before = dict(conn.execute(query).all())
    later = dt.date(2027, 3, 1)
    result = seed_demo(later)
    with engine.connect() as conn:
        stocks_after = dict(conn.execute(query).all())
    assert stocks_after == stocks_before
    assert result.counts.deleted == {"position": 8}
    assert all(leg.expiry_date > later for leg in options(engine))
    assert row_counts(engine)["position"] == 63


def test_demo_passwords_verify(engine):
    seed_demo(AS_OF)
    with engine.connect() as conn:
        hashes = dict(conn.execute(text("SELECT email, password_hash FROM app_user")).all())
    assert set(hashes) == {email for email, _ in DEMO_USERS}
    for stored in hashes.values():
        assert stored is not None and stored.startswith("$argon2id$")
        assert stored != DEMO_PASSWORD
        assert verify_password(stored, "demo12345")
        assert not verify_password(stored, "demo123456")


def test_cli_seed_is_idempotent(engine, capsys):
    assert main(["seed", "demo", "--as-of", "2026-11-25"]) == 0
    first = capsys.readouterr().out
    assert "demo seeded for 2026-11-25: 3 portfolios, 63 positions" in first
    assert "rows written" in first and "nothing changed" not in first
    before = table_digests(engine)
    assert main(["seed", "demo", "--as-of", "2026-11-25"]) == 0
    assert "nothing changed" in capsys.readouterr().out
    assert table_digests(engine) == before
