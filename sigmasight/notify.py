"""Notifications: a JSON POST to SLACK_WEBHOOK_URL (Slack's incoming-webhook shape).

Failed flow runs, and new limit breaches (C31). Any webhook that accepts JSON works: the
body carries Slack's ``text`` plus the same facts as fields. A notification that cannot be
delivered is logged (without the URL, which embeds a token) and never masks the failure it
reports.
"""

import datetime as dt
import logging
import os
from collections.abc import Sequence
from typing import Any

import httpx

from sigmasight.logs import redact_in_httpx_logs
from sigmasight.repositories.limits import Breach

log = logging.getLogger(__name__)


def run_link(flow_run_id: str) -> str:
    """Where a person sees the run: the Prefect UI when ``PREFECT_UI_URL`` is known."""
    ui = os.environ.get("PREFECT_UI_URL", "").rstrip("/")
    return f"{ui}/runs/flow-run/{flow_run_id}" if ui else f"flow run {flow_run_id}"


def notify_failure(
    webhook_url: str,
    *,
    flow: str,
    flow_run_id: str,
    state: str,
    as_of: str | None,
    error: str,
    timeout_s: float = 10.0,
    transport: httpx.BaseTransport | None = None,
) -> bool:
    """Post one failure message; True when the webhook accepted it."""
    redact_in_httpx_logs(webhook_url)  # the URL embeds the webhook's token
    link = run_link(flow_run_id)
    text = f":rotating_light: SigmaSight flow *{flow}* {state.lower()}" + (
        f" for {as_of}" if as_of else ""
    )
    text += f"\n{error[:1500]}\n{link}"
    payload = {
        "text": text,
        "flow": flow,
        "flow_run_id": flow_run_id,
        "state": state,
        "as_of": as_of,
        "error": error[:4000],
        "link": link,
    }
    try:
        with httpx.Client(timeout=timeout_s, transport=transport) as client:
            response = client.post(webhook_url, json=payload)
        if response.status_code >= 300:
            log.error(
                "failure notification for %s was refused: HTTP %s", flow, response.status_code
            )
            return False
    except httpx.HTTPError as exc:
        log.error("failure notification for %s could not be sent: %s", flow, type(exc).__name__)
        return False
    return True


#: Breaches written out in the message's text; the rest are counted (all are in ``breaches``).
TEXT_BREACHES = 50


def _bound_text(bound: float | list[float]) -> str:
    if isinstance(bound, list):
        return f"range [{bound[0]:g}, {bound[1]:g}]"
    return f"limit {bound:g}"


def notify_breaches(
    webhook_url: str,
    *,
    as_of: dt.date,
    breaches: Sequence[Breach],
    timeout_s: float = 10.0,
    transport: httpx.BaseTransport | None = None,
) -> bool:
    """Post one message listing new limit breaches; True when the webhook accepted it."""
    redact_in_httpx_logs(webhook_url)
    n = len(breaches)
    lines = [
        f"• {b.portfolio}: {b.limit} {b.value:.4g} ({_bound_text(b.bound)})"
        for b in breaches[:TEXT_BREACHES]
    ]
    if n > TEXT_BREACHES:
        lines.append(f"… and {n - TEXT_BREACHES} more")
    text = f":warning: SigmaSight: {n} new limit breach{'es' if n != 1 else ''} on {as_of}\n"
    payload: dict[str, Any] = {
        "text": text + "\n".join(lines),
        "kind": "limit_breaches",
        "as_of": as_of.isoformat(),
        "breaches": [
            {"portfolio": b.portfolio, "limit": b.limit, "value": b.value, "bound": b.bound}
            for b in breaches
        ],
    }
    try:
        with httpx.Client(timeout=timeout_s, transport=transport) as client:
            response = client.post(webhook_url, json=payload)
        if response.status_code >= 300:
            log.error("limit breach alert for %s was refused: HTTP %s", as_of, response.status_code)
            return False
    except httpx.HTTPError as exc:
        log.error("limit breach alert for %s could not be sent: %s", as_of, type(exc).__name__)
        return False
    return True
