"""The production path from a user's shell: DATABASE_URL, a new checkout, no state folder.

Every step is the CLI in a subprocess exactly as a user types it, against a PostgreSQL this
test starts itself (``tests/plain_pg.py``), with S3 on a moto server over HTTP. The state
folder does not exist beforehand and no Prefect variable is inherited, so each command finds
its own Prefect home (it crashed with "unable to open database file" before the entry points
created it). The password in DATABASE_URL must never reach the output.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.integration.test_import_portfolios import EXAMPLE
from tests.plain_pg import plain_postgres
from tests.s3 import moto_server, s3_environment

ROOT = Path(__file__).resolve().parents[2]
AS_OF = "2025-01-02"


def _environment(tmp_path: Path, database_url: str, endpoint: str) -> dict[str, str]:
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PREFECT_", "SIGMASIGHT_", "AWS_", "DATABASE_URL"))
    }
    return {
        **inherited,
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": database_url,
        "SIGMASIGHT_STATE_DIR": str(tmp_path / "new-checkout" / ".sigmasight"),
        "SIGMASIGHT_REPORTS_DIR": str(tmp_path / "reports"),
        **s3_environment(endpoint, "prod-backups", tmp_path),
    }


def _prices_csv(path: Path) -> Path:
    rng = np.random.default_rng(7)
    lines = ["date,AAPL"]
    price = 180.0
    for day in np.busday_offset("2024-10-01", np.arange(60), roll="forward"):
        price *= 1 + rng.normal(0, 0.01)
        lines.append(f"{day},{price:.4f}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_cli_on_an_external_database_from_a_new_checkout(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.json"
    bundle.write_text(EXAMPLE)
    rates = tmp_path / "dgs10.csv"
    rates.write_text("date,value\n2024-12-30,4.55\n2024-12-31,4.57\n2025-01-02,4.60\n")
    prices = _prices_csv(tmp_path / "aapl.csv")
    export = tmp_path / "out" / "risk.json"
    export.parent.mkdir()

    with plain_postgres() as server, moto_server() as endpoint:
        from sigmasight.objectstore import embedded_client

        embedded_client(endpoint).create_bucket(Bucket="prod-backups")
        url = server.url.render_as_string(hide_password=False)
        env = _environment(tmp_path, url, endpoint)
        state = Path(env["SIGMASIGHT_STATE_DIR"])
        assert not state.exists()
        password = server.url.password
        assert password

        def cli(*args: str) -> str:
            done = subprocess.run(
                [sys.executable, "-m", "cli", *args],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
            )
            said = done.stdout + done.stderr
            assert done.returncode == 0, f"sigmasight {' '.join(args)} -> {done.returncode}\n{said}"
            assert str(password) not in said, f"the password leaked from {args}"
            return said

        cli("db", "upgrade")
        cli("import", "portfolios", str(bundle))
        cli("import", "prices", str(prices))
        cli("import", "rates", "--series", "DGS10", str(rates))
        cli("run", "market-data", "--as-of", AS_OF, "--provider", "synthetic")
        cli("run", "risk", "--as-of", AS_OF)
        cli("export", "risk", "--as-of", AS_OF, "--portfolio", "LO_CORE", "-o", str(export))
        cli("backup")
        verified = cli("backup", "verify")
        listed = cli("backup", "list")

        document = json.loads(export.read_text())
        assert document["portfolio_id"] == "LO_CORE" and document["as_of"] == AS_OF
        assert document["valuation"]["nav"] > 0
        assert {p["symbol"] for p in document["positions"]} == {"AAPL", "O:SPY251219C00600000"}
        assert "verified" in verified.lower()
        assert "completed" in listed or "verified" in listed
        # The commands made their Prefect home; the embedded server was never started.
        assert (state / "prefect").is_dir()
        assert not (state / "pg").exists()
