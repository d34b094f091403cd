"""The db-maintenance task: VACUUM (ANALYZE), measure, publish a table artifact."""

import datetime as dt
import uuid

from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact

from sigmasight.runs.maintenance import MaintenanceReport, run_maintenance


@task
def maintain_database(as_of: dt.date, run_id: uuid.UUID, vacuum: bool) -> MaintenanceReport:
    """Vacuum and analyze every table, record sizes and bloat, show them in the UI."""
    report = run_maintenance(as_of=as_of, run_id=run_id, vacuum=vacuum)
    create_table_artifact(
        key="db-maintenance",
        table=[
            {
                "table": row.table_name,
                "total MB": round(row.total_bytes / 1e6, 2),
                "table MB": round(row.table_bytes / 1e6, 2),
                "index MB": round(row.index_bytes / 1e6, 2),
                "live rows": row.live_rows,
                "dead rows": row.dead_rows,
                "dead %": round(100 * row.dead_ratio, 1),
            }
            for row in report.tables
        ],
        description=f"Database after maintenance on {as_of}: {report.total_bytes / 1e6:,.1f} MB in SigmaSight tables",
    )
    get_run_logger().info(
        "%s %d tables in %.1f s; %.1f MB",
        "vacuumed" if vacuum else "analyzed",
        len(report.vacuumed),
        report.seconds,
        report.total_bytes / 1e6,
    )
    return report
