"""Every prefect.yaml deployment loads and its parameters validate (no server needed)."""

from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect import Flow
from prefect.flows import load_flow_from_entrypoint

ROOT = Path(__file__).resolve().parent.parent
CONFIG = yaml.safe_load((ROOT / "prefect.yaml").read_text())
DEPLOYMENTS: list[dict[str, Any]] = CONFIG["deployments"]


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=lambda d: d["name"])
def test_entrypoint_loads_and_parameters_validate(deployment):
    flow: Flow[..., Any] = load_flow_from_entrypoint(str(ROOT / deployment["entrypoint"]))
    flow.validate_parameters(deployment.get("parameters") or {})
    assert flow.name == deployment["name"]
    assert deployment["description"]
    assert "sigmasight" in deployment["tags"]
    for schedule in deployment.get("schedules", []):
        assert schedule["timezone"] == "America/New_York"
        assert len(schedule["cron"].split()) == 5


def test_every_flow_file_is_deployed():
    deployed = {d["entrypoint"].split(":")[0] for d in DEPLOYMENTS}
    # Every module that defines a flow; helpers shared by the flows (sessions.py) define none.
    flow_files = {
        f"flows/{p.name}" for p in (ROOT / "flows").glob("*.py") if "@flow" in p.read_text()
    }
    assert flow_files == deployed


def test_nightly_runs_on_weeknights_after_the_close():
    nightly = next(d for d in DEPLOYMENTS if d["name"] == "nightly")
    (schedule,) = nightly["schedules"]
    _minute, hour, _, _, weekdays = schedule["cron"].split()
    assert weekdays == "1-5" and int(hour) >= 17
