"""A Prefect progress artifact that a flow advances as its chunks complete."""

import uuid

from prefect.artifacts import create_progress_artifact, update_progress_artifact


class Progress:
    """Percent done of ``total`` units, visible on the flow run's Artifacts tab."""

    def __init__(self, total: int, description: str) -> None:
        self.total = max(total, 1)
        self.done = 0
        artifact_id = create_progress_artifact(progress=0.0, description=description)
        assert isinstance(artifact_id, uuid.UUID)  # the sync API returns the id itself
        self.artifact_id = artifact_id

    def advance(self, units: int = 1) -> None:
        """Count ``units`` more as done."""
        self.done += units
        update_progress_artifact(
            artifact_id=self.artifact_id, progress=100.0 * self.done / self.total
        )
