"""Failure notifications: a JSON POST to SLACK_WEBHOOK_URL (Slack's incoming-webhook shape).

Any webhook that accepts JSON works: the body carries Slack's ``text`` plus the same facts as
fields. A notification that cannot be delivered is logged (without the URL, which embeds a
token) and never masks the failure it reports.
"""

import logging
import os

import httpx

from sigmasight.logs import redact_in_httpx_logs

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
