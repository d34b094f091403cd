"""A failed flow run posts to the webhook: flow, run link, as_of and the error."""

import datetime as dt
import json

import pytest
from pytest_httpserver import HTTPServer

from flows.nightly_risk import nightly_risk
from sigmasight import db as sdb
from sigmasight.settings import get_settings


def test_failed_run_posts_to_the_webhook(
    engine, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
):
    httpserver.expect_request("/hooks/T000/B000/XXXX", method="POST").respond_with_data("ok")
    monkeypatch.setenv("SLACK_WEBHOOK_URL", httpserver.url_for("/hooks/T000/B000/XXXX"))
    monkeypatch.setenv("PREFECT_UI_URL", "http://127.0.0.1:4200")
    get_settings.cache_clear()
    sdb.reset_engine()
    # No prices at all: the run fails in its preparation step.
    state = nightly_risk(as_of=dt.date(2025, 11, 24), return_state=True)
    assert state.is_failed()
    (request, _response), *_ = httpserver.log
    body = json.loads(request.get_data())
    assert body["flow"] == "nightly-risk"
    assert body["as_of"] == "2025-11-24"
    assert body["state"] == "Failed"
    assert "no factor ETFs are defined" in body["error"]
    assert body["link"].startswith("http://127.0.0.1:4200/runs/flow-run/")
    assert body["flow_run_id"] in body["link"]
    assert "nightly-risk" in body["text"]


def test_an_unreachable_webhook_does_not_hide_the_failure(engine, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "http://127.0.0.1:9/secret-token-path")
    get_settings.cache_clear()
    sdb.reset_engine()
    state = nightly_risk(as_of=dt.date(2025, 11, 24), return_state=True)
    assert state.is_failed()
    assert "no factor ETFs are defined" in (state.message or "")
