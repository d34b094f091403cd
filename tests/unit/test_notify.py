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
