"""`import portfolios` end to end against PostgreSQL: the FORMATS.md example, re-imports,
scenario replacement and rejections."""

import copy
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from cli.main import main
from sigmasight.domain import InputError
from sigmasight.runs.imports import import_bundle_file
from sigmasight.stress_library import BUILTIN_SCENARIOS
from tests.dbstate import row_counts, table_digests

TODAY = dt.date(2025, 1, 3)
OPTION = "O:SPY251219C00600000"
FACTORS = ("SPY", "VTV", "VUG", "MTUM", "QUAL", "IWM", "USMV")

#: The example of FORMATS.md section 4, verbatim.
EXAMPLE = """{
  "valuation_date": "2025-01-02",
  "risk_free_rate": 0.043,
  "benchmark": "SPY",
  "factor_etfs": {"SPY": "Market", "VTV": "Value", "VUG": "Growth", "MTUM": "Momentum",
                  "QUAL": "Quality", "IWM": "Size", "USMV": "LowVol"},
  "securities": {"AAPL": {"asset_type": "stock", "sector": "Technology", "industry": "Consumer Electronics",
                          "market_cap": 3.67e12}},
  "portfolios": [
    {"id": "LO_CORE", "name": "Core long-only", "owner": "demo@example.com", "cash": 42000.0,
     "positions": [
       {"symbol": "AAPL", "quantity": 3000},
       {"symbol": "O:SPY251219C00600000", "quantity": 20,
        "option": {"underlying": "SPY", "type": "call", "strike": 600.0, "expiry": "2025-12-19",
                   "multiplier": 100, "implied_vol": 0.165, "dividend_yield": 0.0125}}
     ]}
  ],
  "stress_scenarios": {"equity_crash": {"SPY": -0.10, "VTV": -0.09, "VUG": -0.12, "MTUM": -0.11,
                                        "QUAL": -0.09, "IWM": -0.13, "USMV": -0.07}}
}
"""


def example() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(EXAMPLE)
    return data


def write(tmp_path: Path, name: str, content: str | dict[str, Any]) -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def positions(engine):
    with engine.connect() as conn:
        return {
            row.symbol: row
            for row in conn.execute(
                text(
                    "SELECT p.id, p.symbol, p.position_type, p.quantity, p.underlying, p.strike, "
                    "p.expiry_date, p.option_right, p.multiplier, p.implied_vol, p.dividend_yield "
                    "FROM position p JOIN portfolio f ON f.id = p.portfolio_id "
                    "WHERE f.external_id = 'LO_CORE'"
                )
            ).all()
        }


def scenarios(engine):
    with engine.connect() as conn:
        return {
            row.name: row
            for row in conn.execute(
                text(
                    "SELECT name, category, shocks, rate_shock_pp, is_builtin FROM stress_scenario"
                )
            ).all()
        }


def flow_runs(engine) -> int:
    with engine.connect() as conn:
        count: int = conn.execute(
            text("SELECT count(*) FROM flow_run WHERE flow = 'import-portfolios'")
        ).scalar_one()
    return count


