"""The run ledger: flow runs with status, timings and counts (``/api/v1/runs``).

The whole ledger, with counts, timings and error texts (which name symbols and portfolios
of every user), is for operators (``app_user.is_operator``). Everyone else sees each run's
flow, date, status and times, plus the status of their own portfolios in it.
"""

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query
from sqlalchemy.orm import Session

from models import FlowRun
from sigmasight.api.deps import PageDep, SessionDep, UserDep
from sigmasight.api.errors import ApiError, problem_schema
from sigmasight.api.schemas import FlowRunOut, Page
from sigmasight.repositories import api_reads

router = APIRouter(prefix="/api/v1/runs", tags=["runs"])

MAX_ERROR_CHARS = 2000


def run_out(
    run: FlowRun, *, operator: bool = True, own: dict[str, str] | None = None
) -> FlowRunOut:
    """A ledger row as the API shows it (scoped for a user who is not an operator)."""
    duration = (
        round((run.finished_at - run.started_at).total_seconds(), 3)
        if run.finished_at is not None
        else None
    )
    return FlowRunOut(
        id=run.id,
        flow=run.flow,
        as_of=run.as_of_date,
        status=run.status,
        started_at=run.started_at,
        finished_at=run.finished_at,
        duration_s=duration,
        counts=run.counts if operator else {},
        timings=run.timings if operator else {},
        error=run.error[:MAX_ERROR_CHARS] if run.error and operator else None,
        portfolios=None if operator else (own or {}),
    )


def _scoped(session: Session, user_id: int, runs: list[FlowRun]) -> list[FlowRunOut]:
    if api_reads.is_operator(session, user_id):
        return [run_out(r) for r in runs]
    own = api_reads.own_portfolio_statuses(session, user_id, [r.id for r in runs])
    return [run_out(r, operator=False, own=own.get(r.id, {})) for r in runs]


@router.get("", response_model=Page[FlowRunOut], responses=problem_schema(401, 422))
def list_runs(
    user: UserDep,
    session: SessionDep,
    page: PageDep,
    flow: Annotated[
        str | None,
        Query(pattern="^[a-z0-9_.-]{1,64}$", description="e.g. nightly-risk, market-data"),
    ] = None,
    status: Annotated[
        str | None,
        Query(
            pattern="^(running|succeeded|failed|skipped|crashed)$",
            description="final or current state (crashed: its process died)",
        ),
    ] = None,
) -> Page[FlowRunOut]:
    """Flow runs and imports, newest first."""
    rows, total = api_reads.list_flow_runs(
        session, flow=flow, status=status, limit=page.limit, offset=page.offset
    )
    return Page(
        items=_scoped(session, user.id, rows), total=total, limit=page.limit, offset=page.offset
    )


@router.get("/{run_id}", response_model=FlowRunOut, responses=problem_schema(401, 404, 422))
def get_run(
    user: UserDep,
    session: SessionDep,
    run_id: Annotated[uuid.UUID, Path(description="the run id (the Prefect flow-run id)")],
) -> FlowRunOut:
    """One run."""
    run = api_reads.get_flow_run(session, run_id)
    if run is None:
        raise ApiError(404, "run_not_found", f"run {run_id} not found")
    return _scoped(session, user.id, [run])[0]
