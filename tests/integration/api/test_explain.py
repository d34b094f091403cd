"""The explain routes: contributions, attribution, backtest and limits of a stored snapshot.

The API world computed three sessions: the later two carry an attribution and a VaR change,
none has 60 sessions for a backtest, and no limit is configured. Limit states are either
written in their documented shape (FORMATS section 8) or computed by a real risk run after
``sigmasight limits set``.
"""

import json
from typing import Any

import pytest
from sqlalchemy import text

from sigmasight.db import get_engine, session_scope
from sigmasight.repositories import results as results_repo
from tests.integration.api.conftest import login

P = "/api/v1/portfolios"
ROUTES = ("contributions", "attribution", "backtest", "limits")


def error(response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}
    found: dict[str, Any] = body["error"]
    return found


def stored_document(client, headers, as_of=None) -> dict[str, Any]:
    params = {"as_of": as_of.isoformat()} if as_of else {}
    response = client.get(f"{P}/DEMO_HNW/risk", params=params, headers=headers)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def execute(sql: str, **params: Any) -> list[Any]:
    with get_engine().begin() as conn:
        result = conn.execute(text(sql), params)
        return list(result.all()) if result.returns_rows else []


def test_contributions_rank_the_documents_positions_and_add_up(client, hnw, world):
    document = stored_document(client, hnw)
    response = client.get(f"{P}/DEMO_HNW/contributions", headers=hnw)
    assert response.status_code == 200
    body = response.json()
    assert body["portfolio_id"] == "DEMO_HNW" and body["as_of"] == world.as_of.isoformat()
    block = document["decomposition"]
    positions = body["decomposition"]["positions"]
    assert body["positions_total"] == len(positions) == len(block["positions"]) == 17
    by_symbol = {p["symbol"]: p for p in block["positions"]}
    assert all(p == by_symbol[p["symbol"]] for p in positions)
    sizes = [abs(p["param_var_95"]["currency"]) for p in positions]
    assert sizes == sorted(sizes, reverse=True)
    total = sum(p["param_var_95"]["currency"] for p in positions)
    assert total == pytest.approx(document["risk"]["full"]["param_var_95"]["currency"], rel=1e-9)
    assert body["param_var_95"] == document["risk"]["full"]["param_var_95"]
    es = sum(p["cvar_95"]["currency"] for p in positions)
    assert es == pytest.approx(body["cvar_95"]["currency"], rel=1e-9)
    for key in ("by_underlying", "by_sector", "factor", "sigma_daily", "n_obs"):
        assert body["decomposition"][key] == block[key]
    assert body["benchmark"] == document["benchmark"]
    assert set(body["warnings"]) <= set(document["warnings"])

    top = client.get(f"{P}/DEMO_HNW/contributions", params={"top": 3}, headers=hnw).json()
    assert [p["symbol"] for p in top["decomposition"]["positions"]] == [
        p["symbol"] for p in positions[:3]
    ]
    assert top["positions_total"] == 17
    for bad in ("0", "-1", "10001", "x"):
        answer = client.get(f"{P}/DEMO_HNW/contributions", params={"top": bad}, headers=hnw)
        assert answer.status_code == 422 and error(answer)["code"] == "validation_error"


