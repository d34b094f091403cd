"""Configuration (FORMATS.md section 6): environment, ``NAME_FILE`` secrets, URL handling."""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from cli.main import main
from sigmasight import db as sdb
from sigmasight.settings import SECRET_ENV_NAMES, Settings, SettingsFileError, get_settings

SECRET = "pk_live_s3cr3t-value"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No secret or SIGMASIGHT_* variable from the outer environment, no `.env` file."""
    for name in SECRET_ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(f"{name}_FILE", raising=False)
    for name in ("SIGMASIGHT_LOG_FORMAT", "SIGMASIGHT_LOG_LEVEL", "SIGMASIGHT_RISK_FREE_RATE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    sdb.reset_engine()
    yield
    get_settings.cache_clear()
    sdb.reset_engine()


def test_reads_conventional_names(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:pw@db.example:5432/risk")
    monkeypatch.setenv("POLYGON_API_KEY", SECRET)
    settings = get_settings()
    assert settings.database_url is not None and settings.polygon_api_key is not None
    assert settings.database_url.get_secret_value() == "postgresql://app:pw@db.example:5432/risk"
    assert settings.polygon_api_key.get_secret_value() == SECRET
    assert settings.fmp_api_key is None
    assert Settings().polygon_api_key == settings.polygon_api_key


def test_defaults_when_unset():
    settings = Settings()
    assert settings.database_url is None and settings.polygon_api_key is None
    assert settings.log_format == "text" and settings.benchmark == "SPY"
    assert settings.polygon_base_url == "https://api.polygon.io"
    assert settings.state_dir.is_absolute()


def test_secret_from_file_is_read_and_stripped(monkeypatch, tmp_path):
    secret_file = tmp_path / "polygon_key"
    secret_file.write_text(f"  {SECRET}\n\n")
    monkeypatch.setenv("POLYGON_API_KEY_FILE", str(secret_file))
    settings = get_settings()
    assert settings.polygon_api_key is not None
    assert settings.polygon_api_key.get_secret_value() == SECRET


def test_database_url_from_file(monkeypatch, tmp_path):
    secret_file = tmp_path / "db_url"
    secret_file.write_text("postgres://u:p@h/d\n")
    monkeypatch.setenv("DATABASE_URL_FILE", str(secret_file))
    settings = Settings()
    assert settings.database_url is not None
    assert settings.database_url.get_secret_value() == "postgres://u:p@h/d"


def test_direct_variable_wins_over_file(monkeypatch, tmp_path):
    secret_file = tmp_path / "polygon_key"
    secret_file.write_text("from-file\n")
    monkeypatch.setenv("POLYGON_API_KEY", "direct")
    monkeypatch.setenv("POLYGON_API_KEY_FILE", str(secret_file))
    settings = Settings()
    assert settings.polygon_api_key is not None
    assert settings.polygon_api_key.get_secret_value() == "direct"
    # With the direct value set, the file is not even read.
    monkeypatch.setenv("POLYGON_API_KEY_FILE", str(tmp_path / "missing"))
    assert Settings().polygon_api_key == SecretStr("direct")


@pytest.mark.parametrize("target", ["missing-file", "a-directory"])
def test_unreadable_secret_file_is_an_error_without_secrets(monkeypatch, tmp_path, target):
    path = tmp_path / target
    if target == "a-directory":
        path.mkdir()
    monkeypatch.setenv("FRED_API_KEY", SECRET)
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:hunter2@db.example/risk")
    monkeypatch.setenv("POLYGON_API_KEY_FILE", str(path))
    with pytest.raises(SettingsFileError) as err:
        Settings()
    message = str(err.value)
    assert f"POLYGON_API_KEY_FILE={path}" in message
    assert "cannot read the file" in message
    assert SECRET not in message and "hunter2" not in message


def test_secrets_are_secretstr_and_hidden_from_repr(monkeypatch):
    monkeypatch.setenv("POLYGON_API_KEY", SECRET)
    monkeypatch.setenv("SECRET_KEY", "jwt-signing-key-123")
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:hunter2@db.example/risk")
    settings = Settings()
    for name in ("polygon_api_key", "secret_key", "database_url"):
        assert isinstance(getattr(settings, name), SecretStr)
    for shown in (repr(settings), str(settings), settings.model_dump_json()):
        assert SECRET not in shown
        assert "jwt-signing-key-123" not in shown
        assert "hunter2" not in shown


def test_log_format_must_be_text_or_json(monkeypatch):
    monkeypatch.setenv("SIGMASIGHT_LOG_FORMAT", "json")
    assert Settings().log_format == "json"
    monkeypatch.setenv("SIGMASIGHT_LOG_FORMAT", "xml")
    with pytest.raises(ValidationError) as err:
        Settings()
    assert "log_format" in str(err.value)


def test_implausible_risk_free_rate_is_rejected(monkeypatch):
    monkeypatch.setenv("SIGMASIGHT_RISK_FREE_RATE", "4.3")
    with pytest.raises(ValidationError):
        Settings()


@pytest.mark.parametrize(
    "raw",
    [
        "postgres://app:pw@db.example:5432/risk",
        "postgresql://app:pw@db.example:5432/risk",
        "postgresql+psycopg://app:pw@db.example:5432/risk",
        "postgresql+psycopg2://app:pw@db.example:5432/risk",
    ],
)
def test_normalize_url_selects_psycopg(raw):
    url = sdb.normalize_url(raw)
    assert url.drivername == "postgresql+psycopg"
    assert (url.username, url.password, url.host, url.port, url.database) == (
        "app",
        "pw",
        "db.example",
        5432,
        "risk",
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("mysql://u:hunter2@h/db", "DATABASE_URL must be a PostgreSQL URL, got scheme 'mysql'"),
        ("sqlite:///hunter2.db", "DATABASE_URL must be a PostgreSQL URL"),
        ("not a url hunter2", "DATABASE_URL is not a valid URL"),
    ],
)
def test_normalize_url_rejects_other_databases_without_the_password(raw, message):
    with pytest.raises(sdb.DatabaseConfigError) as err:
        sdb.normalize_url(raw)
    assert message in str(err.value)
    assert "hunter2" not in str(err.value)


def test_cli_rejects_a_mysql_url_without_leaking_it(monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", "mysql://u:hunter2@h/db")
    assert main(["db", "status"]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("sigmasight: error: DATABASE_URL must be a PostgreSQL URL")
    assert "hunter2" not in captured.err and "hunter2" not in captured.out


def test_cli_reports_an_unreadable_secret_file(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("DATABASE_URL_FILE", str(tmp_path / "nope"))
    assert main(["db", "status"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"sigmasight: error: DATABASE_URL_FILE={tmp_path / 'nope'}")


def test_an_empty_secret_variable_means_unset(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "")
    monkeypatch.setenv("POLYGON_API_KEY", "  ")
    get_settings.cache_clear()
    settings = get_settings()
    assert settings.database_url is None
    assert settings.polygon_api_key is None


def _first_wait_after_burst(client: object, burst: int) -> float:
    """Reserve ``burst`` requests from the client's limiter; the wait the next one gets.

    Tokens keep refilling while the burst is reserved (a loaded machine takes tens of
    milliseconds for 600 reservations), so the time the burst took is added back: the
    result is the wait an instantaneous burst would leave, whatever the machine's load.
    """
    limiter = client._limiter  # type: ignore[attr-defined]
    assert limiter is not None
    started = time.monotonic()
    assert all(limiter.reserve() == 0.0 for _ in range(burst))
    wait: float = limiter.reserve()
    return wait + (time.monotonic() - started)


@pytest.mark.parametrize(
    ("variable", "vendor", "default"),
    [("POLYGON_RATE_LIMIT", "polygon", 5), ("FMP_RATE_LIMIT", "fmp", 300)],
)
def test_vendor_rate_limits_are_settings(monkeypatch, variable, vendor, default):
    from sigmasight.providers.registry import open_price_provider

    monkeypatch.setenv(f"{vendor.upper()}_API_KEY", f"key-{vendor}-{variable}-default")
    client = open_price_provider(get_settings(), vendor)
    # the free tier: a burst of `default`, then one request every 60/default seconds
    assert _first_wait_after_burst(client, default) == pytest.approx(60 / default, rel=0.05)

    monkeypatch.setenv(variable, "600")  # a paid plan: 10 per second
    monkeypatch.setenv(f"{vendor.upper()}_API_KEY", f"key-{vendor}-{variable}-paid")
    get_settings.cache_clear()
    client = open_price_provider(get_settings(), vendor)
    assert _first_wait_after_burst(client, 600) == pytest.approx(0.1, rel=0.05)

    monkeypatch.setenv(variable, "0")  # no client-side limit
    get_settings.cache_clear()
    assert open_price_provider(get_settings(), vendor)._limiter is None  # type: ignore[attr-defined]


def test_fred_rate_limit_zero_lifts_the_per_second_cap_too(monkeypatch):
    from sigmasight.providers.registry import open_rate_provider

    monkeypatch.setenv("FRED_API_KEY", "key-fred-limits")
    client = open_rate_provider(get_settings(), "fred")
    # 2 per second binds first: the second request waits half a second
    assert _first_wait_after_burst(client, 1) == pytest.approx(0.5, rel=0.05)
    monkeypatch.setenv("FRED_RATE_LIMIT", "0")
    get_settings.cache_clear()
    assert open_rate_provider(get_settings(), "fred")._limiter is None  # type: ignore[attr-defined]


@pytest.mark.parametrize("value", ["-1", "inf", "nan", "lots"])
def test_a_bad_rate_limit_is_refused_by_name(monkeypatch, value):
    monkeypatch.setenv("POLYGON_RATE_LIMIT", value)
    with pytest.raises(ValidationError, match="POLYGON_RATE_LIMIT"):
        get_settings()
