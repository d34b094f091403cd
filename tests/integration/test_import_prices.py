"""`import prices` end to end against PostgreSQL: both shapes, idempotency, rejections."""

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import text

from cli.main import main
from sigmasight.domain import InputError
from sigmasight.runs.imports import import_prices_file
from tests.dbstate import row_counts, table_digests

LONG = """symbol,date,open,high,low,close,volume,adj_close
AAPL,2024-01-02,187.15,188.44,183.89,185.64,82488700,184.29
AAPL,2024-01-03,184.22,185.88,183.43,184.25,58414500,182.91
MSFT,2024-01-02,373.86,375.90,366.77,370.87,25258600,367.75
"""

WIDE = """date,AAPL,MSFT,SPY
2024-01-02,184.29,367.75,468.79
2024-01-03,182.91,,467.28
"""


def write(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content)
    return path


def bars(engine):
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT symbol, price_date, open, high, low, close, adj_close, volume, source "
                "FROM price_bar ORDER BY symbol, price_date"
            )
        ).all()


def test_long_file_is_stored_exactly(engine, tmp_path):
    result = import_prices_file(write(tmp_path, "p.csv", LONG))
    assert (result.rows, result.inserted, result.updated) == (3, 3, 0)
    rows = bars(engine)
    assert [(r.symbol, r.price_date) for r in rows] == [
        ("AAPL", dt.date(2024, 1, 2)),
        ("AAPL", dt.date(2024, 1, 3)),
        ("MSFT", dt.date(2024, 1, 2)),
    ]
    first = rows[0]
    assert (
        float(first.open) == 187.15
        and float(first.close) == 185.64
        and float(first.adj_close) == 184.29
    )
    assert first.volume == 82488700 and first.source == "csv"
    with engine.connect() as conn:
        run = conn.execute(text("SELECT flow, status, counts FROM flow_run")).one()
        stamped = conn.execute(
            text("SELECT count(*) FROM price_bar p JOIN flow_run r ON r.id = p.run_id")
        ).scalar()
    assert run.flow == "import-prices" and run.status == "succeeded" and run.counts["inserted"] == 3
    assert stamped == 3


def test_reimport_changes_nothing(engine, tmp_path):
    path = write(tmp_path, "p.csv", LONG)
    import_prices_file(path)
    before = table_digests(engine)
    again = import_prices_file(path)
    assert again.unchanged and again.inserted == 0 and again.updated == 0
    assert table_digests(engine) == before


def test_overlapping_file_updates_only_changed_rows(engine, tmp_path):
    import_prices_file(write(tmp_path, "a.csv", LONG))
    changed = (
        LONG.replace("184.25,58414500", "184.30,58414500")
        + "MSFT,2024-01-03,370,371,365,368,1000,368\n"
    )
    result = import_prices_file(write(tmp_path, "b.csv", changed))
    assert (result.inserted, result.updated) == (1, 1)
    closes = {(r.symbol, r.price_date): float(r.close) for r in bars(engine)}
    assert closes[("AAPL", dt.date(2024, 1, 3))] == 184.30
    assert closes[("MSFT", dt.date(2024, 1, 3))] == 368


def test_wide_file_sets_adjusted_close_and_skips_empty_cells(engine, tmp_path):
    result = import_prices_file(write(tmp_path, "w.csv", WIDE))
    assert result.rows == 5
    rows = {(r.symbol, r.price_date): r for r in bars(engine)}
    assert ("MSFT", dt.date(2024, 1, 3)) not in rows
    spy = rows[("SPY", dt.date(2024, 1, 2))]
    assert float(spy.adj_close) == 468.79 and float(spy.close) == 468.79 and spy.open is None