def test_example_bundle_is_stored(engine, tmp_path):
    result = import_bundle_file(write(tmp_path, "bundle.json", EXAMPLE), today=TODAY)
    assert not result.unchanged and result.rows == 2
    assert result.details == {"portfolios": 1}
    with engine.connect() as conn:
        portfolio = conn.execute(
            text(
                "SELECT f.name, f.cash, f.benchmark, f.risk_free_rate, f.valuation_date, "
                "f.base_currency, u.email, u.password_hash "
                "FROM portfolio f JOIN app_user u ON u.id = f.owner_id "
                "WHERE f.external_id = 'LO_CORE'"
            )
        ).one()
        security = conn.execute(
            text(
                "SELECT asset_type, sector, industry, market_cap FROM security WHERE symbol='AAPL'"
            )
        ).one()
        run = conn.execute(text("SELECT flow, status, counts FROM flow_run")).one()
    assert portfolio.name == "Core long-only" and portfolio.cash == Decimal("42000")
    assert portfolio.benchmark == "SPY" and portfolio.risk_free_rate == 0.043
    assert portfolio.valuation_date == dt.date(2025, 1, 2) and portfolio.base_currency == "USD"
    assert portfolio.email == "demo@example.com" and portfolio.password_hash is None
    assert tuple(security) == ("stock", "Technology", "Consumer Electronics", 3.67e12)
    assert run.flow == "import-portfolios" and run.status == "succeeded"
    assert run.counts["inserted"]["position"] == 2

    book = positions(engine)
    assert set(book) == {"AAPL", OPTION}
    stock = book["AAPL"]
    assert stock.position_type == "LONG" and stock.quantity == 3000
    assert stock.underlying is None and stock.strike is None and stock.multiplier is None
    option = book[OPTION]
    assert option.position_type == "LC" and option.quantity == 20
    assert option.underlying == "SPY" and option.strike == 600 and option.multiplier == 100
    assert option.implied_vol == 0.165 and option.dividend_yield == 0.0125
    assert option.expiry_date == dt.date(2025, 12, 19) and option.option_right == "call"


def test_bundle_scenario_is_added_to_the_builtin_library(engine, tmp_path):
    import_bundle_file(write(tmp_path, "bundle.json", EXAMPLE), today=TODAY)
    stored = scenarios(engine)
    assert len(stored) == 19
    assert {name for name, row in stored.items() if row.is_builtin} == {
        s.name for s in BUILTIN_SCENARIOS
    }
    crash = stored["equity_crash"]
    assert not crash.is_builtin and crash.category == "custom" and crash.rate_shock_pp == 0
    assert crash.shocks == example()["stress_scenarios"]["equity_crash"]
    with engine.connect() as conn:
        factors = conn.execute(text("SELECT symbol FROM factor ORDER BY display_order")).all()
    assert tuple(f.symbol for f in factors) == FACTORS


def test_reimport_changes_nothing(engine, tmp_path):
    path = write(tmp_path, "bundle.json", EXAMPLE)
    import_bundle_file(path, today=TODAY)
    before = table_digests(engine)
    again = import_bundle_file(path, today=TODAY)
    assert again.unchanged and again.run_id is None
    assert (again.inserted, again.updated) == (0, 0)
    assert table_digests(engine) == before
    assert flow_runs(engine) == 1


def test_reimport_without_a_position_deletes_only_that_one(engine, tmp_path):
    import_bundle_file(write(tmp_path, "a.json", EXAMPLE), today=TODAY)
    option_id = positions(engine)[OPTION].id
    smaller = example()
    del smaller["portfolios"][0]["positions"][0]
    result = import_bundle_file(write(tmp_path, "b.json", smaller), today=TODAY)
    assert not result.unchanged and (result.inserted, result.updated) == (0, 1)
    book = positions(engine)
    assert set(book) == {OPTION}
    assert book[OPTION].id == option_id
    assert row_counts(engine)["position"] == 1
    assert flow_runs(engine) == 2


def test_changed_quantity_updates_in_place(engine, tmp_path):
    import_bundle_file(write(tmp_path, "a.json", EXAMPLE), today=TODAY)
    ids = {symbol: row.id for symbol, row in positions(engine).items()}
    changed = example()
    changed["portfolios"][0]["positions"][0]["quantity"] = -500
    result = import_bundle_file(write(tmp_path, "b.json", changed), today=TODAY)
    assert (result.inserted, result.updated) == (0, 1)
    book = positions(engine)
    assert {symbol: row.id for symbol, row in book.items()} == ids
    assert book["AAPL"].quantity == -500 and book["AAPL"].position_type == "SHORT"


