"""The market-data flow against Polygon served by a real local HTTP server.

A real Prefect run (session harness), a real PostgreSQL and a real ``PolygonClient`` talking
HTTP to pytest-httpserver: nothing of ours is mocked. The universe is tiny (two stocks plus
SPY, the only factor and the benchmark), so a backfill costs three range requests plus a
splits and a dividends request per symbol; the client-side limit is lifted
(``POLYGON_RATE_LIMIT=0``) so that nine requests do not wait for the free plan's 5/min.
"""

import datetime as dt
import json
import logging
import traceback
import uuid
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from prefect import State, get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from pytest_httpserver import HTTPServer
from sqlalchemy import text
from sqlalchemy.engine import Engine

from flows.market_data import pull_market_data
from sigmasight.runs.imports import import_bundle_file
from sigmasight.settings import get_settings

AS_OF = dt.date(2025, 11, 24)  # a Monday
#: The sessions served per symbol (the backfill window is a year, history may be short).
DAYS = (dt.date(2025, 11, 19), dt.date(2025, 11, 20), dt.date(2025, 11, 21), AS_OF)
SYMBOLS = ("AAPL", "MSFT", "SPY")
BACKFILL_FROM = dt.date(2024, 11, 24)
NEW_YORK = ZoneInfo("America/New_York")


def bundle() -> dict[str, Any]:
    return {
        "valuation_date": AS_OF.isoformat(),
        "factor_etfs": {"SPY": "Market"},
        "securities": {
            "AAPL": {"asset_type": "stock", "name": "Apple Inc."},
            "MSFT": {"asset_type": "stock", "name": "Microsoft Corp."},
            "SPY": {"asset_type": "etf", "name": "SPDR S&P 500 ETF"},
        },
        "portfolios": [
            {
                "id": "vendor-test",
                "name": "Vendor test",
                "owner": "vendor-test@example.com",
                "cash": 1000,
                "positions": [
                    {"symbol": "AAPL", "quantity": 10},
                    {"symbol": "MSFT", "quantity": 5},
                ],
            }
        ],
    }


@pytest.fixture
def polygon(engine: Engine, httpserver: HTTPServer, monkeypatch, tmp_path: Path) -> str:
    """Seed the tiny universe, point Polygon at the local server; return a fresh API key."""
    key = f"PolyKEY987zyx{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("POLYGON_API_KEY", key)
    monkeypatch.setenv("POLYGON_BASE_URL", httpserver.url_for("").rstrip("/"))
    monkeypatch.setenv("POLYGON_RATE_LIMIT", "0")
    # Profiles and rates stay synthetic (no FMP/FRED key); the default 95 % threshold applies.
    for name in ("FMP_API_KEY", "FRED_API_KEY", "SIGMASIGHT_COVERAGE_THRESHOLD"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(f"{name}_FILE", raising=False)
    get_settings.cache_clear()
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle()), encoding="utf-8")
    import_bundle_file(path, today=AS_OF)
    return key


def ms(day: dt.date) -> int:
    """Unix ms of 00:00 America/New_York on ``day`` (Polygon's per-ticker bar stamp)."""
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=NEW_YORK).timestamp() * 1000)


def bar(day: dt.date, close: float, **overrides: float) -> dict[str, Any]:
    row: dict[str, Any] = {
        "o": close - 0.5,
        "h": close + 1.0,
        "l": close - 1.0,
        "c": close,
        "v": 1_234_567.0,
        "vw": close,
        "n": 1000,
        "t": ms(day),
    }
    row.update(overrides)
    return row


def aggs(symbol: str, rows: list[dict[str, Any]], status: str = "OK") -> dict[str, Any]:
    """A per-ticker aggregates envelope; no ``results`` key at all when there are no rows."""
    payload: dict[str, Any] = {
        "ticker": symbol,
        "queryCount": len(rows),
        "resultsCount": len(rows),
        "adjusted": True,
        "status": status,
        "request_id": uuid.uuid4().hex,
    }
    if rows:
        payload["results"] = rows
        payload["count"] = len(rows)
    return payload


def serve(
    httpserver: HTTPServer, key: str, symbol: str, payload: dict[str, Any], status: int = 200
) -> None:
    httpserver.expect_request(
        f"/v2/aggs/ticker/{symbol}/range/1/day/{BACKFILL_FROM.isoformat()}/{AS_OF.isoformat()}",
        method="GET",
        query_string={"adjusted": "false", "sort": "asc", "limit": "50000", "apiKey": key},
    ).respond_with_json(payload, status=status)


