"""The narrative against a local OpenAI-compatible server, offline, and on failure."""

import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from sigmasight.documents import RiskDocument
from sigmasight.reports.narrative import SYSTEM_PROMPT, NarrativeWriter, template_narrative

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "risk_document_hedge_fund.json"
DOC = RiskDocument.model_validate_json(FIXTURE.read_text())
KEY = "sk-test-7f3a9c1e5b2d4f6a8c0e"
COMPLETIONS = "/v1/chat/completions"


def completion(content: str | None) -> dict[str, Any]:
    """A chat-completions response shaped like OpenAI's."""
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1_764_000_000,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 500, "completion_tokens": 80, "total_tokens": 580},
    }


def writer(server: HTTPServer, **options: Any) -> NarrativeWriter:
    values: dict[str, Any] = {
        "api_key": KEY,
        "model": "gpt-4o-mini",
        "base_url": server.url_for("/v1"),
        "timeout_s": 5.0,
        "max_retries": 0,
    }
    values.update(options)
    return NarrativeWriter(**values)


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)  # the SDK's and httpx's debug logs included
    return caplog


def test_without_a_key_the_template_is_used():
    narrative = NarrativeWriter(api_key=None).write(DOC)
    assert narrative.source == "template"
    assert narrative.text == template_narrative(DOC)
    assert narrative.note == "OPENAI_API_KEY is not set"


def test_a_local_openai_compatible_server_writes_the_commentary(httpserver: HTTPServer, all_logs):
    text = "The book's one-day 95% VaR is $97,387, 2.82% of NAV."
    httpserver.expect_request(COMPLETIONS, method="POST").respond_with_json(completion(text))
    with writer(httpserver) as w:
        narrative = w.write(DOC, {"SPY": "Market"})
    assert narrative.source == "openai" and narrative.model == "gpt-4o-mini"
    assert narrative.text == text
    ((request, _),) = httpserver.log
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    body = request.get_json()
    assert body["model"] == "gpt-4o-mini" and body["temperature"] == 0
    system, user = body["messages"]
    assert system == {"role": "system", "content": SYSTEM_PROMPT}
    assert (
        "Use only the figures" in system["content"] and "no investment advice" in system["content"]
    )
    facts = json.loads(user["content"].split("\n", 1)[1])
    assert facts["portfolio"] == "DEMO_HEDGE_FUND"
    assert facts["one_day_risk_full_history"]["hist_var_95"] == pytest.approx(
        DOC.risk["full"].hist_var_95.currency, rel=1e-3
    )
    assert "SPY (Market)" in facts["factor_betas"]
    assert "matrix" not in user["content"]  # the prompt stays small
    assert KEY not in all_logs.text


def test_a_server_error_falls_back_to_the_template_and_stops_after_three(
    httpserver: HTTPServer, all_logs
):
    httpserver.expect_request(COMPLETIONS).respond_with_json(
        {"error": {"message": f"boom (key {KEY})", "type": "server_error"}}, status=500
    )
    with writer(httpserver) as w:
        narratives = [w.write(DOC) for _ in range(5)]
    assert [n.source for n in narratives] == ["template"] * 5
    assert all(n.text == template_narrative(DOC) for n in narratives)
    assert narratives[0].note is not None and "InternalServerError" in narratives[0].note
    assert "consecutive failures" in (narratives[-1].note or "")
    assert len(httpserver.log) == 3  # no calls after three failures in a row
    assert "using the template" in all_logs.text
    assert KEY not in all_logs.text and all(KEY not in (n.note or "") for n in narratives)


def test_an_empty_answer_or_a_timeout_falls_back(httpserver: HTTPServer):
    httpserver.expect_ordered_request(COMPLETIONS).respond_with_json(completion("  "))

    def slow(request: Request) -> Response:
        time.sleep(0.8)
        return Response(json.dumps(completion("late")), content_type="application/json")

    httpserver.expect_ordered_request(COMPLETIONS).respond_with_handler(slow)
    with writer(httpserver, timeout_s=0.3) as w:
        empty, late = w.write(DOC), w.write(DOC)
    assert empty.source == late.source == "template"
    assert "empty commentary" in (empty.note or "")
    assert "Timeout" in (late.note or "")


def test_an_unreachable_server_falls_back(all_logs):
    narrative = NarrativeWriter(
        api_key=KEY, base_url="http://127.0.0.1:9/v1", timeout_s=1.0, max_retries=0
    ).write(DOC)
    assert narrative.source == "template"
    assert "APIConnectionError" in (narrative.note or "")
    assert KEY not in all_logs.text


def test_many_documents_are_written_concurrently(httpserver: HTTPServer):
    httpserver.expect_request(COMPLETIONS).respond_with_json(completion("Fine."))
    with writer(httpserver) as w:
        narratives = w.write_many([DOC] * 6, workers=3)
    assert [n.text for n in narratives] == ["Fine."] * 6
    # (A request of an earlier test that timed out on the client may still be logged.)
    assert sum(b"Fine." in response.get_data() for _, response in httpserver.log) == 6
