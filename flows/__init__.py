"""Prefect flows: they only order tasks (one file per deployable flow).

Importing this package sets the Prefect defaults this project relies on, unless the
environment already sets them: no telemetry (the machines are offline), a generous start-up
timeout for the ephemeral API (a cold start takes 15-30 s on two cores), and a Prefect home
inside the project's state folder so one-off runs show up later in the served UI.
"""

import os

from sigmasight.settings import get_settings

_DEFAULTS = {
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_HOME": str(get_settings().state_dir / "prefect"),
}
for _name, _value in _DEFAULTS.items():
    os.environ.setdefault(_name, _value)
