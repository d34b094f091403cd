"""Portfolio read routes: payload shapes, pagination, tenancy and the risk document."""

import csv
import io
import itertools
import json
from typing import Any

import pytest
from sqlalchemy import text

from cli.main import main
from sigmasight.db import get_engine
from sigmasight.history import HISTORY_COLUMNS
from sigmasight.runs.risk import export_documents
from sigmasight.settings import get_settings

P = "/api/v1/portfolios"


def error(response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}
    found: dict[str, Any] = body["error"]
    return found


def test_list_shows_only_the_users_portfolios_with_headlines(client, hnw, individual, world):
    body = client.get(P, headers=hnw).json()
    assert body["total"] == 3 and body["limit"] == 50 and body["offset"] == 0
    assert [p["id"] for p in body["items"]] == ["DEMO_HNW", "HNW_EXTRA_A", "HNW_EXTRA_B"]
    first = body["items"][0]
    assert set(first) == {"id", "name", "base_currency", "cash", "positions", "options", "current"}
    current = first["current"]
    assert current["as_of"] == world.as_of.isoformat()
    assert current["status"] in {"ok", "warnings"}
    assert current["nav"] > 0 and current["var_95"] > 0
    assert current["var_95"] == pytest.approx(current["var_95_fraction"] * current["nav"])
    assert isinstance(current["beta_spy"], float)
    other = client.get(P, headers=individual).json()
    assert [p["id"] for p in other["items"]] == ["DEMO_INDIVIDUAL"]


def test_list_is_paginated(client, hnw):
    page = client.get(P, params={"limit": 2, "offset": 1}, headers=hnw).json()
    assert [p["id"] for p in page["items"]] == ["HNW_EXTRA_A", "HNW_EXTRA_B"]
    assert (page["total"], page["limit"], page["offset"]) == (3, 2, 1)
    assert client.get(P, params={"offset": 3}, headers=hnw).json()["items"] == []
    for bad in ({"limit": 0}, {"limit": 201}, {"offset": -1}, {"limit": "x"}):
        response = client.get(P, params=bad, headers=hnw)
        assert response.status_code == 422
        assert error(response)["code"] == "validation_error"


def test_detail_lists_positions_with_their_snapshot_valuation(client, hnw, world):
    body = client.get(f"{P}/DEMO_HNW", headers=hnw).json()
    assert body["id"] == "DEMO_HNW"
    assert body["as_of"] == world.as_of.isoformat()
    assert body["valuation"]["nav"] > 0
    positions = body["positions"]
    assert len(positions) == 17
    assert all(p["market_value"] is not None and p["price"] > 0 for p in positions)
    assert sum(p["market_value"] for p in positions) + body["cash"] == pytest.approx(
        body["valuation"]["nav"]
    )
    assert [p["symbol"] for p in positions] == sorted(p["symbol"] for p in positions)


def test_detail_of_a_book_with_options_has_greeks(client, world):
    from tests.integration.api.conftest import login

    headers = login(client, "demo_hedgefundstyle@sigmasight.com", world.password)
    body = client.get(f"{P}/DEMO_HEDGE_FUND", headers=headers).json()
    options = [p for p in body["positions"] if p["underlying"]]
    assert options, "the hedge-fund demo book holds options"
    for option in options:
        assert option["greeks"]["delta"] is not None
        assert option["expiry"] and option["strike"] and option["option_right"] in {"call", "put"}
    stocks = [p for p in body["positions"] if not p["underlying"]]
    assert all(p["greeks"] is None for p in stocks)


def test_risk_document_is_exactly_the_exported_document(client, hnw, world):
    response = client.get(f"{P}/DEMO_HNW/risk", headers=hnw)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    exported = export_documents(get_settings(), world.as_of, "DEMO_HNW")[0].as_json()
    assert response.json() == exported
    assert list(response.json()) == list(exported)  # same key order (FORMATS.md)
    assert response.json()["schema"] == "sigmasight.risk/1"


def test_risk_document_of_an_earlier_date(client, hnw, world):
    earlier = world.dates[0]
    response = client.get(f"{P}/DEMO_HNW/risk", params={"as_of": earlier.isoformat()}, headers=hnw)
    assert response.status_code == 200
    assert response.json() == export_documents(get_settings(), earlier, "DEMO_HNW")[0].as_json()
    missing = client.get(f"{P}/DEMO_HNW/risk", params={"as_of": "2001-01-02"}, headers=hnw)
    assert missing.status_code == 404
    assert error(missing) == {
        "code": "no_results",
        "message": "no risk results for portfolio 'DEMO_HNW' on 2001-01-02",
    }
    bad = client.get(f"{P}/DEMO_HNW/risk", params={"as_of": "2025-13-45"}, headers=hnw)
    assert bad.status_code == 422