def test_wide_file_over_long_data_touches_only_adj_close(engine, tmp_path):
    import_prices_file(write(tmp_path, "l.csv", LONG))
    import_prices_file(write(tmp_path, "w.csv", "date,AAPL\n2024-01-02,184.00\n"))
    row = next(
        r for r in bars(engine) if r.symbol == "AAPL" and r.price_date == dt.date(2024, 1, 2)
    )
    assert (
        float(row.adj_close) == 184.00 and float(row.close) == 185.64 and float(row.open) == 187.15
    )


BAD = [
    ("AAPL,2024-13-02,1,2,1,1.5,10,1.5", "line 2: date '2024-13-02' is not an ISO date"),
    ("AAPL,02/01/2024,1,2,1,1.5,10,1.5", "line 2: date '02/01/2024' is not an ISO date"),
    ("AAPL,2024-01-02,1,2,1,-1.5,10,1.5", "line 2: close -1.5 is not positive"),
    ("AAPL,2024-01-02,1,2,1,0,10,1.5", "line 2: close 0.0 is not positive"),
    ("AAPL,2024-01-02,1,1,2,1.5,10,1.5", "line 2: high 1.0 < low 2.0"),
    ("AAPL,2024-01-02,1,2,1,abc,10,1.5", "line 2: close 'abc' is not a number"),
    ("AAPL,2999-01-02,1,2,1,1.5,10,1.5", "line 2: date 2999-01-02 is in the future"),
    (
        "AAPL,2024-01-02,1,2,1,1.5,10,1.5\nAAPL,2024-01-02,1,2,1,1.6,10,1.6",
        "line 3: duplicate row for AAPL on 2024-01-02",
    ),
    ("AAPL,2024-01-02,1,2,1,,10,1.5", "line 2: close is missing"),
    ("AAPL,2024-01-02,1,2,1,1.5,-10,1.5", "line 2: volume -10.0 is negative"),
    ("aa pl,2024-01-02,1,2,1,1.5,10,1.5", "line 2: symbol 'aa pl' is not a ticker"),
    # one non-finite bar on a held symbol used to break `run risk` for every portfolio
    ("AAPL,2024-01-02,1,2,1,inf,10,1.5", "line 2: close inf is not finite"),
    ("AAPL,2024-01-02,1,Infinity,1,1.5,10,1.5", "line 2: high inf is not finite"),
    ("AAPL,2024-01-02,1,2,1,1.5,10,1e400", "line 2: adj_close inf is not finite"),
    ("AAPL,2024-01-02,1,2,1,1.5,inf,1.5", "line 2: volume inf is not finite"),
]


@pytest.mark.parametrize(("row", "message"), BAD, ids=[m.split(": ", 1)[1][:30] for _, m in BAD])
def test_bad_rows_are_rejected_and_nothing_is_written(engine, tmp_path, row, message):
    good = "MSFT,2024-01-02,373.86,375.90,366.77,370.87,25258600,367.75\n"
    path = write(
        tmp_path,
        "bad.csv",
        "symbol,date,open,high,low,close,volume,adj_close\n" + row + "\n" + good,
    )
    before = row_counts(engine)
    with pytest.raises(InputError) as err:
        import_prices_file(path)
    assert f"bad.csv {message}" in str(err.value)
    assert row_counts(engine) == before


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "bad.csv: the file is empty"),
        ("symbol,date,open,high,low,close\n", "missing column(s) volume"),
        (
            "symbol,date,open,high,low,close,volume,price\nA,2024-01-02,1,1,1,1,1,1\n",
            "unknown column(s) price",
        ),
        ("symbol,date,open,high,low,close,volume\n", "no data rows"),
        ("date,AAPL,AAPL\n2024-01-02,1,2\n", "no or duplicate symbol columns"),
        ("date,AAPL\n2024-01-02,0\n", "line 2: AAPL price 0 is not positive"),
        ("date,AAPL\n2024-01-02,1e400\n", "line 2: AAPL '1e400' is not finite"),
        ("date,AAPL\n2024-01-02,-Infinity\n", "line 2: AAPL '-Infinity' is not finite"),
        ("date,AAPL\n2024-01-02,1\n2024-01-02,2\n", "line 3: duplicate date 2024-01-02"),
        (
            "symbol,date,open,high,low,close,volume\nA,2024-01-02,1,1,1,1,1,1,1\n",
            "line 2: 9 fields, the header has 7",
        ),
    ],
)
def test_bad_files_are_rejected(engine, tmp_path, content, message):
    path = write(tmp_path, "bad.csv", content)
    with pytest.raises(InputError) as err:
        import_prices_file(path)
    assert message in str(err.value)
    assert row_counts(engine)["price_bar"] == 0