def test_contributions_of_a_date_without_stored_detail_are_rebuilt(make_client, world, monkeypatch):
    # The world's runs used 252 sessions of history; the rebuild reads the same setting.
    monkeypatch.setenv("SIGMASIGHT_RISK_LOOKBACK_SESSIONS", "252")
    client = make_client()
    headers = login(client, world.hnw_email, world.password)
    first = world.dates[0]
    params = {"as_of": first.isoformat()}
    before = client.get(f"{P}/DEMO_HNW/contributions", params=params, headers=headers).json()
    with session_scope() as session:
        dropped = results_repo.prune_detail(session, before=world.dates[1])
    assert dropped["position_risk"] > 0
    fresh = make_client()  # an empty document cache
    headers = login(fresh, world.hnw_email, world.password)
    after = fresh.get(f"{P}/DEMO_HNW/contributions", params=params, headers=headers)
    assert after.status_code == 200
    rebuilt = {p["symbol"]: p for p in after.json()["decomposition"]["positions"]}
    original = {p["symbol"]: p for p in before["decomposition"]["positions"]}
    assert set(rebuilt) == set(original)
    for symbol, old in original.items():
        for key in ("mctr_daily", "ctr_share"):
            assert rebuilt[symbol][key] == pytest.approx(old[key], rel=1e-9, abs=1e-15), (
                symbol,
                key,
            )
        for key in ("param_var_95", "cvar_95"):
            assert rebuilt[symbol][key]["currency"] == pytest.approx(
                old[key]["currency"], rel=1e-9, abs=1e-9
            ), (symbol, key)
    # The risk document of that date is rebuilt the same way.
    risk = fresh.get(f"{P}/DEMO_HNW/risk", params=params, headers=headers)
    assert risk.status_code == 200 and len(risk.json()["positions"]) == 17


def test_attribution_is_the_stored_block_with_positions_ranked(client, hnw, world):
    document = stored_document(client, hnw)
    body = client.get(f"{P}/DEMO_HNW/attribution", headers=hnw).json()
    block = document["attribution"]
    assert block is not None, document["warnings"]
    for key in ("holding_pnl", "factor_pnl", "specific_pnl", "trading_pnl", "by_factor"):
        assert body["attribution"][key] == block[key]
    ranked = sorted(block["positions"], key=lambda p: -abs(p["pnl"]))
    assert body["attribution"]["positions"] == ranked
    assert body["history"] == document["history"]
    assert block["holding_pnl"] + block["trading_pnl"] == pytest.approx(
        document["history"]["pnl"], rel=1e-9
    )
    assert block["factor_pnl"] + block["specific_pnl"] == pytest.approx(
        block["holding_pnl"], rel=1e-9
    )
    assert body["change"] == document["change"]
    change = body["change"]["hist_var_95"]
    assert change["previous"] + change["book_effect"] + change["market_effect"] == pytest.approx(
        document["risk"]["full"]["hist_var_95"]["fraction"], rel=1e-9
    )
    assert body["hist_var_95"] == document["risk"]["full"]["hist_var_95"]


def test_the_first_session_has_no_attribution_and_says_why(client, hnw, world):
    first = world.dates[0].isoformat()
    body = client.get(f"{P}/DEMO_HNW/attribution", params={"as_of": first}, headers=hnw).json()
    assert body["attribution"] is None and body["change"] is None and body["history"] is None
    assert any(w.startswith("attribution:") for w in body["warnings"])
    assert any(w.startswith("change:") for w in body["warnings"])


