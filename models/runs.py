"""The run ledger: one row per flow run or import, referenced by every result row."""

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class FlowRun(Base):
    """What ran, for which date, how it ended, with counts, timings and inputs."""

    __tablename__ = "flow_run"
    __table_args__ = (
        CheckConstraint(
            "status IN ('running', 'succeeded', 'failed', 'skipped', 'crashed')", name="status"
        ),
        Index(None, "flow", "as_of_date"),
        Index(None, "started_at"),
    )

    # The Prefect flow-run id when run under Prefect, otherwise a fresh UUID.
    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    flow: Mapped[str] = mapped_column(String(64))
    as_of_date: Mapped[dt.date | None]
    status: Mapped[str] = mapped_column(String(16), server_default="running")
    started_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    finished_at: Mapped[dt.datetime | None]
    inputs: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    counts: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    timings: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    error: Mapped[str | None] = mapped_column(Text)


class TableStat(Base):
    """Size and health of one table, as measured by a db-maintenance run."""

    __tablename__ = "table_stat"
    __table_args__ = (UniqueConstraint("run_id", "table_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("flow_run.id"), index=True)
    as_of_date: Mapped[dt.date]
    table_name: Mapped[str] = mapped_column(String(128))
    total_bytes: Mapped[int] = mapped_column(BigInteger)
    table_bytes: Mapped[int] = mapped_column(BigInteger)
    index_bytes: Mapped[int] = mapped_column(BigInteger)
    live_rows: Mapped[int] = mapped_column(BigInteger)
    dead_rows: Mapped[int] = mapped_column(BigInteger)
    # Dead tuples as a share of all tuples: the bloat estimate available without extensions.
    dead_ratio: Mapped[float]
    last_vacuum: Mapped[dt.datetime | None]
    last_analyze: Mapped[dt.datetime | None]
