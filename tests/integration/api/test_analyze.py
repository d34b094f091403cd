"""POST /api/v1/portfolios/{id}/analyze: offline, and against a fake OpenAI-compatible server."""

import json
import logging
import time
from typing import Any

import pytest
from werkzeug import Request, Response

from sigmasight.runs.risk import export_documents
from sigmasight.settings import get_settings

URL = "/api/v1/portfolios/DEMO_HNW/analyze"
KEY = "sk-test-0123456789abcdefSECRETKEY"


def completion(message: dict[str, Any], model: str = "gpt-4o-mini") -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", **message},
                "finish_reason": "tool_calls" if message.get("tool_calls") else "stop",
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
    }


def tool_call(call_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(arguments)},
    }


class FakeOpenAI:
    """Answers like the chat-completions API: first asks for tools, then answers from them."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, Any]] = []

    def __call__(self, request: Request) -> Response:
        body = json.loads(request.data)
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        tool_results = [m for m in body["messages"] if m["role"] == "tool"]
        message: dict[str, Any]
        if not tool_results:
            message = {
                "content": None,
                "tool_calls": [
                    tool_call("call_1", "get_risk_summary", {}),
                    tool_call("call_2", "get_factor_exposures", {}),
                    tool_call("call_3", "get_stress_results", {"limit": 2}),
                    tool_call("call_4", "get_reports", {}),
                ],
            }
        else:
            summary = json.loads(tool_results[0]["content"])
            nav = summary["valuation"]["nav"]
            message = {"content": f"NAV is {nav:.2f} as of {summary['as_of']}."}
        return Response(json.dumps(completion(message)), content_type="application/json")


@pytest.fixture
def openai_env(api_db, monkeypatch, httpserver):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", httpserver.url_for("/v1"))
    monkeypatch.setenv("SIGMASIGHT_OPENAI_MODEL", "test-model")
    return httpserver


def test_offline_answer_is_built_from_the_stored_figures(client, hnw, world):
    response = client.post(URL, json={"question": "  What drives my VaR?  "}, headers=hnw)
    assert response.status_code == 200
    body = response.json()
    assert body["mode"] == "offline" and body["model"] is None
    assert body["question"] == "What drives my VaR?"
    assert body["note"] == "no language model configured; answer built from the stored figures"
    answer = body["answer"]
    assert answer.startswith("No language model configured; answer built from the stored figures.")
    document = export_documents(get_settings(), world.as_of, "DEMO_HNW")[0].as_json()
    nav = document["valuation"]["nav"]
    var95 = document["risk"]["full"]["hist_var_95"]["currency"]
    assert f"NAV ${nav:,.0f}" in answer
    assert f"VaR ${var95:,.0f}" in answer
    lines = answer.splitlines()
    # The question's topics come first: what drives the VaR, then the VaR itself.
    assert lines[3].startswith("- Risk drivers:")
    assert lines[4].startswith("- Risk:")
    assert {c["name"] for c in body["tool_calls"]} == {
        "get_risk_summary",
        "get_factor_exposures",
        "get_stress_results",
        "get_positions",
        "get_risk_contributions",
        "get_risk_change",
        "get_limits",
        "get_backtest",
        "get_reports",
    }
    assert body["as_of"] == world.as_of.isoformat()


@pytest.mark.parametrize(
    "payload",
    [{}, {"question": ""}, {"question": "   "}, {"question": "x" * 2001}, {"question": 42}],
)
def test_the_question_is_validated(client, hnw, payload):
    response = client.post(URL, json=payload, headers=hnw)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


def test_a_question_of_2000_characters_is_fine(client, hnw):
    assert client.post(URL, json={"question": "x" * 2000}, headers=hnw).status_code == 200


def test_with_a_key_the_model_answers_after_calling_the_tools(
    openai_env, make_client, world, caplog
):
    fake = FakeOpenAI()
    openai_env.expect_request("/v1/chat/completions", method="POST").respond_with_handler(fake)
    from tests.integration.api.conftest import login

    client = make_client()
    headers = login(client, world.hnw_email, world.password)
    with caplog.at_level(logging.DEBUG):
        response = client.post(URL, json={"question": "How big is the book?"}, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    nav = export_documents(get_settings(), world.as_of, "DEMO_HNW")[0].valuation.nav
    assert body["mode"] == "llm" and body["model"] == "gpt-4o-mini"
    assert body["answer"] == f"NAV is {nav:.2f} as of {world.as_of}."
    assert [c["name"] for c in body["tool_calls"]] == [
        "get_risk_summary",
        "get_factor_exposures",
        "get_stress_results",
        "get_reports",
    ]
    assert body["tool_calls"][2]["arguments"] == {"limit": 2}
    # Two rounds: the tool request, then the answer with every tool's result.
    assert len(fake.requests) == 2
    first, second = fake.requests
    assert first["model"] == "test-model" and first["temperature"] == 0
    assert {t["function"]["name"] for t in first["tools"]} >= {
        "get_risk_summary",
        "get_factor_exposures",
        "get_reports",
    }
    results = {
        m["tool_call_id"]: json.loads(m["content"])
        for m in second["messages"]
        if m["role"] == "tool"
    }
    assert results["call_1"]["portfolio_id"] == "DEMO_HNW"
    assert results["call_2"]["factors"][0]["factor"] == "SPY"
    assert len(results["call_3"]["worst"]) == 2
    assert results["call_4"]["reports"] == 8
    assert results["call_4"]["latest_markdown"]["text"].startswith("# Demo High Net Worth")
    # The key goes to the model server only: never to logs or to the client.
    assert fake.headers[0]["Authorization"] == f"Bearer {KEY}"
    assert KEY not in caplog.text
    assert KEY not in response.text


def test_a_model_that_fails_falls_back_to_the_stored_figures(
    openai_env, make_client, world, caplog, monkeypatch
):
    monkeypatch.setenv("SIGMASIGHT_OPENAI_MAX_RETRIES", "1")
    calls = []

    def broken(request: Request) -> Response:
        calls.append(1)
        return Response(json.dumps({"error": {"message": f"bad key {KEY}"}}), status=500)

    openai_env.expect_request("/v1/chat/completions", method="POST").respond_with_handler(broken)
    from tests.integration.api.conftest import login

    client = make_client()
    headers = login(client, world.hnw_email, world.password)
    with caplog.at_level(logging.DEBUG):
        response = client.post(URL, json={"question": "VaR?"}, headers=headers)
    assert response.status_code == 200
    body = response.json()
    assert body["mode"] == "offline"
    assert body["note"] == (
        "the language model failed (InternalServerError 500); answer built from the stored figures"
    )
    assert body["answer"].startswith("The language model failed (InternalServerError 500)")
    assert len(calls) == 2  # one retry
    assert KEY not in caplog.text and KEY not in response.text


def test_a_slow_model_times_out_and_falls_back(openai_env, make_client, world, monkeypatch):
    monkeypatch.setenv("SIGMASIGHT_OPENAI_TIMEOUT_S", "0.3")
    monkeypatch.setenv("SIGMASIGHT_OPENAI_MAX_RETRIES", "0")

    def slow(request: Request) -> Response:
        time.sleep(2.0)
        return Response(
            json.dumps(completion({"content": "late"})), content_type="application/json"
        )

    openai_env.expect_request("/v1/chat/completions", method="POST").respond_with_handler(slow)
    from tests.integration.api.conftest import login

    client = make_client()
    headers = login(client, world.hnw_email, world.password)
    started = time.perf_counter()
    body = client.post(URL, json={"question": "VaR?"}, headers=headers).json()
    assert time.perf_counter() - started < 1.5  # the model would have taken 2 s
    assert body["mode"] == "offline"
    assert "APITimeoutError" in body["note"]


def test_tool_calls_are_confined_to_the_portfolio(openai_env, make_client, world):
    """A model asking for an unknown tool or with bad arguments gets an error result."""

    def handler(request: Request) -> Response:
        body = json.loads(request.data)
        tool_results = [m for m in body["messages"] if m["role"] == "tool"]
        message: dict[str, Any]
        if not tool_results:
            message = {
                "content": None,
                "tool_calls": [
                    tool_call("a", "drop_tables", {}),
                    {
                        "id": "b",
                        "type": "function",
                        "function": {"name": "get_positions", "arguments": "[1]"},
                    },
                    tool_call(
                        "c", "get_positions", {"limit": 10_000, "portfolio": "DEMO_INDIVIDUAL"}
                    ),
                ],
            }
        else:
            message = {"content": json.dumps([json.loads(m["content"]) for m in tool_results])}
        return Response(json.dumps(completion(message)), content_type="application/json")

    openai_env.expect_request("/v1/chat/completions", method="POST").respond_with_handler(handler)
    from tests.integration.api.conftest import login

    client = make_client()
    headers = login(client, world.hnw_email, world.password)
    body = client.post(URL, json={"question": "positions?"}, headers=headers).json()
    unknown, bad_args, positions = json.loads(body["answer"])
    assert unknown == {"error": "unknown tool 'drop_tables'"}
    assert bad_args == {"error": "arguments must be a JSON object"}
    assert positions["positions"] == 17 and len(positions["largest"]) == 17


def money(value: float) -> str:
    return f"{'-' if value < 0 else ''}${abs(value):,.0f}"


def signed_money(value: float) -> str:
    return ("+" if value >= 0 else "") + money(value)


def signed_pct(value: float) -> str:
    return f"{'+' if value >= 0 else ''}{value * 100:.3f} %"


def test_offline_what_drives_my_risk_names_the_top_contributors(client, hnw, world):
    body = client.post(URL, json={"question": "What drives my risk?"}, headers=hnw).json()
    document = export_documents(get_settings(), world.as_of, "DEMO_HNW")[0].as_json()
    block = document["decomposition"]
    ranked = sorted(block["positions"], key=lambda p: -abs(p["param_var_95"]["currency"]))
    total = document["risk"]["full"]["param_var_95"]["currency"]
    first = body["answer"].splitlines()[3]
    assert first.startswith(f"- Risk drivers: of the 95 % parametric VaR {money(total)}, ")
    for p in ranked[:3]:
        share = p["param_var_95"]["currency"] / total
        assert (
            f"{p['symbol']} {money(p['param_var_95']['currency'])} ({share * 100:.0f} % of it, "
            f"{p['ctr_share'] * 100:.0f} % of volatility)"
        ) in first
    assert ranked[3]["symbol"] + " $" not in first.split("; by sector")[0]
    sector, group = max(block["by_sector"].items(), key=lambda kv: abs(kv[1]["ctr_share"]))
    assert f"by sector {sector} {group['ctr_share'] * 100:.0f} %" in first
    split = block["factor"]
    systematic = split["systematic_variance"] / split["total_variance"]
    assert f"variance {systematic * 100:.0f} % systematic (factors)" in first
    calls = [c for c in body["tool_calls"] if c["name"] == "get_risk_contributions"]
    assert calls == [{"name": "get_risk_contributions", "arguments": {"limit": 3}}]


def test_offline_why_did_var_rise_splits_book_and_market_effects(client, hnw, world):
    body = client.post(URL, json={"question": "Why did VaR rise?"}, headers=hnw).json()
    document = export_documents(get_settings(), world.as_of, "DEMO_HNW")[0].as_json()
    change = document["change"]["hist_var_95"]
    today = document["risk"]["full"]["hist_var_95"]["fraction"]
    first = body["answer"].splitlines()[3]
    assert first.startswith(f"- Change since {world.dates[1]}: 95 % historical VaR ")
    assert f"-> {today * 100:.3f} % of NAV ({signed_pct(today - change['previous'])})" in first
    assert f"book effect (trades) {signed_pct(change['book_effect'])}" in first
    assert f"market effect (new prices) {signed_pct(change['market_effect'])}" in first
    attribution = document["attribution"]
    assert f"P&L {signed_money(document['history']['pnl'])}: " in first
    assert f"holding {signed_money(attribution['holding_pnl'])}" in first
    assert f"trading {signed_money(attribution['trading_pnl'])}" in first
    biggest = max(attribution["positions"], key=lambda p: abs(p["pnl"]))
    assert f"largest moves {biggest['symbol']} {signed_money(biggest['pnl'])}" in first
    # No backtest yet: the answer says why, from the stored warning.
    backtest = next(line for line in body["answer"].splitlines() if "Backtest" in line)
    assert backtest.startswith("- Backtest: not yet (backtest: ")


def test_offline_breaches_lead_whatever_the_question(client, hnw, world):
    from tests.integration.api.test_browser_view import set_current_limits

    set_current_limits(
        "DEMO_HNW",
        [
            {"limit": "gross_leverage", "value": 1.2, "bound": 2.5, "status": "ok"},
            {"limit": "hist_var_95_fraction", "value": 0.041, "bound": 0.03, "status": "new"},
        ],
    )
    body = client.post(URL, json={"question": "How big is my book?"}, headers=hnw).json()
    first = body["answer"].splitlines()[3]
    assert first == (
        "- Limits: 1 in breach - hist_var_95_fraction new (value 0.0410, bound 0.0300)."
    )


class ExplainingModel:
    """Asks for the contributions and the change, then answers from their results."""

    def __init__(self) -> None:
        self.results: dict[str, Any] = {}

    def __call__(self, request: Request) -> Response:
        body = json.loads(request.data)
        tool_results = [m for m in body["messages"] if m["role"] == "tool"]
        message: dict[str, Any]
        if not tool_results:
            message = {
                "content": None,
                "tool_calls": [
                    tool_call("c1", "get_risk_contributions", {"limit": 2}),
                    tool_call("c2", "get_risk_change", {}),
                    tool_call("c3", "get_limits", {}),
                    tool_call("c4", "get_backtest", {}),
                ],
            }
        else:
            self.results = {m["tool_call_id"]: json.loads(m["content"]) for m in tool_results}
            top = self.results["c1"]["top_contributors"][0]
            effect = self.results["c2"]["var_change"]["market_effect_fraction"]
            message = {"content": f"{top['symbol']} drives it; market effect {effect:.6f}."}
        return Response(json.dumps(completion(message)), content_type="application/json")


def test_with_a_key_the_model_explains_from_the_new_tools(openai_env, make_client, world):
    model = ExplainingModel()
    openai_env.expect_request("/v1/chat/completions", method="POST").respond_with_handler(model)
    from tests.integration.api.conftest import login

    client = make_client()
    headers = login(client, world.hnw_email, world.password)
    body = client.post(URL, json={"question": "What drives my risk?"}, headers=headers).json()
    assert body["mode"] == "llm"
    document = export_documents(get_settings(), world.as_of, "DEMO_HNW")[0].as_json()
    ranked = sorted(
        document["decomposition"]["positions"], key=lambda p: -abs(p["param_var_95"]["currency"])
    )
    change = document["change"]["hist_var_95"]
    assert body["answer"] == (
        f"{ranked[0]['symbol']} drives it; market effect {change['market_effect']:.6f}."
    )
    contributions = model.results["c1"]
    assert [c["symbol"] for c in contributions["top_contributors"]] == [
        p["symbol"] for p in ranked[:2]
    ]
    assert contributions["positions"] == len(ranked)
    assert contributions["param_var_95"] == document["risk"]["full"]["param_var_95"]
    assert (
        contributions["factor_split"]["factor_shares"]
        == document["decomposition"]["factor"]["contributions"]
    )
    risk_change = model.results["c2"]
    assert risk_change["var_change"]["book_effect_fraction"] == change["book_effect"]
    assert risk_change["attribution"]["holding_pnl"] == document["attribution"]["holding_pnl"]
    assert risk_change["actual_pnl"] == document["history"]["pnl"]
    assert model.results["c3"] == {
        "as_of": world.as_of.isoformat(),
        "breaches": 0,
        "unknown": 0,
        "limits": [],  # none configured in the world
    }
    backtest = model.results["c4"]
    assert backtest["backtest"] is None and backtest["days_with_pnl_and_var"] == 2
    assert backtest["warnings"][0].startswith("backtest: 2 sessions")
    assert [c["name"] for c in body["tool_calls"]] == [
        "get_risk_contributions",
        "get_risk_change",
        "get_limits",
        "get_backtest",
    ]
