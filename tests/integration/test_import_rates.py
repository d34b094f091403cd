"""`import rates` end to end against PostgreSQL: FRED's '.', idempotency, rejections, CLI."""

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import text

from cli.main import main
from sigmasight.domain import InputError
from sigmasight.runs.imports import import_rates_file
from tests.dbstate import row_counts, table_digests

TODAY = dt.date(2024, 1, 31)

RATES = """date,value
2024-01-02,3.95
2024-01-03,3.91
2024-01-04,.
2024-01-05,4.05
"""


def write(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content)
    return path


def observations(engine):
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT series_id, obs_date, value_pct, source, run_id::text AS run_id "
                "FROM rate_observation ORDER BY series_id, obs_date"
            )
        ).all()


def test_rates_are_stored_without_missing_values(engine, tmp_path):
    result = import_rates_file(write(tmp_path, "dgs10.csv", RATES), series="DGS10", today=TODAY)
    assert (result.rows, result.inserted, result.updated) == (3, 3, 0)
    rows = observations(engine)
    assert [(r.series_id, r.obs_date, r.value_pct, r.source) for r in rows] == [
        ("DGS10", dt.date(2024, 1, 2), 3.95, "csv"),
        ("DGS10", dt.date(2024, 1, 3), 3.91, "csv"),
        ("DGS10", dt.date(2024, 1, 5), 4.05, "csv"),
    ]
    with engine.connect() as conn:
        run = conn.execute(text("SELECT id::text AS id, flow, status, counts FROM flow_run")).one()
    assert run.flow == "import-rates" and run.status == "succeeded"
    assert run.counts["inserted"] == 3 and run.id == result.run_id
    assert {r.run_id for r in rows} == {result.run_id}


def test_fred_download_header_and_lower_case_series(engine, tmp_path):
    content = "observation_date,DGS10\n2024-01-02,3.95\n2024-01-03,\n"
    result = import_rates_file(write(tmp_path, "fred.csv", content), series="dgs10", today=TODAY)
    assert result.rows == 1
    assert [(r.series_id, r.value_pct) for r in observations(engine)] == [("DGS10", 3.95)]


def test_reimport_changes_nothing(engine, tmp_path):
    path = write(tmp_path, "dgs10.csv", RATES)
    import_rates_file(path, series="DGS10", today=TODAY)
    before = table_digests(engine)
    again = import_rates_file(path, series="DGS10", today=TODAY)
    assert again.unchanged and (again.inserted, again.updated) == (0, 0)
    assert table_digests(engine) == before


def test_changed_values_update_only_those_rows(engine, tmp_path):
    first = import_rates_file(write(tmp_path, "a.csv", RATES), series="DGS10", today=TODAY)
    changed = RATES.replace("2024-01-03,3.91", "2024-01-03,3.93") + "2024-01-08,4.01\n"
    second = import_rates_file(write(tmp_path, "b.csv", changed), series="DGS10", today=TODAY)
    assert (second.inserted, second.updated) == (1, 1)
    rows = {r.obs_date: r for r in observations(engine)}
    assert rows[dt.date(2024, 1, 3)].value_pct == 3.93
    assert rows[dt.date(2024, 1, 8)].value_pct == 4.01
    assert {day: r.run_id for day, r in rows.items()} == {
        dt.date(2024, 1, 2): first.run_id,
        dt.date(2024, 1, 3): second.run_id,
        dt.date(2024, 1, 5): first.run_id,
        dt.date(2024, 1, 8): second.run_id,
    }


def test_series_are_kept_apart(engine, tmp_path):
    path = write(tmp_path, "r.csv", RATES)
    import_rates_file(path, series="DGS10", today=TODAY)
    result = import_rates_file(path, series="DGS2", today=TODAY)
    assert result.inserted == 3
    assert row_counts(engine)["rate_observation"] == 6


BAD = [
    ("2024-13-02,3.9", "bad.csv line 3: unparseable date '2024-13-02' (expected YYYY-MM-DD)"),
    ("01/02/2024,3.9", "bad.csv line 3: unparseable date '01/02/2024'"),
    ("2024-01-09,abc", "bad.csv line 3: value 'abc' is not a number ('.' means missing)"),
    ("2024-02-01,3.9", "bad.csv line 3: date 2024-02-01 is in the future (today is 2024-01-31)"),
    ("2024-01-02,3.9", "bad.csv line 3: duplicate date 2024-01-02 (first on line 2)"),
    ("2024-01-09,75", "bad.csv line 3: value 75 is outside [-5, 50] percent"),
    ("2024-01-09,3.9,1", "bad.csv line 3: expected 2 columns (date,value), got 3"),
]


