"""``sigmasight api`` (the read API alone) and ``sigmasight serve`` (the whole served mode)."""

import argparse
from typing import TYPE_CHECKING

from cli.common import Subparsers, _port, add_command, add_ports, require_current_schema
from sigmasight.domain import InputError
from sigmasight.settings import get_settings

if TYPE_CHECKING:
    from cli.serve import ServedMode


def cmd_api(args: argparse.Namespace) -> int:
    """Serve the read API with uvicorn until Ctrl-C."""
    from sigmasight.api.auth import ApiConfigError
    from sigmasight.api.main import serve

    settings = get_settings()
    try:
        serve(args.host or settings.api_host, args.port or settings.api_port, settings)
    except ApiConfigError as exc:
        raise InputError(str(exc)) from None
    return 0


def serve_until_stopped(served: "ServedMode") -> int:
    """With the Prefect server up: serve the deployments and the API, say where, then wait."""
    served.start_deployments()
    api = served.start_api()
    print(f"\nPrefect UI:     {served.ui_url}   (deployments served; schedules active)")
    if api:
        print(f"SigmaSight API: {served.sigmasight_api_url}   (docs at /docs)")
    print(f"logs:           {served.log_dir}")
    print("Ctrl-C stops everything.")
    return int(served.wait())


def cmd_serve(args: argparse.Namespace) -> int:
    """Start the Prefect server and UI, serve the deployments, start the API; Ctrl-C stops all."""
    from cli.serve import ServedMode

    require_current_schema()
    served = ServedMode(ui_port=args.ui_port, api_port=args.api_port)
    print(f"starting the Prefect server on {served.ui_url} ...")
    try:
        served.start_prefect()
        return serve_until_stopped(served)
    finally:
        served.stop()


def register_serve(commands: Subparsers) -> None:
    """Add ``serve``."""
    serve = add_command(
        commands,
        "serve",
        cmd_serve,
        "Prefect server and UI, the deployments and the API, until Ctrl-C",
    )
    add_ports(serve)


def register_api(commands: Subparsers) -> None:
    """Add ``api``."""
    api = add_command(
        commands, "api", cmd_api, "serve the read API (FastAPI on uvicorn; docs at /docs)"
    )
    api.add_argument("--host", help="address to bind (default 127.0.0.1, SIGMASIGHT_API_HOST)")
    api.add_argument(
        "--port", type=_port, help="port to listen on (default 8001, SIGMASIGHT_API_PORT)"
    )
