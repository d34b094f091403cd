"""A Prefect progress artifact that a flow advances as its chunks complete, with a log line."""

import time
import uuid

from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.logging import get_run_logger


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


class Progress:
    """Percent done of ``total`` units, on the flow run's Artifacts tab and in its log.

    Each :meth:`advance` logs ``what: done/total units (pct), <extra>, elapsed, ETA`` where
    the ETA assumes the remaining units go at the average pace so far, so a long backfill
    under a vendor's rate limit says when it will end.
    """

    def __init__(self, total: int, description: str, *, unit: str = "chunks") -> None:
        self.total = max(total, 1)
        self.done = 0
        self.unit = unit
        self.description = description
        self.started = time.monotonic()
        artifact_id = create_progress_artifact(progress=0.0, description=description)
        assert isinstance(artifact_id, uuid.UUID)  # the sync API returns the id itself
        self.artifact_id = artifact_id

    def advance(self, units: int = 1, extra: str = "") -> None:
        """Count ``units`` more as done; ``extra`` (e.g. requests so far) goes in the log."""
        self.done = min(self.total, self.done + units)
        update_progress_artifact(
            artifact_id=self.artifact_id, progress=100.0 * self.done / self.total
        )
        elapsed = time.monotonic() - self.started
        left = self.total - self.done
        eta = _duration(elapsed / self.done * left) if self.done else "unknown"
        get_run_logger().info(
            "%s: %d/%d %s (%.0f %%)%s, %s elapsed, ETA %s",
            self.description,
            self.done,
            self.total,
            self.unit,
            100.0 * self.done / self.total,
            f", {extra}" if extra else "",
            _duration(elapsed),
            eta if left else "done",
        )
