"""`seed demo` against PostgreSQL: what it writes, idempotency, passwords and the CLI."""

import datetime as dt

from sqlalchemy import text

from cli.main import main
from sigmasight.demo import DEMO_PASSWORD, DEMO_USERS, demo_seed, demo_sessions
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


def test_reseeding_a_later_date_adds_its_book_and_keeps_the_earlier_one(engine):
    seed_demo(AS_OF)
    query = text("SELECT book_date, symbol, id, quantity, expiry_date FROM position ORDER BY 1, 2")
    with engine.connect() as conn:
        before = [tuple(r) for r in conn.execute(query)]
    later = dt.date(2027, 3, 1)
    result = seed_demo(later)
    with engine.connect() as conn:
        after = [tuple(r) for r in conn.execute(query)]
    # Books of other dates stay as they are (RISK-CONVENTIONS C15).
    assert [r for r in after if r[0] == AS_OF] == before
    assert result.counts.deleted == {}
    assert len([r for r in after if r[0] == later]) == 63
    new_legs = [r for r in after if r[0] == later and r[4] is not None]
    assert len(new_legs) == 8 and all(r[4] > later for r in new_legs)
    assert row_counts(engine)["position"] == 126


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


def _events(engine):
    with engine.connect() as conn:
        trades = conn.execute(
            text(
                "SELECT f.external_id, t.trade_date, t.symbol, t.quantity, t.price FROM trade t "
                "JOIN portfolio f ON f.id = t.portfolio_id ORDER BY 1, 2, 3"
            )
        ).all()
        flows = conn.execute(
            text(
                "SELECT f.external_id, c.flow_date, c.amount FROM cash_flow c "
                "JOIN portfolio f ON f.id = c.portfolio_id ORDER BY 1, 2"
            )
        ).all()
    return [tuple(t) for t in trades], [tuple(c) for c in flows]


def _as_rows(seed):
    trades = sorted((t.portfolio, t.trade_date, t.symbol, t.quantity, t.price) for t in seed.trades)
    flows = sorted((f.portfolio, f.flow_date, f.amount) for f in seed.cash_flows)
    return trades, flows


def test_seed_with_history_writes_dated_books_trades_and_flows(engine):
    result = seed_demo(AS_OF, history=True)
    first = demo_sessions(AS_OF)[0]
    assert (result.book_date, result.trades, result.cash_flows) == (first, 10, 3)
    assert result.counts.inserted["trade"] == 10 and result.counts.inserted["cash_flow"] == 3
    assert _events(engine) == _as_rows(demo_seed(AS_OF, history=True))
    with engine.connect() as conn:
        books = conn.execute(text("SELECT DISTINCT book_date FROM portfolio_book")).scalars().all()
        dates = conn.execute(text("SELECT DISTINCT valuation_date FROM portfolio")).scalars().all()
        costs = conn.execute(
            text("SELECT count(*) FROM position WHERE entry_price IS NULL")
        ).scalar_one()
    assert books == [first] and dates == [first]
    assert costs == 0

    before = table_digests(engine)
    again = seed_demo(AS_OF, history=True)
    assert again.counts.changed == 0
    assert table_digests(engine) == before


def test_seeding_history_for_a_later_date_replaces_the_events_after_its_books(engine):
    seed_demo(AS_OF, history=True)
    old_trades, old_flows = _events(engine)
    later = AS_OF + dt.timedelta(days=35)
    later_seed = demo_seed(later, history=True)
    new_first = demo_sessions(later)[0]
    assert demo_sessions(AS_OF)[0] < new_first < AS_OF  # its books fall inside the first history
    seed_demo(later, history=True)
    trades, flows = _events(engine)
    new_trades, new_flows = _as_rows(later_seed)
    # Events before the new books stay (older results stay reproducible); after them, the
    # new seed's alone: no second deposit on top of the new book.
    assert trades == sorted([t for t in old_trades if t[1] <= new_first] + new_trades)
    assert flows == sorted([f for f in old_flows if f[1] <= new_first] + new_flows)
    assert [f for f in flows if f[1] > new_first] == new_flows
    with engine.connect() as conn:
        books = (
            conn.execute(text("SELECT DISTINCT book_date FROM portfolio_book ORDER BY 1"))
            .scalars()
            .all()
        )
    assert books == [demo_sessions(AS_OF)[0], new_first]


def test_cli_seed_history(engine, capsys):
    assert main(["seed", "demo", "--as-of", "2026-11-25", "--history"]) == 0
    out = capsys.readouterr().out
    first = demo_sessions(AS_OF)[0]
    assert f"(books of {first}, 10 trades, 3 cash flows)" in out
