"""The Prefect environment this project relies on, applied by the entry points.

Nothing here imports Prefect: the values must be in the environment *before* Prefect is
imported, because Prefect reads its settings then. The CLI (:func:`cli.main.main`), the served
mode (``cli/serve.py``) and the test suite call :func:`apply_prefect_defaults`; a worker gets
the same values from ``prefect.yaml``'s job variables and ``deployments/worker.env.example``.
A value already in the environment always wins.
"""

import os
from collections.abc import MutableMapping
from pathlib import Path

from sigmasight.settings import Settings


def prefect_defaults(settings: Settings) -> dict[str, str]:
    """The defaults, by variable name.

    No telemetry (the machines are offline), a generous start-up timeout for the ephemeral
    API (a cold start takes 15-30 s on two cores), a Prefect home inside the project's state
    folder so one-off runs show up later in the served UI, and JSON console logs when
    ``SIGMASIGHT_LOG_FORMAT=json`` (Prefect's formatter carries the flow and task run ids).
    """
    defaults = {
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        "PREFECT_HOME": str(settings.state_dir / "prefect"),
    }
    if settings.log_format == "json":
        defaults["PREFECT_LOGGING_HANDLERS_CONSOLE_FORMATTER"] = "json"
    return defaults


def apply_prefect_defaults(
    settings: Settings, environ: MutableMapping[str, str] | None = None
) -> Path:
    """Set every default the environment lacks and create the Prefect home; returns it.

    The folder is created here because Prefect's ephemeral API keeps its SQLite file there
    and fails with "unable to open database file" when it does not exist (a new checkout
    with ``DATABASE_URL`` set never creates the state folder otherwise).
    """
    env = os.environ if environ is None else environ
    for name, value in prefect_defaults(settings).items():
        env.setdefault(name, value)
    home = Path(env["PREFECT_HOME"]).expanduser()
    home.mkdir(parents=True, exist_ok=True)
    return home
