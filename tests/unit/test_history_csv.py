"""The ``export history`` CSV writer: the contract's header, full precision, empty unknowns."""

import csv
import dataclasses
import datetime as dt
import io
import uuid

import numpy as np
import pytest

from sigmasight.history import HISTORY_COLUMNS, HistoryPoint, history_csv

#: FORMATS.md section 7, copied from the contract on purpose: a change to the writer's
#: columns must fail here.
CONTRACT = (
    "as_of,nav,cash,pnl,external_flow,twr_daily,twr_cumulative,hist_var_95,param_var_95,"
    "cvar_95,ann_vol,beta_spy_150d,gross_leverage,breaches,run_id"
)
RNG = np.random.default_rng(20261203)
CSV_FIELDS = [c for c in CONTRACT.split(",") if c not in ("as_of", "breaches", "run_id")]


def _point(day: dt.date, **changes: object) -> HistoryPoint:
    # Awkward doubles: many digits, tiny and huge magnitudes, negative values.
    values = RNG.normal(0.0, 1.0, 20) * np.array([10.0**k for k in range(-10, 10)])
    figures = dict(zip(CSV_FIELDS, values.tolist(), strict=False))
    base: dict[str, object] = {
        "as_of": day,
        "run_id": uuid.uuid4(),
        "status": "ok",
        "is_current": False,
        "book_date": day,
        "hist_var_99": 0.03,
        "daily_pnl": 1.0,
        "daily_return": 0.001,
        **figures,
    }
    base.update(changes)
    return HistoryPoint(**base)  # type: ignore[arg-type]


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_header_is_exactly_the_contract():
    assert ",".join(HISTORY_COLUMNS) == CONTRACT
    assert history_csv([]) == CONTRACT + "\n"


def test_every_float_parses_back_to_the_same_double():
    points = [_point(dt.date(2025, 1, 2) + dt.timedelta(days=i)) for i in range(5)]
    points.append(
        _point(dt.date(2025, 2, 3), nav=0.1 + 0.2, pnl=-1e-300, cash=1.7976931348623157e308)
    )
    rows = _rows(history_csv(points))
    assert len(rows) == len(points)
    for point, row in zip(points, rows, strict=True):
        assert row["as_of"] == point.as_of.isoformat()
        assert uuid.UUID(row["run_id"]) == point.run_id
        for name in CSV_FIELDS:
            stored = getattr(point, name)
            assert float(row[name]) == stored, (name, row[name], stored)


def test_rows_keep_the_given_order_and_one_line_each():
    days = [dt.date(2025, 3, d) for d in (7, 3, 5)]
    text = history_csv([_point(d) for d in days])
    assert text.endswith("\n") and "\r" not in text
    assert [r["as_of"] for r in _rows(text)] == [d.isoformat() for d in days]
    assert len(text.splitlines()) == 1 + len(days)


@pytest.mark.parametrize("missing", [None, float("nan"), float("inf")])
def test_an_unknown_figure_is_an_empty_cell(missing):
    point = _point(dt.date(2025, 1, 2), pnl=missing, twr_daily=missing, twr_cumulative=missing)
    row = _rows(history_csv([point]))[0]
    assert row["pnl"] == row["twr_daily"] == row["twr_cumulative"] == ""
    assert float(row["nav"]) == point.nav


def test_breaches_count_the_limits_in_breach():
    point = _point(dt.date(2025, 1, 2))
    assert _rows(history_csv([point]))[0]["breaches"] == "0"
    assert _rows(history_csv([dataclasses.replace(point, breaches=2)]))[0]["breaches"] == "2"


def test_fields_the_csv_leaves_out_do_not_change_it():
    point = _point(dt.date(2025, 1, 2))
    other = dataclasses.replace(point, status="warnings", is_current=True, hist_var_99=9.0)
    assert history_csv([point]) == history_csv([other])
