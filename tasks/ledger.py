"""Run-ledger tasks and the flow hooks that close a run row when a flow fails or crashes."""

import datetime as dt
import uuid
from typing import Any

from prefect import Flow, State, get_run_logger, runtime, task
from prefect.client.schemas.objects import FlowRun

from sigmasight import ledger


def current_flow_run_id() -> uuid.UUID | None:
    """The Prefect flow-run id of the calling flow or task, if any."""
    value = runtime.flow_run.id
    return uuid.UUID(str(value)) if value else None


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
    """Flow hook (on_failure / on_crashed): the ledger row says failed, with the reason."""
    message = state.message or state.name
    ledger.close_run(uuid.UUID(str(flow_run.id)), "failed", error=str(message)[:4000])