def test_bundle_scenario_replaces_a_builtin_one(engine, tmp_path):
    assert any(s.name == "market_down_10" for s in BUILTIN_SCENARIOS)
    shocks = {"SPY": -0.2, "VTV": -0.1, "VUG": -0.3, "MTUM": 0, "QUAL": 0, "IWM": 0, "USMV": 0.01}
    bundle = example()
    bundle["stress_scenarios"] = {"market_down_10": shocks}
    path = write(tmp_path, "bundle.json", bundle)
    import_bundle_file(path, today=TODAY)
    stored = scenarios(engine)
    assert len(stored) == 18
    replaced = stored["market_down_10"]
    assert replaced.shocks == shocks and not replaced.is_builtin and replaced.category == "custom"
    assert sum(row.is_builtin for row in stored.values()) == 17
    # Importing again does not bring the built-in version back.
    before = table_digests(engine)
    assert import_bundle_file(path, today=TODAY).unchanged
    assert table_digests(engine) == before


def _missing_factor(data: dict[str, Any]) -> None:
    del data["stress_scenarios"]["equity_crash"]["USMV"]


def _zero_quantity(data: dict[str, Any]) -> None:
    data["portfolios"][0]["positions"][0]["quantity"] = 0


def _duplicate_portfolio(data: dict[str, Any]) -> None:
    data["portfolios"].append(copy.deepcopy(data["portfolios"][0]))


def _expired_option(data: dict[str, Any]) -> None:
    data["portfolios"][0]["positions"][1]["option"]["expiry"] = "2024-12-20"


def _mismatched_strike(data: dict[str, Any]) -> None:
    data["portfolios"][0]["positions"][1]["option"]["strike"] = 650


BAD = [
    (
        _missing_factor,
        "bad.json: stress_scenarios.equity_crash: scenario 'equity_crash' has no shock for "
        "factor(s) USMV",
    ),
    (
        _zero_quantity,
        "bad.json: portfolios[0].positions[0].quantity: must be a non-zero number, got 0",
    ),
    (_duplicate_portfolio, "bad.json: portfolios[1].id: duplicate portfolio id 'LO_CORE'"),
    (_expired_option, "bad.json: portfolios[0].positions[1].option.expiry: the option expired"),
    (_mismatched_strike, "bad.json: portfolios[0].positions[1].option.strike: 650"),
]


@pytest.mark.parametrize(("mutate", "message"), BAD, ids=[f.__name__.strip("_") for f, _ in BAD])
def test_bad_bundles_are_rejected_and_nothing_is_written(engine, tmp_path, mutate, message):
    data = example()
    mutate(data)
    path = write(tmp_path, "bad.json", data)
    before = row_counts(engine)
    with pytest.raises(InputError) as err:
        import_bundle_file(path, today=TODAY)
    assert message in str(err.value)
    assert row_counts(engine) == before


def test_invalid_json_is_rejected(engine, tmp_path):
    path = write(tmp_path, "bad.json", EXAMPLE.replace('"cash": 42000.0,', '"cash": 42000.0,,'))
    with pytest.raises(InputError) as err:
        import_bundle_file(path, today=TODAY)
    assert str(err.value).startswith("bad.json line 10: not valid JSON")
    assert sum(row_counts(engine).values()) == 0


def test_bad_bundle_over_existing_data_changes_nothing(engine, tmp_path):
    import_bundle_file(write(tmp_path, "good.json", EXAMPLE), today=TODAY)
    before = table_digests(engine)
    data = example()
    del data["portfolios"][0]["positions"][0]
    _zero_quantity(data)
    with pytest.raises(InputError) as err:
        import_bundle_file(write(tmp_path, "bad.json", data), today=TODAY)
    assert "portfolios[0].positions[0].quantity" in str(err.value)
    assert table_digests(engine) == before