def test_backtest_days_are_the_stored_sessions_and_the_block_as_stored(client, hnw, world):
    body = client.get(f"{P}/DEMO_HNW/backtest", headers=hnw).json()
    assert body["backtest"] is None  # three sessions: fewer than 60
    (warning,) = body["warnings"]
    assert warning.startswith("backtest: ")
    rows = execute(
        "SELECT s.as_of_date, s.nav, s.pnl, s.hist_var_95, s.hist_var_99 "
        "FROM portfolio_snapshot s JOIN portfolio p ON p.id = s.portfolio_id "
        "WHERE p.external_id = 'DEMO_HNW' ORDER BY s.as_of_date"
    )
    expected = [
        {
            "as_of": day.isoformat(),
            "pnl": pnl,
            "var_95": rows[i - 1][3] * rows[i - 1][1],
            "var_99": rows[i - 1][4] * rows[i - 1][1],
            "exception_95": -pnl > rows[i - 1][3] * rows[i - 1][1],
            "exception_99": -pnl > rows[i - 1][4] * rows[i - 1][1],
        }
        for i, (day, _, pnl, _, _) in enumerate(rows)
        if i > 0 and pnl is not None
    ]
    assert body["days"] == expected
    assert len(expected) == int(warning.split()[1]) == 2

    stored = {
        "window": 250,
        "var_95": {"days": 80, "exceptions": 6, "expected": 4.0, "kupiec_lr": 0.9, "p_value": 0.34},
        "var_99": {
            "days": 80,
            "exceptions": 2,
            "expected": 0.8,
            "kupiec_lr": 1.3,
            "p_value": 0.25,
            "basel_zone": None,
        },
    }
    execute(
        "UPDATE portfolio_snapshot SET document = jsonb_set(document, '{backtest}', "
        "CAST(:block AS jsonb)) WHERE as_of_date = :d AND portfolio_id = "
        "(SELECT id FROM portfolio WHERE external_id = 'DEMO_HNW')",
        block=json.dumps(stored),
        d=world.as_of,
    )
    assert client.get(f"{P}/DEMO_HNW/backtest", headers=hnw).json()["backtest"] == stored
    earlier = client.get(
        f"{P}/DEMO_HNW/backtest", params={"as_of": world.dates[1].isoformat()}, headers=hnw
    ).json()
    assert earlier["days"] == expected[:1]  # only the sessions up to that date


LIMITS: list[dict[str, Any]] = [
    {"limit": "max_position_weight", "value": 0.12, "bound": 0.2, "status": "ok"},
    {"limit": "beta_spy_150d", "value": 1.7, "bound": [0.5, 1.5], "status": "continuing"},
    {"limit": "worst_stress_fraction", "value": None, "bound": 0.25, "status": "unknown"},
    {"limit": "gross_leverage", "value": 2.9, "bound": 2.5, "status": "new"},
    {"limit": "hist_var_95_fraction", "value": 0.01, "bound": 0.03, "status": "resolved"},
]


def set_limits(as_of, limits: Any) -> None:
    execute(
        "UPDATE portfolio_snapshot SET document = jsonb_set(document, '{limits}', "
        "CAST(:block AS jsonb)) WHERE as_of_date = :d AND portfolio_id = "
        "(SELECT id FROM portfolio WHERE external_id = 'DEMO_HNW')",
        block=json.dumps(limits),
        d=as_of,
    )


def test_limits_are_listed_breaches_first_with_their_counts(client, hnw, world):
    none = client.get(f"{P}/DEMO_HNW/limits", headers=hnw).json()
    assert none == {
        "portfolio_id": "DEMO_HNW",
        "as_of": world.as_of.isoformat(),
        "breaches": 0,
        "new": 0,
        "unknown": 0,
        "limits": [],  # no limit configured in the world
    }
    set_limits(world.as_of, LIMITS)
    body = client.get(f"{P}/DEMO_HNW/limits", headers=hnw).json()
    assert [e["status"] for e in body["limits"]] == [
        "new",
        "continuing",
        "unknown",
        "resolved",
        "ok",
    ]
    by_key = {e["limit"]: e for e in LIMITS}
    assert all(e == by_key[e["limit"]] for e in body["limits"])
    assert (body["breaches"], body["new"], body["unknown"]) == (2, 1, 1)
    # The document route carries the same block, typed.
    assert stored_document(client, hnw)["limits"] == LIMITS
    set_limits(world.as_of, [])
    assert client.get(f"{P}/DEMO_HNW/limits", headers=hnw).json()["limits"] == []


@pytest.mark.parametrize("route", ROUTES)
def test_another_users_portfolio_is_the_same_404_as_none(client, individual, hnw, route):
    theirs = client.get(f"{P}/DEMO_HNW/{route}", headers=individual)
    nobody = client.get(f"{P}/NO_SUCH_BOOK/{route}", headers=individual)
    assert theirs.status_code == nobody.status_code == 404
    assert error(theirs) == {
        "code": "portfolio_not_found",
        "message": "portfolio 'DEMO_HNW' not found",
    }
    assert error(nobody)["code"] == "portfolio_not_found"
    assert client.get(f"{P}/DEMO_HNW/{route}", headers=hnw).status_code == 200
    assert client.get(f"{P}/DEMO_HNW/{route}").status_code == 401


