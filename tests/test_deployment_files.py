"""The files in deployments/ cannot run here (no Docker engine, no cluster): check that they
parse and that every path, command and metric name they mention exists in this repository."""

import json
import re
import shlex
from pathlib import Path
from typing import Any

import yaml

from cli.main import build_parser

ROOT = Path(__file__).resolve().parent.parent
DEPLOYMENTS = ROOT / "deployments"


def cli_commands() -> set[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return set(action.choices)  # type: ignore[arg-type]


def test_dockerfile_copies_what_exists_and_runs_the_cli():
    text = (DEPLOYMENTS / "Dockerfile").read_text()
    for line in text.splitlines():
        if line.startswith("COPY "):
            *sources, _dest = shlex.split(line)[1:]
            for source in sources:
                assert (ROOT / source).exists(), source
    assert 'ENTRYPOINT ["python", "-m", "cli"]' in text
    assert "postgresql-client-15" in text  # pg_dump matching the compose server's major


def test_compose_services_healthchecks_and_commands():
    compose = yaml.safe_load((DEPLOYMENTS / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"db", "prefect", "worker", "api"} <= set(services)
    for name in ("db", "prefect", "api"):
        assert "healthcheck" in services[name], name
    assert services["db"]["image"].split(":")[1] == "15"
    assert services["api"]["command"][0] in cli_commands()
    # forwarded headers are trusted from the network's gateway only, never from anyone
    api_env = services["api"]["environment"]
    assert "FORWARDED_ALLOW_IPS" not in api_env
    gateway = compose["networks"]["default"]["ipam"]["config"][0]["gateway"]
    assert api_env["SIGMASIGHT_API_TRUSTED_PROXIES"] == gateway
    assert services["api"]["environment"]["SECRET_KEY_FILE"].startswith("/run/secrets/")
    assert services["worker"]["entrypoint"][:4] == ["prefect", "worker", "start", "--pool"]
    pool = services["worker"]["entrypoint"][4]
    prefect_yaml = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    assert prefect_yaml["definitions"]["work_pools"]["process"]["name"] == pool
    dockerfile = services["api"]["build"]["dockerfile"]
    assert (ROOT / dockerfile).is_file()
    for secret in compose["secrets"].values():
        assert secret["file"].startswith("./secrets/")  # files, never values, in the compose file


def test_kubernetes_job_template_is_valid_json_with_the_secret():
    template = json.loads((DEPLOYMENTS / "kubernetes" / "base-job-template.json").read_text())
    container = template["job_configuration"]["job_manifest"]["spec"]["template"]["spec"][
        "containers"
    ][0]
    assert container["envFrom"] == [{"secretRef": {"name": "sigmasight-secrets"}}]
    assert set(template["variables"]["properties"]) >= {
        "image",
        "namespace",
        "cpu_request",
        "memory_limit",
    }
    assert "prefect work-pool create" in (DEPLOYMENTS / "kubernetes" / "README.md").read_text()


def test_nginx_has_tls_headers_and_rate_limits():
    text = (DEPLOYMENTS / "nginx" / "sigmasight.conf").read_text()
    assert text.count("{") == text.count("}")
    zones = set(re.findall(r"limit_req_zone \S+ zone=(\w+):", text))
    used = set(re.findall(r"limit_req zone=(\w+)", text))
    assert zones == used == {"sigmasight_api", "sigmasight_login"}
    assert "location = /api/v1/auth/login" in text
    for header in (
        "Strict-Transport-Security",
        "X-Content-Type-Options",
        "X-Frame-Options",
        "Referrer-Policy",
    ):
        assert f"add_header {header}" in text
    assert "ssl_protocols TLSv1.2 TLSv1.3" in text
    assert "server 127.0.0.1:8001" in text  # the API's port


def test_alert_rules_use_metrics_the_api_exports():
    rules = yaml.safe_load((DEPLOYMENTS / "prometheus" / "alerts.yml").read_text())
    alerts = {rule["alert"]: rule for group in rules["groups"] for rule in group["rules"]}
    assert {
        "SigmaSightHighErrorRate",
        "SigmaSightSlowP95",
        "SigmaSightNightlyRunStale",
        "SigmaSightBackupUnverified",
    } <= set(alerts)
    source = (ROOT / "sigmasight" / "api" / "metrics.py").read_text()
    for rule in alerts.values():
        for metric in re.findall(r"\b(sigmasight_[a-z0-9_]+)", rule["expr"]):
            base = re.sub(r"_(total|bucket|sum|count)$", "", metric)
            assert f'"{base}"' in source, metric
    assert 'kind="verified"' in alerts["SigmaSightBackupUnverified"]["expr"]
    assert '"verified"' in source
    # session-aware: a weekend or a holiday never makes the nightly run stale
    stale = alerts["SigmaSightNightlyRunStale"]["expr"]
    assert "sigmasight_nightly_risk_sessions_behind" in stale and "3600" not in stale


def _tool_answers(argv: list[str]) -> tuple[bool, str]:
    """Whether ``argv`` runs successfully here, and if not, the reason in one line."""
    import shutil
    import subprocess

    if shutil.which(argv[0]) is None:
        return False, f"{argv[0]} is not installed"
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    lines = (done.stderr or done.stdout).strip().splitlines()
    return done.returncode == 0, lines[-1] if lines else f"exit {done.returncode}"


def test_docker_compose_config_validates_the_compose_file():
    import subprocess

    import pytest

    usable, why = _tool_answers(["docker", "compose", "version"])
    if not usable:
        pytest.skip(f"docker compose cannot run here ({why}); the file is checked above in Python")
    done = subprocess.run(
        ["docker", "compose", "-f", str(DEPLOYMENTS / "docker-compose.yml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_kubectl_dry_run_accepts_the_rendered_job_template(tmp_path):
    """kubectl needs an API server for discovery even with --dry-run=client; skip without one."""
    import subprocess

    import pytest

    usable, why = _tool_answers(["kubectl", "version", "--request-timeout=3s"])
    if not usable:
        pytest.skip(f"no Kubernetes API server to validate against ({why})")
    template = json.loads((DEPLOYMENTS / "kubernetes" / "base-job-template.json").read_text())
    values: dict[str, Any] = {
        "command": ["python", "-m", "prefect.engine"],
        "env": [{"name": "SIGMASIGHT_LOG_FORMAT", "value": "json"}],
        "labels": {"app": "sigmasight"},
        "name": "sigmasight-nightly",
        "namespace": "default",
        "finished_job_ttl": 3600,
        "service_account_name": "default",
        "image": "sigmasight:test",
        "cpu_request": "1",
        "memory_request": "2Gi",
        "memory_limit": "4Gi",
    }
    manifest = json.dumps(template["job_configuration"]["job_manifest"])
    manifest = re.sub(r'"\{\{ (\w+) \}\}"', lambda m: json.dumps(values[m.group(1)]), manifest)
    manifest = manifest.replace("{{ name }}", str(values["name"]))  # inside generateName
    path = tmp_path / "job.json"
    path.write_text(manifest)
    done = subprocess.run(
        ["kubectl", "create", "--dry-run=client", "-o", "name", "-f", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0 and done.stdout.startswith("job.batch/"), done.stderr