def test_risk_document_etag_and_revalidation(make_client, world, monkeypatch):
    from tests.integration.api.conftest import login

    monkeypatch.setenv("SIGMASIGHT_API_CACHE_TTL_S", "0")  # check the database on every request
    client = make_client()
    headers = login(client, world.hnw_email, world.password)
    first = client.get(f"{P}/DEMO_HNW/risk", headers=headers)
    etag = first.headers["ETag"]
    again = client.get(f"{P}/DEMO_HNW/risk", headers={**headers, "If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    # A rerun that changed a stored figure: the next request gets the new document.
    with get_engine().begin() as conn:
        conn.execute(
            text(
                "UPDATE position_risk SET price = price + 1 WHERE symbol = 'AAPL' AND portfolio_id = "
                "(SELECT id FROM portfolio WHERE external_id = 'DEMO_HNW') AND as_of_date = :d"
            ),
            {"d": world.as_of},
        )
    changed = client.get(f"{P}/DEMO_HNW/risk", headers={**headers, "If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag
    aapl = next(p for p in changed.json()["positions"] if p["symbol"] == "AAPL")
    before = next(p for p in first.json()["positions"] if p["symbol"] == "AAPL")
    assert aapl["price"] == pytest.approx(before["price"] + 1)


def test_risk_document_cache_expires_after_its_ttl(make_client, world, monkeypatch):
    from tests.integration.api.conftest import login

    monkeypatch.setenv("SIGMASIGHT_API_CACHE_TTL_S", "0.2")
    client = make_client()
    headers = login(client, world.hnw_email, world.password)
    assert client.get(f"{P}/DEMO_HNW/risk", headers=headers).status_code == 200
    with get_engine().begin() as conn:
        conn.execute(
            text("UPDATE app_user SET is_active = false WHERE email = :e"), {"e": world.hnw_email}
        )
    import time

    time.sleep(0.25)
    # the cache never serves a disabled account: its token itself stops working
    assert client.get(f"{P}/DEMO_HNW/risk", headers=headers).status_code == 401


def test_factor_exposures(client, hnw, world):
    body = client.get(f"{P}/DEMO_HNW/factor-exposures", headers=hnw).json()
    assert body["as_of"] == world.as_of.isoformat()
    assert body["window"] == 150 and body["n_obs"] > 0 and 0 <= body["r2"] <= 1
    factors = [f["factor"] for f in body["factors"]]
    assert factors == ["SPY", "VTV", "VUG", "MTUM", "QUAL", "IWM", "USMV"]
    document = export_documents(get_settings(), world.as_of, "DEMO_HNW")[0].as_json()
    for f in body["factors"]:
        assert f["beta"] == pytest.approx(document["factor_exposures"]["betas"][f["factor"]])
        assert f["name"]
    assert len(body["positions"]) == 17
    assert set(body["positions"][0]["betas"]) == set(factors)


def test_correlations(client, hnw):
    body = client.get(f"{P}/DEMO_HNW/correlations", headers=hnw).json()
    n = len(body["symbols"])
    assert n > 1 and len(body["matrix"]) == n and all(len(row) == n for row in body["matrix"])
    assert all(body["matrix"][i][i] == pytest.approx(1.0) for i in range(n))
    assert body["min_overlap"] == 60
    assert isinstance(body["clusters"], list)


def test_stress_results_worst_first_and_filtered(client, world):
    from tests.integration.api.conftest import login

    headers = login(client, "demo_hedgefundstyle@sigmasight.com", world.password)
    body = client.get(f"{P}/DEMO_HEDGE_FUND/stress", headers=headers).json()
    methods = {s["method"] for s in body["items"]}
    assert methods == {"linear", "full_revaluation"}
    linear = client.get(
        f"{P}/DEMO_HEDGE_FUND/stress", params={"method": "linear"}, headers=headers
    ).json()["items"]
    assert {s["method"] for s in linear} == {"linear"}
    pnls = [s["pnl"] for s in linear if s["pnl"] is not None]
    assert pnls == sorted(pnls)
    assert "market_down_10" in {s["scenario"] for s in linear}
    bad = client.get(f"{P}/DEMO_HEDGE_FUND/stress", params={"method": "x"}, headers=headers)
    assert bad.status_code == 422


def test_snapshot_history_is_a_paginated_pnl_series(client, hnw, world):
    body = client.get(f"{P}/DEMO_HNW/snapshots", headers=hnw).json()
    assert body["total"] == 3
    assert [s["as_of"] for s in body["items"]] == [d.isoformat() for d in reversed(world.dates)]
    assert [s["is_current"] for s in body["items"]] == [True, False, False]
    newest, previous = body["items"][0], body["items"][1]
    assert newest["daily_pnl"] == pytest.approx(newest["nav"] - previous["nav"], rel=0.05)
    page = client.get(f"{P}/DEMO_HNW/snapshots", params={"limit": 1, "offset": 1}, headers=hnw)
    assert [s["as_of"] for s in page.json()["items"]] == [world.dates[1].isoformat()]
    window = client.get(
        f"{P}/DEMO_HNW/snapshots",
        params={"start": world.dates[1].isoformat(), "end": world.dates[1].isoformat()},
        headers=hnw,
    ).json()
    assert window["total"] == 1
    backwards = client.get(
        f"{P}/DEMO_HNW/snapshots",
        params={"start": world.dates[2].isoformat(), "end": world.dates[0].isoformat()},
        headers=hnw,
    )
    assert backwards.status_code == 422


def test_snapshots_are_the_export_history_series(client, hnw, world, capsys):
    items: list[dict[str, Any]] = []
    while True:  # every page, two sessions at a time
        page = client.get(
            f"{P}/DEMO_HNW/snapshots", params={"limit": 2, "offset": len(items)}, headers=hnw
        ).json()
        items += page["items"]
        if len(items) >= page["total"]:
            break
    assert main(["export", "history", "--portfolio", "DEMO_HNW"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == len(items) == len(world.dates) >= 3
    series = list(reversed(items))  # the API is newest first, the CSV oldest first
    for row, item in zip(rows, series, strict=True):
        assert row["as_of"] == item["as_of"]
        assert row["run_id"] == item["run_id"]
        for column in HISTORY_COLUMNS:
            if column in ("as_of", "run_id", "breaches"):
                continue
            # The same double on both sides: JSON and the CSV both print the shortest repr.
            assert item[column] == (None if row[column] == "" else float(row[column])), column
        assert item["beta_spy"] == item["beta_spy_150d"]
    # Sessions after the first have the actual history (C17) in both.
    assert series[0]["pnl"] is None and all(i["pnl"] is not None for i in series[1:])
    for previous, item in itertools.pairwise(series):
        assert item["pnl"] == pytest.approx(
            item["nav"] - previous["nav"] - item["external_flow"], rel=1e-12
        )
    # The figures documented in the OpenAPI schema are the ones the route returns.
    schema = client.get("/openapi.json").json()["components"]["schemas"]["SnapshotPoint"]
    assert set(schema["properties"]) == set(items[0])
    assert {c for c in HISTORY_COLUMNS if c != "breaches"} <= set(schema["properties"])
    assert "fraction" in schema["properties"]["hist_var_95"]["description"]
    assert json.dumps(items)  # plain JSON, no NaN


OWNED_BY_HNW = [
    ("get", ""),
    ("get", "/risk"),
    ("get", "/factor-exposures"),
    ("get", "/correlations"),
    ("get", "/stress"),
    ("get", "/snapshots"),
    ("get", "/reports"),
    ("get", "/reports/1"),
    ("get", "/reports/1/download"),
    ("post", "/analyze"),
]


@pytest.mark.parametrize(("method", "suffix"), OWNED_BY_HNW)
def test_another_users_portfolio_answers_404_like_a_missing_one(client, individual, method, suffix):
    kwargs = {"json": {"question": "What is my VaR?"}} if method == "post" else {}
    theirs = getattr(client, method)(f"{P}/DEMO_HNW{suffix}", headers=individual, **kwargs)
    missing = getattr(client, method)(f"{P}/NO_SUCH{suffix}", headers=individual, **kwargs)
    assert theirs.status_code == missing.status_code == 404
    assert error(theirs)["code"] == error(missing)["code"] == "portfolio_not_found"
    assert error(theirs)["message"] == "portfolio 'DEMO_HNW' not found"
    assert "nav" not in theirs.text


def test_portfolio_ids_that_cannot_exist_are_404_not_errors(client, hnw):
    for bad in ("x" * 65, "a b", "%00", "..%2F..%2Fetc", "DEMO_HNW%0A"):
        response = client.get(f"{P}/{bad}/risk", headers=hnw)
        assert response.status_code == 404, (bad, response.text)


def test_a_portfolio_without_results_says_so(client, hnw):
    with get_engine().begin() as conn:
        conn.execute(
            text(
                "DELETE FROM portfolio_snapshot WHERE portfolio_id = "
                "(SELECT id FROM portfolio WHERE external_id = 'HNW_EXTRA_A')"
            )
        )
    listed = client.get(P, headers=hnw).json()["items"]
    assert next(p for p in listed if p["id"] == "HNW_EXTRA_A")["current"] is None
    detail = client.get(f"{P}/HNW_EXTRA_A", headers=hnw).json()
    assert detail["as_of"] is None and detail["valuation"] is None
    assert all(p["market_value"] is None for p in detail["positions"])
    for suffix in ("/risk", "/factor-exposures", "/correlations", "/stress"):
        response = client.get(f"{P}/HNW_EXTRA_A{suffix}", headers=hnw)
        assert response.status_code == 404
        assert error(response)["code"] == "no_results"
    assert client.get(f"{P}/HNW_EXTRA_A/snapshots", headers=hnw).json()["total"] == 0
    answer = client.post(
        f"{P}/HNW_EXTRA_A/analyze", json={"question": "How risky?"}, headers=hnw
    ).json()
    assert answer["mode"] == "offline" and answer["as_of"] is None
    assert "No risk results are stored for HNW_EXTRA_A yet" in answer["answer"]