def test_errors_report_many_lines_at_once(engine, tmp_path):
    rows = "".join(f"AAPL,2024-01-{d:02d},1,1,2,1.5,10,1.5\n" for d in range(2, 30))
    path = write(tmp_path, "bad.csv", "symbol,date,open,high,low,close,volume,adj_close\n" + rows)
    with pytest.raises(InputError) as err:
        import_prices_file(path)
    text_ = str(err.value)
    assert "bad.csv line 2: high 1.0 < low 2.0" in text_ and "bad.csv line 21:" in text_
    assert "... and 8 more problems" in text_


def test_cli_exit_codes_and_messages(engine, tmp_path, capsys):
    good = write(tmp_path, "good.csv", LONG)
    assert main(["import", "prices", str(good)]) == 0
    assert "3 rows validated; 3 inserted, 0 updated" in capsys.readouterr().out
    assert main(["import", "prices", str(good)]) == 0
    assert "nothing changed" in capsys.readouterr().out
    bad = write(tmp_path, "bad.csv", LONG.replace("185.64", "-1"))
    assert main(["import", "prices", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sigmasight: error: bad.csv line 2: close -1.0 is not positive")
    assert main(["import", "prices", str(tmp_path / "missing.csv")]) == 2
    assert "missing.csv: no such file" in capsys.readouterr().err


@pytest.mark.parametrize(
    "header",
    [
        "SYMBOL,DATE,OPEN,HIGH,LOW,CLOSE,VOLUME",
        " symbol , date ,open,high,low,close,volume",
        "\ufeffsymbol,date,open,high,low,close,volume",
    ],
    ids=["upper-case", "padded", "utf-8 BOM"],
)
def test_header_case_padding_and_a_bom_are_accepted(engine, tmp_path, header):
    path = tmp_path / "p.csv"
    path.write_bytes((header + "\nAAPL,2024-01-02,1,2,1,1.5,10\n").encode())
    result = import_prices_file(path)
    assert result.inserted == 1
    assert row_counts(engine)["price_bar"] == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            b"symbol,date,open,high,low,close,volume\nA,2024-01-02,1,1,1,1,1\n\nA,2024-01-03,1,1,1,1,1\n",
            "bad.csv line 3: blank line",
        ),
        (
            b"symbol,date,open,high,low,close,volume\nA,2024-01-02,1,1,1,1,1,9\n",
            "bad.csv line 2: 8 fields, the header has 7",
        ),
        (
            b"symbol,date,open,high,low,close,volume\nA,2024-01-02,1,1,1,1,1\n\xff\xfe\x1b[31mX\n",
            "bad.csv: line 3: not UTF-8 text (byte 0xff)",
        ),
    ],
    ids=["blank line", "too many fields", "binary"],
)
def test_shape_problems_name_their_line(engine, tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(InputError) as err:
        import_prices_file(path)
    assert str(err.value) == message  # one line, nothing of the raw bytes echoed
    assert row_counts(engine)["price_bar"] == 0


def test_trailing_blank_lines_are_fine(engine, tmp_path):
    path = write(
        tmp_path, "p.csv", "symbol,date,open,high,low,close,volume\nA,2024-01-02,1,1,1,1,1\n\n\n"
    )
    assert import_prices_file(path).inserted == 1