@pytest.mark.parametrize("route", ROUTES)
def test_hostile_ids_dates_and_query_strings_get_problem_json(client, hnw, route):
    for bad_id in ("..%2F..%2Fetc", "x" * 300, "%00", "DEMO HNW"):
        response = client.get(f"{P}/{bad_id}/{route}", headers=hnw)
        assert response.status_code == 404, (bad_id, response.text)
        # a slash in the id matches no route at all: the generic 404
        assert error(response)["code"] in {"portfolio_not_found", "not_found"}
    for bad_date in ("2025-13-45", "yesterday", "9" * 5000, "2025-02-30"):
        response = client.get(f"{P}/DEMO_HNW/{route}", params={"as_of": bad_date}, headers=hnw)
        assert response.status_code == 422, bad_date
        assert error(response)["code"] == "validation_error"
    missing = client.get(f"{P}/DEMO_HNW/{route}", params={"as_of": "2001-01-02"}, headers=hnw)
    assert missing.status_code == 404
    assert error(missing) == {
        "code": "no_results",
        "message": "no risk results for portfolio 'DEMO_HNW' on 2001-01-02",
    }
    # A huge query string of unknown parameters is ignored, not an error.
    junk = "&".join(f"p{i}={'z' * 50}" for i in range(400))
    assert client.get(f"{P}/DEMO_HNW/{route}?{junk}", headers=hnw).status_code == 200


def test_the_routes_are_documented_with_their_models(client):
    schema = client.get("/openapi.json").json()
    models = {
        "contributions": "Contributions",
        "attribution": "AttributionOut",
        "backtest": "BacktestOut",
        "limits": "LimitsOut",
    }
    for route, model in models.items():
        operation = schema["paths"][f"/api/v1/portfolios/{{portfolio_id}}/{route}"]["get"]
        assert {"200", "401", "404", "422"} <= set(operation["responses"])
        ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok == {"$ref": f"#/components/schemas/{model}"}
        assert "as_of" in {p["name"] for p in operation["parameters"]}
        assert operation["description"] or operation["summary"]
    limit_state = schema["components"]["schemas"]["LimitState"]
    assert set(limit_state["properties"]["status"]["enum"]) == {
        "ok",
        "new",
        "continuing",
        "resolved",
        "unknown",
    }


def test_limits_set_then_a_risk_run_gives_a_new_breach(client, hnw, world):
    from sigmasight.runs.limits import set_limit
    from tests.integration.api.world import run_risk

    set_limit("DEMO_HNW", "gross_leverage", ["0.5"])
    set_limit(None, "beta_spy_150d", ["-5", "5"])
    run_risk(world.as_of)
    body = client.get(f"{P}/DEMO_HNW/limits", headers=hnw).json()
    document = stored_document(client, hnw)
    gross = document["valuation"]["gross_leverage"]
    assert gross > 0.5
    assert body["limits"] == [
        {"limit": "gross_leverage", "value": gross, "bound": 0.5, "status": "new"},
        {
            "limit": "beta_spy_150d",
            "value": document["beta_spy"]["150d"],
            "bound": [-5.0, 5.0],
            "status": "ok",
        },
    ]
    assert (body["breaches"], body["new"], body["unknown"]) == (1, 1, 0)
    assert document["limits"] == sorted(
        body["limits"], key=lambda e: e["limit"] != "gross_leverage"
    )
    # The user's other portfolios get the default only; another user's list is untouched.
    extra = client.get(f"{P}/HNW_EXTRA_A/limits", headers=hnw).json()
    assert [e["limit"] for e in extra["limits"]] == ["beta_spy_150d"]
