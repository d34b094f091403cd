"""Prefect flows: they only order tasks (one file per deployable flow).

Importing this package sets the Prefect defaults this project relies on, unless the
environment already sets them: no telemetry (the machines are offline), a generous start-up
timeout for the ephemeral API (a cold start takes 15-30 s on two cores), a Prefect home
inside the project's state folder so one-off runs show up later in the served UI, and JSON
console logs when ``SIGMASIGHT_LOG_FORMAT=json``.
"""

import os

from sigmasight.settings import get_settings

_SETTINGS = get_settings()
_DEFAULTS = {
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_HOME": str(_SETTINGS.state_dir / "prefect"),
}
if _SETTINGS.log_format == "json":
    # Prefect's own JSON formatter carries flow_run_id, flow_name and task_run_id per line.
    _DEFAULTS["PREFECT_LOGGING_HANDLERS_CONSOLE_FORMATTER"] = "json"
for _name, _value in _DEFAULTS.items():
    os.environ.setdefault(_name, _value)