def serve_actions(
    httpserver: HTTPServer,
    key: str,
    symbol: str,
    splits: list[dict[str, Any]] | None = None,
    dividends: list[dict[str, Any]] | None = None,
) -> None:
    """The reference endpoints for one ticker over the backfill window (no results: empty)."""
    window = {"gte": BACKFILL_FROM.isoformat(), "lte": AS_OF.isoformat()}
    for path, field, results in (
        ("/v3/reference/splits", "execution_date", splits or []),
        ("/v3/reference/dividends", "ex_dividend_date", dividends or []),
    ):
        httpserver.expect_request(
            path,
            method="GET",
            query_string={
                "ticker": symbol,
                f"{field}.gte": window["gte"],
                f"{field}.lte": window["lte"],
                "limit": "1000",
                "apiKey": key,
            },
        ).respond_with_json({"status": "OK", "request_id": uuid.uuid4().hex, "results": results})


def serve_no_actions(httpserver: HTTPServer, key: str) -> None:
    for symbol in SYMBOLS:
        serve_actions(httpserver, key, symbol)


def good_bars(base: float) -> list[dict[str, Any]]:
    return [bar(day, base + i) for i, day in enumerate(DAYS)]


def run_flow(backfill_years: int | None = 1) -> State[Any]:
    return pull_market_data(as_of=AS_OF, backfill_years=backfill_years, return_state=True)


def run() -> dict[str, Any]:
    state = run_flow()
    assert state.is_completed(), state.message
    result = state.result()
    assert isinstance(result, dict)
    return result


def rows(engine: Engine, sql: str, **params: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(text(sql), params).all())


def scalar(engine: Engine, sql: str, **params: Any) -> Any:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


def task_run_messages(state: State[Any]) -> list[str]:
    """State messages of every task run of the flow run (as Prefect's API stores them)."""
    flow_run_id = state.state_details.flow_run_id
    assert flow_run_id is not None
    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(flow_run_id)
        task_runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
    messages = [flow_run.state.message or ""] if flow_run.state else []
    messages += [r.state.message or "" for r in task_runs if r.state is not None]
    return messages


def exception_text(state: State[Any]) -> str:
    """The flow's exception with its traceback (empty when the run succeeded)."""
    exc = state.result(raise_on_failure=False)
    if not isinstance(exc, BaseException):
        return ""
    return "".join(traceback.format_exception(exc))


def assert_key_nowhere(
    key: str, caplog: pytest.LogCaptureFixture, state: State[Any], engine: Engine
) -> None:
    """The key is in no log record of ours, no exception, no Prefect state, no ledger row."""
    # The fake vendor's own access log (werkzeug, inside pytest-httpserver) sees the key in
    # the URL, as Polygon's servers do; it is not SigmaSight's logging.
    ours = [r for r in caplog.records if not r.name.startswith("werkzeug")]
    # Not vacuous: httpx's request line for the vendor URL was captured, key masked.
    assert any(
        "/v2/aggs/ticker/" in r.getMessage() and "apiKey=***" in r.getMessage() for r in ours
    )
    for record in ours:
        assert key not in record.getMessage(), (record.name, record.getMessage())
        if record.exc_info:
            formatted = "".join(traceback.format_exception(*record.exc_info))
            assert key not in formatted, (record.name, formatted)
        assert key not in (record.exc_text or "")
    assert key not in (state.message or "")
    assert key not in exception_text(state)
    for message in task_run_messages(state):
        assert key not in message
    for table in ("flow_run", "data_quality", "price_bar", "corporate_action"):
        dump = scalar(engine, f"SELECT coalesce(json_agg(t)::text, '') FROM {table} t")
        assert key not in dump, table


