"""Limits in (C31): the bundle's ``limits`` / ``default_limits`` and ``sigmasight limits``.

Bad input (a key that does not exist, a negative bound, a beta range with min > max) is a
one-line error naming the key, exit 2, and nothing written.
"""

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from cli.main import main
from sigmasight.db import session_scope
from sigmasight.repositories.limits import load_limit_book
from tests.dbstate import table_digests
from tests.integration.test_import_portfolios import example, write


def stored(engine) -> set[tuple[str | None, str, float | None, float, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT p.external_id, l.limit_key, l.min_value, l.max_value, l.source "
                "FROM risk_limit l LEFT JOIN portfolio p ON p.id = l.portfolio_id"
            )
        ).all()
    return {tuple(r) for r in rows}


def with_limits(own: Any = None, defaults: Any = None) -> dict[str, Any]:
    data = example()
    if own is not None:
        data["portfolios"][0]["limits"] = own
    if defaults is not None:
        data["default_limits"] = defaults
    return data


def test_bundle_limits_are_stored_replaced_and_left_alone_when_absent(engine, tmp_path, capsys):
    first = with_limits(
        own={"gross_leverage": 2.5, "beta_spy_150d": [0.5, 1.5]},
        defaults={"hist_var_95_fraction": 0.03, "gross_leverage": 2.0},
    )
    assert main(["import", "portfolios", str(write(tmp_path, "a.json", first))]) == 0
    assert stored(engine) == {
        ("LO_CORE", "gross_leverage", None, 2.5, "bundle"),
        ("LO_CORE", "beta_spy_150d", 0.5, 1.5, "bundle"),
        (None, "hist_var_95_fraction", None, 0.03, "bundle"),
        (None, "gross_leverage", None, 2.0, "bundle"),
    }
    with session_scope() as session:
        book = load_limit_book(session)
        pid = session.execute(text("SELECT id FROM portfolio")).scalar_one()
    assert book.for_portfolio(pid) == {
        "hist_var_95_fraction": 0.03,
        "gross_leverage": 2.5,  # its own replaces the default
        "beta_spy_150d": (0.5, 1.5),
    }
    # The same bundle again changes nothing.
    before = table_digests(engine)
    assert main(["import", "portfolios", str(write(tmp_path, "a.json", first))]) == 0
    assert "nothing changed" in capsys.readouterr().out
    assert table_digests(engine) == before
    # Without the keys, the stored limits stay.
    assert main(["import", "portfolios", str(write(tmp_path, "b.json", example()))]) == 0
    assert len(stored(engine)) == 4
    # Given, a set replaces the stored one (an empty object clears it).
    second = with_limits(own={"max_position_weight": 0.1}, defaults={})
    assert main(["import", "portfolios", str(write(tmp_path, "c.json", second))]) == 0
    assert stored(engine) == {("LO_CORE", "max_position_weight", None, 0.1, "bundle")}


BAD = [
    (
        with_limits(own={"gross_levrage": 2.5}),
        "bad.json: portfolios[0].limits.gross_levrage: unknown limit 'gross_levrage'",
    ),
    (
        with_limits(defaults={"max_position_weight": -0.1}),
        "bad.json: default_limits.max_position_weight: must be a number >= 0, got -0.1",
    ),
    (
        with_limits(own={"beta_spy_150d": [1.5, 0.5]}),
        "bad.json: portfolios[0].limits.beta_spy_150d: min 1.5 is above max 0.5",
    ),
    (
        with_limits(own={"beta_spy_150d": 1.2}),
        "bad.json: portfolios[0].limits.beta_spy_150d: must be a range [min, max] of two numbers",
    ),
    (
        with_limits(defaults={"gross_leverage": "2.5"}),
        'bad.json: default_limits.gross_leverage: must be a number >= 0, got "2.5"',
    ),
    (with_limits(own=[1, 2]), "bad.json: portfolios[0].limits: must be an object limit -> bound"),
]


@pytest.mark.parametrize(("data", "message"), BAD)
def test_bad_bundle_limits_exit_2_and_write_nothing(engine, tmp_path, capsys, data, message):
    assert main(["import", "portfolios", str(write(tmp_path, "good.json", example()))]) == 0
    capsys.readouterr()
    before = table_digests(engine)
    assert main(["import", "portfolios", str(write(tmp_path, "bad.json", data))]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"sigmasight: error: {message}"), err
    assert err.count("\n") == 1  # one line
    assert table_digests(engine) == before


