"""Run-ledger tasks and the flow hooks that close a run row when a flow fails or crashes."""

import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from prefect import Flow, State, get_run_logger, runtime, task
from prefect.client.schemas.objects import FlowRun
from prefect.states import Completed

from sigmasight.notify import notify_failure
from sigmasight.runs import ledger
from sigmasight.settings import get_settings


def current_flow_run_id() -> uuid.UUID | None:
    """The Prefect flow-run id of the calling flow or task, if any."""
    value = runtime.flow_run.id
    return uuid.UUID(str(value)) if value else None


@contextmanager
def guarded(flow: str, as_of: dt.date | None) -> Iterator[State[Any] | None]:
    """Hold the (flow, date) guard for the block; yields a Skipped state when it is taken.

    Used by every flow around its body (``sigmasight.runs.ledger.run_guard``): a second run
    of the same flow and date does nothing and says why, and stale ``running`` rows left by
    dead processes are marked crashed first.
    """
    with ExitStack() as stack:
        try:
            stack.enter_context(ledger.run_guard(flow, as_of))
        except ledger.RunAlreadyActive as exc:
            get_run_logger().warning("%s", exc)
            yield Completed(name="Skipped", message=str(exc))
            return
        yield None


@task
def open_run(flow: str, as_of: dt.date | None, inputs: dict[str, Any]) -> uuid.UUID:
    """Open the run-ledger row; its id is this Prefect flow run's id."""
    run_id = ledger.open_run(flow, as_of=as_of, inputs=inputs, run_id=current_flow_run_id())
    get_run_logger().info("run %s: %s for %s", run_id, flow, as_of)
    return run_id


@task
def close_run(
    run_id: uuid.UUID, status: str, counts: dict[str, Any], timings: dict[str, Any]
) -> None:
    """Close the run-ledger row with its counts and timings."""
    ledger.close_run(run_id, status, counts=counts, timings=timings)


def mark_run_failed(flow: Flow[..., Any], flow_run: FlowRun, state: State[Any]) -> None:
    """Flow hook (on_failure / on_crashed): the ledger row says failed; the webhook hears of it."""
    message = str(state.message or state.name)
    try:
        ledger.close_run(uuid.UUID(str(flow_run.id)), "failed", error=message[:4000])
    finally:
        webhook = get_settings().slack_webhook_url
        if webhook is not None:
            as_of = flow_run.parameters.get("as_of") if flow_run.parameters else None
            notify_failure(
                webhook.get_secret_value(),
                flow=flow.name,
                flow_run_id=str(flow_run.id),
                state=state.name or "Failed",
                as_of=str(as_of) if as_of else None,
                error=message,
            )
