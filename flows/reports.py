"""The ``reports`` flow: every portfolio's report files for one date, from stored results."""

import datetime as dt
from typing import Any

from prefect import State, flow
from prefect.utilities.annotations import quote

from flows.sessions import dated_run
from sigmasight.settings import get_settings
from tasks.ledger import close_run, mark_run_failed, open_run
from tasks.reports import check_reports, plan_reports, publish_report_artifacts, write_reports


@flow(
    name="reports",
    on_failure=[mark_run_failed],
    on_crashed=[mark_run_failed],
)
def generate_reports(
    as_of: dt.date | None = None, portfolio: str | None = None
) -> dict[str, Any] | State[Any]:
    """Write JSON, Markdown, CSV and HTML reports for ``as_of`` (one portfolio or all)."""
    with dated_run("reports", as_of) as (as_of, stop):
        if stop is not None:
            return stop
        chunk_size = get_settings().reports_chunk_size
        run_id = open_run("reports", as_of, {"portfolio": portfolio, "chunk_size": chunk_size})
        chunks = plan_reports(as_of, portfolio, chunk_size)
        outcomes = write_reports(as_of, chunks, run_id)
        # quote(): Prefect would otherwise walk each of a night's 10,000 outcomes twice per
        # task (dependency tracking, input resolution), ~5 s a task; the tasks get the list.
        quoted: Any = quote(outcomes)
        summary = publish_report_artifacts(as_of, quoted)
        check_reports(quoted)
        close_run(run_id, "succeeded", summary["counts"], summary["timings"])
        return {
            "as_of": as_of.isoformat(),
            "run_id": str(run_id),
            **summary["counts"],
            "reports_dir": summary["reports_dir"],
            "timings": summary["timings"],
        }
