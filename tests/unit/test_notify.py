import json
import logging

import httpx

from sigmasight.notify import notify_failure


def test_payload_and_refusal_logging(caplog):
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(500)

    caplog.set_level(logging.DEBUG)
    ok = notify_failure(
        "https://hooks.example/T/B/secret-token",
        flow="backup",
        flow_run_id="abc",
        state="Crashed",
        as_of=None,
        error="disk full",
        transport=httpx.MockTransport(handler),
    )
    assert ok is False
    assert (
        seen[0]["flow"] == "backup"
        and seen[0]["state"] == "Crashed"
        and seen[0]["error"] == "disk full"
    )
    assert "secret-token" not in caplog.text
    assert "HTTP 500" in caplog.text


def test_breach_alert_payload_lists_every_breach_and_hides_the_url(caplog):
    import datetime as dt

    from sigmasight.notify import TEXT_BREACHES, notify_breaches
    from sigmasight.repositories.limits import Breach

    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(200) if len(seen) == 1 else httpx.Response(404)

    breaches = [
        Breach(1, "P1", "gross_leverage", 2.71, 2.5),
        Breach(2, "P2", "beta_spy_150d", 1.62, [0.5, 1.5]),
    ]
    many = [
        Breach(i, f"P{i:03d}", "max_position_weight", 0.3, 0.2) for i in range(TEXT_BREACHES + 3)
    ]
    caplog.set_level(logging.DEBUG)
    url = "https://hooks.example/T/B/breach-token"
    day = dt.date(2025, 12, 2)
    assert notify_breaches(
        url, as_of=day, breaches=breaches, transport=httpx.MockTransport(handler)
    )
    body = seen[0]
    assert body["as_of"] == "2025-12-02" and body["kind"] == "limit_breaches"
    assert body["breaches"] == [
        {"portfolio": "P1", "limit": "gross_leverage", "value": 2.71, "bound": 2.5},
        {"portfolio": "P2", "limit": "beta_spy_150d", "value": 1.62, "bound": [0.5, 1.5]},
    ]
    assert "2 new limit breaches on 2025-12-02" in body["text"]
    assert "P1: gross_leverage 2.71 (limit 2.5)" in body["text"]
    assert "P2: beta_spy_150d 1.62 (range [0.5, 1.5])" in body["text"]
    # A refused message says so; a long list is cut in the text only.
    assert not notify_breaches(
        url, as_of=day, breaches=many, transport=httpx.MockTransport(handler)
    )
    assert len(seen[1]["breaches"]) == TEXT_BREACHES + 3
    assert seen[1]["text"].count("\n") == TEXT_BREACHES + 1 and "and 3 more" in seen[1]["text"]
    assert "HTTP 404" in caplog.text and "breach-token" not in caplog.text
