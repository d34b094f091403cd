"""Rates CSV (FORMATS.md section 3): valid files and every rejection rule."""

import datetime as dt

import pytest

from sigmasight.domain import InputError
from sigmasight.importers.rates import parse_rates_csv

TODAY = dt.date(2025, 6, 2)
SOURCE = "dgs10.csv"


def parse(text: str) -> list[tuple[dt.date, float]]:
    return parse_rates_csv(text, source=SOURCE, today=TODAY)


def rejection(text: str) -> str:
    with pytest.raises(InputError) as info:
        parse(text)
    return str(info.value)


@pytest.mark.parametrize(
    "header",
    ["date,value", "observation_date,DGS10", "DATE,DGS10", " date , value "],
)
def test_accepted_headers(header: str) -> None:
    assert parse(f"{header}\n2025-01-02,4.57\n") == [(dt.date(2025, 1, 2), 4.57)]


def test_missing_values_are_skipped_and_result_is_sorted() -> None:
    text = (
        "date,value\n"
        "2025-01-03,4.60\n"
        "2025-01-01,.\n"
        "2025-01-02,\n"
        "2024-12-31,4.58\n"
        "2025-06-02,-0.25\n"
    )
    assert parse(text) == [
        (dt.date(2024, 12, 31), 4.58),
        (dt.date(2025, 1, 3), 4.60),
        (dt.date(2025, 6, 2), -0.25),
    ]


def test_crlf_bom_and_blank_trailing_lines() -> None:
    text = "\ufeffdate,value\r\n2025-01-02,4.57\r\n\r\n"
    assert parse(text) == [(dt.date(2025, 1, 2), 4.57)]


@pytest.mark.parametrize("value", ["-5", "50", "0", "1e1", "+4.5", ".5"])
def test_boundary_and_number_forms_accepted(value: str) -> None:
    assert parse(f"date,value\n2025-01-02,{value}\n")[0][1] == float(value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", f"{SOURCE} line 1: the file is empty"),
        ("\n\n", f"{SOURCE} line 1: the file is empty"),
        ("date,value\n", f"{SOURCE}: no data rows after the header"),
        ("date,value\n\n", f"{SOURCE}: no data rows after the header"),
        ("date,value\n2025-01-02,.\n", f"{SOURCE}: every value is missing"),
        ("symbol,date\nAAA,2025-01-02\n", f"{SOURCE} line 1: bad header 'symbol,date'"),
        ("Date,Value\n2025-01-02,4\n", f"{SOURCE} line 1: bad header 'Date,Value'"),
        ("date,value,extra\n2025-01-02,4,1\n", f"{SOURCE} line 1: bad header"),
    ],
)
def test_file_level_rejections(text: str, expected: str) -> None:
    assert rejection(text).startswith(expected)


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("2025-13-01,4.5", "unparseable date '2025-13-01'"),
        ("02/01/2025,4.5", "unparseable date '02/01/2025'"),
        ("20250102,4.5", "unparseable date '20250102'"),
        (",4.5", "unparseable date ''"),
        ("2025-01-02,abc", "value 'abc' is not a number"),
        ("2025-01-02,nan", "value 'nan' is not a number"),
        ("2025-01-02,inf", "value 'inf' is not a number"),
        ("2025-01-02,4%", "value '4%' is not a number"),
        ("2025-01-02,1_000", "value '1_000' is not a number"),
        ("2025-06-03,4.5", "date 2025-06-03 is in the future (today is 2025-06-02)"),
        ("2025-01-02,50.01", "value 50.01 is outside [-5, 50] percent"),
        ("2025-01-02,-5.5", "value -5.5 is outside [-5, 50] percent"),
        ("2025-01-02,0.6e2", "value 0.6e2 is outside [-5, 50] percent"),
        ("2025-01-02", "expected 2 columns (date,value), got 1"),
        ("2025-01-02,4.5,1", "expected 2 columns (date,value), got 3"),
    ],
)
def test_row_rejections_name_file_line_and_reason(row: str, reason: str) -> None:
    message = rejection(f"date,value\n2024-12-31,4.4\n{row}\n")
    assert message.startswith(f"{SOURCE} line 3: ")
    assert reason in message


def test_duplicate_date_names_both_lines() -> None:
    message = rejection("date,value\n2025-01-02,4.5\n2025-01-03,4.6\n2025-01-02,4.7\n")
    assert message == f"{SOURCE} line 4: duplicate date 2025-01-02 (first on line 2)"


def test_duplicate_date_is_an_error_even_when_missing() -> None:
    message = rejection("date,value\n2025-01-02,4.5\n2025-01-02,.\n")
    assert message.startswith(f"{SOURCE} line 3: duplicate date 2025-01-02")


def test_line_numbers_count_blank_lines() -> None:
    message = rejection("date,value\n\n2025-01-02,4.5\n\n2025-01-03,x\n")
    assert message.startswith(f"{SOURCE} line 5: value 'x'")


def test_problems_are_collected_into_one_error() -> None:
    text = "date,value\n2025-01-02,abc\n2025-01-03,4.5\nbad,4.5\n2025-01-05,99\n"
    lines = rejection(text).splitlines()
    assert lines == [
        f"{SOURCE} line 2: value 'abc' is not a number ('.' means missing)",
        f"{SOURCE} line 4: unparseable date 'bad' (expected YYYY-MM-DD)",
        f"{SOURCE} line 5: value 99 is outside [-5, 50] percent",
    ]


def test_at_most_twenty_problems_are_listed() -> None:
    rows = "".join(f"2024-01-{day:02d},x\n" for day in range(1, 26))
    lines = rejection(f"date,value\n{rows}").splitlines()
    assert len(lines) == 21
    assert lines[0].startswith(f"{SOURCE} line 2: ")
    assert lines[19].startswith(f"{SOURCE} line 21: ")
    assert lines[20] == "... and 5 more problems"