@pytest.mark.parametrize(("row", "message"), BAD, ids=[m.split(": ", 1)[1][:30] for _, m in BAD])
def test_bad_rows_are_rejected_and_nothing_is_written(engine, tmp_path, row, message):
    import_rates_file(write(tmp_path, "good.csv", RATES), series="DGS10", today=TODAY)
    before = table_digests(engine)
    # The first data row is new and valid: it must not be written either.
    path = write(tmp_path, "bad.csv", "date,value\n2024-01-02,3.99\n" + row + "\n2024-01-10,4.2\n")
    with pytest.raises(InputError) as err:
        import_rates_file(path, series="DGS10", today=TODAY)
    assert message in str(err.value)
    assert table_digests(engine) == before


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "bad.csv line 1: the file is empty"),
        ("day,rate\n2024-01-02,3.9\n", "bad.csv line 1: bad header 'day,rate'"),
        ("date,value\n", "bad.csv: no data rows after the header"),
        ("date,value\n2024-01-02,.\n", "bad.csv: every value is missing"),
    ],
)
def test_bad_files_are_rejected(engine, tmp_path, content, message):
    before = row_counts(engine)
    with pytest.raises(InputError) as err:
        import_rates_file(write(tmp_path, "bad.csv", content), series="DGS10", today=TODAY)
    assert message in str(err.value)
    assert row_counts(engine) == before


def test_bad_series_is_rejected(engine, tmp_path):
    with pytest.raises(InputError) as err:
        import_rates_file(write(tmp_path, "r.csv", RATES), series="DGS 10", today=TODAY)
    assert "--series 'DGS 10'" in str(err.value)
    assert row_counts(engine)["rate_observation"] == 0


def test_cli_exit_codes_and_messages(engine, tmp_path, capsys):
    good = write(tmp_path, "good.csv", RATES)
    with pytest.raises(SystemExit) as exit_:
        main(["import", "rates", str(good)])
    assert exit_.value.code == 2
    assert "--series" in capsys.readouterr().err
    assert row_counts(engine)["rate_observation"] == 0

    assert main(["import", "rates", str(good), "--series", "DGS10"]) == 0
    assert "3 rows validated; 3 inserted, 0 updated" in capsys.readouterr().out
    assert main(["import", "rates", str(good), "--series", "DGS10"]) == 0
    assert "nothing changed" in capsys.readouterr().out

    before = table_digests(engine)
    bad = write(tmp_path, "bad.csv", RATES.replace("3.91", "n/a"))
    assert main(["import", "rates", str(bad), "--series", "DGS10"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sigmasight: error: bad.csv line 3: value 'n/a' is not a number")
    assert table_digests(engine) == before
    assert main(["import", "rates", str(tmp_path / "missing.csv"), "--series", "DGS10"]) == 2
    assert "missing.csv: no such file" in capsys.readouterr().err


@pytest.mark.parametrize("series", ["A" * 33, "DGS10²", "DGS 10", ""])
def test_a_series_id_that_cannot_be_stored_is_refused(engine, tmp_path, series, capsys):
    path = write(tmp_path, "r.csv", "date,value\n2024-01-02,4.0\n")
    assert main(["import", "rates", "--series", series, str(path)]) == 2
    err = capsys.readouterr().err
    assert "--series" in err and "1 to 32 letters, digits or _" in err
    assert "Traceback" not in err
    assert row_counts(engine)["rate_observation"] == 0


def test_imported_values_survive_the_nightly_rate_refresh(engine, tmp_path):
    """The market-data run re-reads the last week of DGS10; it must not overwrite a file's values."""
    import uuid

    from sigmasight.runs.market_data import refresh_rates
    from sigmasight.settings import get_settings

    path = write(
        tmp_path, "dgs10.csv", "date,value\n2024-12-30,4.11\n2024-12-31,4.22\n2025-01-02,4.33\n"
    )
    import_rates_file(path, series="DGS10")
    written = refresh_rates(
        get_settings(),
        dt.date(2025, 1, 2),
        provider="synthetic",
        run_id=uuid.uuid4(),
        backfill_years=1,
    )
    assert written["DGS10"] > 0  # it did write the days of that week the file lacks
    with engine.connect() as conn:
        kept = conn.execute(
            text(
                "SELECT obs_date, value_pct::float, source FROM rate_observation "
                "WHERE obs_date >= '2024-12-30' ORDER BY obs_date"
            )
        ).all()
    assert [(d.isoformat(), v, s) for d, v, s in kept] == [
        ("2024-12-30", 4.11, "csv"),
        ("2024-12-31", 4.22, "csv"),
        ("2025-01-02", 4.33, "csv"),
    ]