def test_limits_set_list_unset(engine, tmp_path, capsys):
    assert main(["import", "portfolios", str(write(tmp_path, "good.json", example()))]) == 0
    capsys.readouterr()
    assert main(["limits", "set", "--default", "gross_leverage", "2"]) == 0
    assert main(["limits", "set", "--default", "beta_spy_150d", "-0.2", "1.4"]) == 0
    assert main(["limits", "set", "--portfolio", "LO_CORE", "gross_leverage", "3"]) == 0
    out = capsys.readouterr().out
    assert "LO_CORE gross_leverage 3: set" in out
    assert stored(engine) == {
        (None, "gross_leverage", None, 2.0, "cli"),
        (None, "beta_spy_150d", -0.2, 1.4, "cli"),
        ("LO_CORE", "gross_leverage", None, 3.0, "cli"),
    }
    before = table_digests(engine)
    assert main(["limits", "set", "--portfolio", "LO_CORE", "gross_leverage", "3"]) == 0
    assert "unchanged" in capsys.readouterr().out
    assert table_digests(engine) == before

    assert main(["limits", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    assert [line.split()[:2] for line in lines] == [
        ["(default)", "gross_leverage"],
        ["(default)", "beta_spy_150d"],
        ["LO_CORE", "gross_leverage"],
    ]
    assert "[-0.2, 1.4]" in lines[1] and lines[2].split()[2] == "3"
    # In effect for LO_CORE: its own gross leverage, the default beta range.
    assert main(["limits", "list", "--portfolio", "LO_CORE"]) == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    assert [line.split()[:2] for line in lines] == [
        ["(default)", "beta_spy_150d"],
        ["LO_CORE", "gross_leverage"],
    ]
    assert main(["limits", "unset", "--portfolio", "LO_CORE", "gross_leverage"]) == 0
    assert "removed" in capsys.readouterr().out
    assert main(["limits", "unset", "--portfolio", "LO_CORE", "gross_leverage"]) == 0
    assert "was not set" in capsys.readouterr().out
    assert ("LO_CORE", "gross_leverage", None, 3.0, "cli") not in stored(engine)
    assert len(stored(engine)) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["set", "--default", "gross_levrage", "2"], "unknown limit 'gross_levrage'"),
        (["set", "--default", "gross_leverage", "-1"], "gross_leverage: must be a number >= 0"),
        (
            ["set", "--default", "beta_spy_150d", "1.5", "0.5"],
            "beta_spy_150d: min 1.5 is above max 0.5",
        ),
        (
            ["set", "--default", "beta_spy_150d", "1.5"],
            "beta_spy_150d is a range: give its MIN and MAX",
        ),
        (["set", "--default", "net_leverage", "1", "2"], "net_leverage takes one bound"),
        (["set", "--default", "net_leverage", "abc"], "net_leverage: 'abc' is not a number"),
        (["set", "--default", "net_leverage", "nan"], "net_leverage: must be a finite number"),
        (
            ["set", "--portfolio", "NOPE", "net_leverage", "1"],
            "--portfolio NOPE: no such portfolio",
        ),
        (["unset", "--default", "nope"], "unknown limit 'nope'"),
        (["list", "--portfolio", "NOPE"], "--portfolio NOPE: no such portfolio"),
    ],
)
def test_bad_limit_commands_exit_2_and_write_nothing(engine, tmp_path, capsys, args, message):
    assert main(["import", "portfolios", str(write(tmp_path, "good.json", example()))]) == 0
    assert main(["limits", "set", "--default", "gross_leverage", "2"]) == 0
    capsys.readouterr()
    before = table_digests(engine)
    assert main(["limits", *args]) == 2
    err = capsys.readouterr().err
    assert err == f"sigmasight: error: {err.removeprefix('sigmasight: error: ')}"
    assert message in err and err.count("\n") == 1, err
    assert table_digests(engine) == before


def test_limits_go_with_their_portfolio(engine, tmp_path):
    data = with_limits(own={"gross_leverage": 2.5}, defaults={"gross_leverage": 2.0})
    path: Path = write(tmp_path, "a.json", data)
    assert main(["import", "portfolios", str(path)]) == 0
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM position"))
        conn.execute(text("DELETE FROM portfolio_book"))
        conn.execute(text("DELETE FROM portfolio"))
    assert stored(engine) == {(None, "gross_leverage", None, 2.0, "bundle")}


def test_the_table_refuses_bad_bounds_written_around_the_importers(engine):
    for row in (
        "(NULL, 'gross_leverage', NULL, -1, 'sql')",
        "(NULL, 'beta_spy_150d', 1.5, 0.5, 'sql')",
        "(NULL, 'beta_spy_150d', NULL, 0.5, 'sql')",
        "(NULL, 'no_such_key', NULL, 1, 'sql')",
    ):
        with pytest.raises(Exception, match="check constraint"), engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO risk_limit (portfolio_id, limit_key, min_value, max_value, source) "
                    f"VALUES {row}"
                )
            )
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO risk_limit (portfolio_id, limit_key, max_value, source) "
                "VALUES (NULL, 'gross_leverage', 1, 'sql')"
            )
        )
    with pytest.raises(Exception, match="duplicate key"), engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO risk_limit (portfolio_id, limit_key, max_value, source) "
                "VALUES (NULL, 'gross_leverage', 2, 'sql')"
            )
        )
    assert stored(engine) == {(None, "gross_leverage", None, 1.0, "sql")}
