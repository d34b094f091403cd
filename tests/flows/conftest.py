"""Flow tests: a real Prefect run (``prefect_test_harness``) against a real PostgreSQL."""

from collections.abc import Iterator

import pytest
from prefect.testing.utilities import prefect_test_harness


@pytest.fixture(scope="session", autouse=True)
def prefect_harness() -> Iterator[None]:
    # The default 30 s start-up timeout was too short on two loaded cores.
    with prefect_test_harness(server_startup_timeout=120):
        yield