def test_cli_exit_codes_and_messages(engine, tmp_path, capsys):
    good = write(tmp_path, "good.json", EXAMPLE)
    assert main(["import", "portfolios", str(good)]) == 0
    assert "2 rows validated; " in capsys.readouterr().out
    assert main(["import", "portfolios", str(good)]) == 0
    assert "nothing changed" in capsys.readouterr().out
    data = example()
    _duplicate_portfolio(data)
    before = table_digests(engine)
    bad = write(tmp_path, "bad.json", data)
    assert main(["import", "portfolios", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "sigmasight: error: bad.json: portfolios[1].id: duplicate portfolio id 'LO_CORE'"
    )
    assert table_digests(engine) == before
    assert main(["import", "portfolios", str(tmp_path / "missing.json")]) == 2
    assert "missing.json: no such file" in capsys.readouterr().err


def test_empty_book_removes_every_position(engine, tmp_path):
    import_bundle_file(write(tmp_path, "a.json", EXAMPLE), today=TODAY)
    cash_only = example()
    cash_only["portfolios"][0]["positions"] = []
    result = import_bundle_file(write(tmp_path, "b.json", cash_only), today=TODAY)
    assert result.rows == 0 and result.updated == 2
    assert row_counts(engine)["position"] == 0
    assert row_counts(engine)["portfolio"] == 1


def _variant(change) -> str:
    data = example()
    change(data)
    return json.dumps(data)


HOSTILE = [
    (
        lambda: _variant(lambda d: d["portfolios"][0].update(name="a\u0000b")),
        "portfolios[0].name: contains a NUL character",
    ),
    (
        lambda: EXAMPLE.replace('"Core long-only"', '"\\ud800"'),
        "portfolios[0].name: contains a lone surrogate",
    ),
    (lambda: "[" * 100_000 + "]" * 100_000, "JSON nested too deeply"),
    (
        lambda: EXAMPLE.replace('"cash": 42000.0', '"cash": ' + "9" * 5001),
        "not a usable JSON number",
    ),
    (
        lambda: _variant(
            lambda d: d["portfolios"][0]["positions"][1]["option"].update(multiplier=3_000_000_001)
        ),
        "multiplier: must be a positive integer up to 1,000,000",
    ),
    (
        lambda: _variant(lambda d: d["portfolios"][0]["positions"][0].update(quantity=1e-9)),
        "portfolios[0].positions[0].quantity: 1e-09 has more than 8 decimal places",
    ),
    (
        lambda: _variant(lambda d: d["stress_scenarios"]["equity_crash"].update(SPY=1e300)),
        "stress_scenarios.equity_crash.SPY: must be a simple return in (-1, 10]",
    ),
]


@pytest.mark.parametrize(
    ("make", "message"),
    HOSTILE,
    ids=["NUL", "surrogate", "deep", "5001 digits", "multiplier", "1e-9", "shock 1e300"],
)
def test_hostile_bundles_are_one_line_errors_and_write_nothing(
    engine, tmp_path, make, message, capsys
):
    path = write(tmp_path, "bundle.json", make())
    before = table_digests(engine)
    assert main(["import", "portfolios", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert "Traceback" not in err
    assert table_digests(engine) == before


def test_a_bundle_may_swap_factor_names(engine, tmp_path):
    """Unique names are checked row by row; a swap used to fail half way with a traceback."""
    import_bundle_file(write(tmp_path, "a.json", EXAMPLE), today=TODAY)
    swapped = example()
    swapped["factor_etfs"]["SPY"], swapped["factor_etfs"]["VTV"] = "Value", "Market"
    import_bundle_file(write(tmp_path, "b.json", swapped), today=TODAY)
    with engine.connect() as conn:
        names = dict(conn.execute(text("SELECT symbol, name FROM factor")).all())
    assert names["SPY"] == "Value" and names["VTV"] == "Market"
    before = table_digests(engine)
    import_bundle_file(write(tmp_path, "c.json", swapped), today=TODAY)  # and again: no change
    assert table_digests(engine) == before