def test_happy_path_with_a_delayed_symbol(polygon, httpserver, engine, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")  # the CLI's logging setup quiets it
    serve(httpserver, polygon, "AAPL", aggs("AAPL", good_bars(200.0)))
    serve(httpserver, polygon, "MSFT", aggs("MSFT", good_bars(400.0), status="DELAYED"))
    serve(httpserver, polygon, "SPY", aggs("SPY", good_bars(600.0)))
    serve_no_actions(httpserver, polygon)

    result = run()
    httpserver.check_assertions()
    assert len(httpserver.log) == 9  # per symbol: bars, splits, dividends
    assert result["providers"]["prices"] == "polygon"
    assert result["symbols"] == 3
    assert result["requests"] == 3
    assert result["actions"]["requests"] == 3 and result["actions"]["inserted"] == 0
    assert result["coverage"] == 1.0
    assert (result["rows_fetched"], result["rows_rejected"], result["inserted"]) == (12, 0, 12)

    stored = rows(
        engine,
        "SELECT symbol, price_date, close, source, vendor_status FROM price_bar"
        " ORDER BY symbol, price_date",
    )
    assert [(r.symbol, r.price_date) for r in stored] == [(s, d) for s in SYMBOLS for d in DAYS]
    assert {r.source for r in stored} == {"polygon"}
    for r in stored:
        assert r.vendor_status == ("DELAYED" if r.symbol == "MSFT" else None), r
    spy = {r.price_date: float(r.close) for r in stored if r.symbol == "SPY"}
    assert spy[AS_OF] == 603.0 and spy[DAYS[0]] == 600.0

    quality = rows(
        engine,
        "SELECT symbol, status, source, last_date, staleness_sessions, issues FROM data_quality"
        " WHERE as_of_date = :d ORDER BY symbol",
        d=AS_OF,
    )
    assert [q.symbol for q in quality] == list(SYMBOLS)
    for q in quality:
        assert (q.status, q.source, q.last_date, q.staleness_sessions) == (
            "ok",
            "polygon",
            AS_OF,
            0,
        )
        assert q.issues == []
    assert scalar(engine, "SELECT status FROM flow_run WHERE flow = 'market-data'") == "succeeded"

    # Up to date now (and no explicit backfill to extend history): no request at all.
    state = run_flow(backfill_years=None)
    assert state.is_completed(), state.message
    assert len(httpserver.log) == 9
    assert_key_nowhere(polygon, caplog, state, engine)


def test_bar_with_high_below_low_is_rejected(polygon, httpserver, engine):
    bad_day = DAYS[1]
    msft = good_bars(400.0)
    msft[1] = bar(bad_day, 401.0, h=399.0, l=402.0)
    serve(httpserver, polygon, "AAPL", aggs("AAPL", good_bars(200.0)))
    serve(httpserver, polygon, "MSFT", aggs("MSFT", msft))
    serve(httpserver, polygon, "SPY", aggs("SPY", good_bars(600.0)))
    serve_no_actions(httpserver, polygon)

    result = run()
    httpserver.check_assertions()
    assert (result["rows_fetched"], result["rows_rejected"], result["inserted"]) == (12, 1, 11)
    assert result["coverage"] == 1.0

    stored = {(r.symbol, r.price_date) for r in rows(engine, "SELECT * FROM price_bar")}
    assert ("MSFT", bad_day) not in stored
    assert stored == {(s, d) for s in SYMBOLS for d in DAYS} - {("MSFT", bad_day)}

    quality = {
        q.symbol: q
        for q in rows(
            engine, "SELECT symbol, status, issues FROM data_quality WHERE as_of_date = :d", d=AS_OF
        )
    }
    assert quality["MSFT"].status == "ok"
    assert any("high < low" in note and str(bad_day) in note for note in quality["MSFT"].issues)
    assert quality["AAPL"].issues == [] and quality["SPY"].issues == []


def test_symbol_without_results_fails_coverage(polygon, httpserver, engine, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")  # the CLI's logging setup quiets it
    serve(httpserver, polygon, "AAPL", aggs("AAPL", good_bars(200.0)))
    serve(httpserver, polygon, "MSFT", aggs("MSFT", []))  # status OK, resultsCount 0, no results
    serve(httpserver, polygon, "SPY", aggs("SPY", good_bars(600.0)))
    serve_no_actions(httpserver, polygon)

    state = run_flow()
    httpserver.check_assertions()
    assert state.is_failed(), state
    message = state.message or ""
    assert "MSFT" in message, message
    assert "below the 95% threshold" in message, message
    assert "AAPL" not in message and "SPY" not in message, message

    ledger = rows(engine, "SELECT status, error FROM flow_run WHERE flow = 'market-data'")
    assert len(ledger) == 1
    assert ledger[0].status == "failed"
    assert "MSFT" in (ledger[0].error or "")

    stored = {(r.symbol, r.price_date) for r in rows(engine, "SELECT * FROM price_bar")}
    assert stored == {(s, d) for s in ("AAPL", "SPY") for d in DAYS}
    quality = {
        q.symbol: q.status
        for q in rows(
            engine, "SELECT symbol, status FROM data_quality WHERE as_of_date = :d", d=AS_OF
        )
    }
    assert quality == {"AAPL": "ok", "MSFT": "missing", "SPY": "ok"}
    assert_key_nowhere(polygon, caplog, state, engine)


def test_unknown_api_key_fails_the_flow_without_leaking_the_key(
    polygon, httpserver, engine, caplog
):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")  # the CLI's logging setup quiets it
    body = {"status": "ERROR", "request_id": "x", "error": "Unknown API Key"}
    for symbol in SYMBOLS:
        serve(httpserver, polygon, symbol, body, status=401)

    state = run_flow()
    assert state.is_failed(), state
    message = state.message or ""
    assert "Unknown API Key" in message, message
    assert polygon not in message
    assert scalar(engine, "SELECT count(*) FROM price_bar") == 0
    ledger = rows(engine, "SELECT status, error FROM flow_run WHERE flow = 'market-data'")
    assert [r.status for r in ledger] == ["failed"]
    assert "Unknown API Key" in (ledger[0].error or "")
    assert_key_nowhere(polygon, caplog, state, engine)


def test_auth_error_is_not_retried_by_the_task(polygon, httpserver, engine):
    # The first answer is a 401; a retry (which must not happen) would find good data.
    body = {"status": "ERROR", "request_id": "x", "error": "Unknown API Key"}
    path = f"/v2/aggs/ticker/AAPL/range/1/day/{BACKFILL_FROM.isoformat()}/{AS_OF.isoformat()}"
    httpserver.expect_oneshot_request(path).respond_with_json(body, status=401)
    serve(httpserver, polygon, "AAPL", aggs("AAPL", good_bars(200.0)))
    serve(httpserver, polygon, "MSFT", aggs("MSFT", good_bars(400.0)))
    serve(httpserver, polygon, "SPY", aggs("SPY", good_bars(600.0)))

    state = run_flow()
    assert [request.path for request, _ in httpserver.log] == [path]
    assert state.is_failed(), state
    assert "Unknown API Key" in (state.message or "")


def test_vendor_actions_are_stored_with_their_source_and_bad_ones_rejected(
    polygon, httpserver, engine
):
    # AAPL splits 3-for-1 on the last day (the raw close falls 67 %: the split explains it);
    # MSFT's "dividend" of 500 is above its previous close of 402 and is refused.
    aapl = good_bars(200.0)
    aapl[-1] = bar(AS_OF, 68.0)
    serve(httpserver, polygon, "AAPL", aggs("AAPL", aapl))
    serve(httpserver, polygon, "MSFT", aggs("MSFT", good_bars(400.0)))
    serve(httpserver, polygon, "SPY", aggs("SPY", good_bars(600.0)))
    split = {"execution_date": AS_OF.isoformat(), "id": "E1", "split_from": 1, "split_to": 3,
             "ticker": "AAPL"}  # fmt: skip
    serve_actions(httpserver, polygon, "AAPL", splits=[split])
    dividend = {"cash_amount": 500, "currency": "USD", "dividend_type": "CD",
                "ex_dividend_date": DAYS[-1].isoformat(), "frequency": 4, "id": "E2",
                "ticker": "MSFT"}  # fmt: skip
    serve_actions(httpserver, polygon, "MSFT", dividends=[dividend])
    serve_actions(httpserver, polygon, "SPY")

    result = run()
    httpserver.check_assertions()
    assert result["actions"] == {
        "requests": 3,
        "fetched": 2,
        "rejected": 1,
        "inserted": 1,
        "updated": 0,
    }
    stored = rows(
        engine, "SELECT symbol, ex_date, kind, value, source, run_id FROM corporate_action"
    )
    assert [(r.symbol, r.ex_date, r.kind, r.value, r.source, str(r.run_id)) for r in stored] == [
        ("AAPL", AS_OF, "split", 3, "polygon", result["run_id"])
    ]
    quality = {
        q.symbol: q.issues
        for q in rows(
            engine, "SELECT symbol, issues FROM data_quality WHERE as_of_date = :d", d=AS_OF
        )
    }
    assert quality["AAPL"] == []  # -67 % as traded: explained by the split
    assert quality["SPY"] == []
    assert quality["MSFT"] == [
        f"dividend ex {AS_OF}: rejected, dividend 500 is not below the previous close 402 "
        f"({DAYS[-2]})"
    ]
