"""Configuration from the environment (FORMATS.md section 6).

Vendor and infrastructure variables keep their conventional names (``DATABASE_URL``,
``POLYGON_API_KEY``, ``AWS_S3_BUCKET``); the project's own knobs use the ``SIGMASIGHT_``
prefix. Every secret may also come from a file named by ``<NAME>_FILE`` (Docker and
Kubernetes secrets); a value set directly wins over the file.
"""

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: Secrets that may be given as ``NAME_FILE``; the field name is ``name.lower()``.
SECRET_ENV_NAMES = (
    "DATABASE_URL",
    "SECRET_KEY",
    "POLYGON_API_KEY",
    "FMP_API_KEY",
    "FRED_API_KEY",
    "OPENAI_API_KEY",
    "SLACK_WEBHOOK_URL",
)


class SettingsFileError(ValueError):
    """A ``NAME_FILE`` variable points at a file that cannot be read."""


class _FileSecretsSource(PydanticBaseSettingsSource):
    """Read ``NAME`` from the file named by ``NAME_FILE`` (value stripped of whitespace)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for env_name in SECRET_ENV_NAMES:
            path = os.environ.get(f"{env_name}_FILE")
            if not path or os.environ.get(env_name):
                continue
            try:
                values[env_name.lower()] = Path(path).read_text(encoding="utf-8").strip()
            except OSError as exc:
                # The message names the variable and the path, never the content.
                raise SettingsFileError(
                    f"{env_name}_FILE={path}: cannot read the file ({exc.strerror})"
                ) from None
        return values


def _env(name: str) -> Any:
    return Field(default=None, validation_alias=AliasChoices(name))


class Settings(BaseSettings):
    """Every setting SigmaSight reads, with its default."""

    model_config = SettingsConfigDict(
        env_prefix="SIGMASIGHT_", env_file=".env", extra="ignore", populate_by_name=True
    )

    # Infrastructure and vendors: conventional names, no prefix.
    database_url: SecretStr | None = _env("DATABASE_URL")
    secret_key: SecretStr | None = _env("SECRET_KEY")
    polygon_api_key: SecretStr | None = _env("POLYGON_API_KEY")
    fmp_api_key: SecretStr | None = _env("FMP_API_KEY")
    fred_api_key: SecretStr | None = _env("FRED_API_KEY")
    openai_api_key: SecretStr | None = _env("OPENAI_API_KEY")
    slack_webhook_url: SecretStr | None = _env("SLACK_WEBHOOK_URL")
    polygon_base_url: str = Field(
        default="https://api.polygon.io", validation_alias=AliasChoices("POLYGON_BASE_URL")
    )
    fmp_base_url: str = Field(
        default="https://financialmodelingprep.com",
        validation_alias=AliasChoices("FMP_BASE_URL"),
    )
    fred_base_url: str = Field(
        default="https://api.stlouisfed.org", validation_alias=AliasChoices("FRED_BASE_URL")
    )
    # Requests per minute each vendor client allows itself (FORMATS.md section 6); the
    # defaults are the free tiers, 0 means no client-side limit (429s are still honoured).
    polygon_rate_limit: float = Field(
        default=5.0, ge=0, allow_inf_nan=False, validation_alias=AliasChoices("POLYGON_RATE_LIMIT")
    )
    fmp_rate_limit: float = Field(
        default=300.0, ge=0, allow_inf_nan=False, validation_alias=AliasChoices("FMP_RATE_LIMIT")
    )
    fred_rate_limit: float = Field(
        default=120.0, ge=0, allow_inf_nan=False, validation_alias=AliasChoices("FRED_RATE_LIMIT")
    )
    openai_base_url: str | None = _env("OPENAI_BASE_URL")
    aws_s3_bucket: str | None = _env("AWS_S3_BUCKET")

    # The project's own knobs (SIGMASIGHT_*).
    state_dir: Path = PROJECT_ROOT / ".sigmasight"
    pg_port: int | None = None
    # A database that does not answer must fail a command, not hang it: libpq's connect
    # timeout (connecting and authenticating) and PostgreSQL's statement timeout (0: none).
    db_connect_timeout_s: int = Field(default=10, ge=1, le=600)
    db_statement_timeout_s: float = Field(default=1800.0, ge=0.0, le=86_400.0)
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"
    risk_free_rate: float = 0.043
    benchmark: str = "SPY"
    backfill_years: int = Field(default=2, ge=1, le=30)
    coverage_threshold: float = Field(default=0.95, ge=0.0, le=1.0)
    fetch_chunk_size: int = Field(default=100, ge=1, le=10_000)
    risk_chunk_size: int = Field(default=1000, ge=1, le=100_000)
    risk_lookback_sessions: int = Field(default=504, ge=60, le=5000)
    # History (issue 11): position detail (position rows, correlation matrices) is kept for
    # the newest sessions only (older dates rebuild it on demand); the nightly run first
    # computes up to this many sessions missed since the last successful risk date.
    detail_retention_sessions: int = Field(default=20, ge=1, le=5000)
    catchup_max_sessions: int = Field(default=10, ge=0, le=260)
    risk_workers: int = Field(default=2, ge=1, le=64)
    dask_address: str | None = None
    dask_local_workers: int = Field(default=0, ge=0, le=256)
    # Reports (issue 7): files under reports_dir/<portfolio>/<as_of>/; narrative via OpenAI
    # only when OPENAI_API_KEY is set (the template otherwise, or on any failure).
    reports_dir: Path = PROJECT_ROOT / "reports"
    reports_chunk_size: int = Field(default=250, ge=1, le=10_000)
    # Worker processes rendering report chunks (1 = in the flow's own process).
    reports_workers: int = Field(default=2, ge=1, le=64)
    openai_concurrency: int = Field(default=4, ge=1, le=32)  # narrative calls at a time
    s3_port: int | None = Field(default=None, ge=1, le=65535)
    backup_prefix: str = "backups/"
    backup_keep_daily_days: int = Field(default=30, ge=1, le=3660)
    backup_keep_weekly_weeks: int = Field(default=12, ge=0, le=520)
    # The read API (`sigmasight api`).
    api_host: str = "127.0.0.1"
    # Where people reach the API (e.g. https://risk.example.com): the reports artifact in the
    # Prefect UI links to its report pages. Unset: the artifact names the files instead.
    api_public_url: str | None = None
    api_port: int = Field(default=8001, ge=1, le=65535)
    login_rate_limit: int = Field(default=5, ge=1, le=10_000)  # attempts per minute per client
    # Proxies whose X-Forwarded-For/-Proto the API believes (comma-separated addresses or
    # networks); empty: none, so the login limit is keyed on the real peer address.
    api_trusted_proxies: str = Field(
        default="",
        validation_alias=AliasChoices("SIGMASIGHT_API_TRUSTED_PROXIES", "FORWARDED_ALLOW_IPS"),
    )
    api_max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=64 * 1024 * 1024)
    analyze_rate_limit: int = Field(default=10, ge=1, le=10_000)  # questions per minute per user
    api_token_ttl_minutes: int = Field(default=1440, ge=1, le=43_200)
    api_bench_routes: bool = False  # debug-only in-memory route for bench/api.py
    api_cache_ttl_s: float = Field(default=1.0, ge=0.0, le=60.0)  # risk-document revalidation
    health_max_sessions_behind: int = Field(default=1, ge=0, le=30)
    health_max_backup_age_hours: float = Field(default=48.0, gt=0.0, le=24.0 * 366)
    health_require_backup: bool = True
    openai_model: str = "gpt-4o-mini"
    openai_timeout_s: float = Field(default=30.0, gt=0.0, le=600.0)
    openai_max_retries: int = Field(default=2, ge=0, le=10)

    @field_validator(*(name.lower() for name in SECRET_ENV_NAMES), mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # DATABASE_URL= (empty) means "not set", as in a shell or an env file.
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("state_dir")
    @classmethod
    def _absolute_state_dir(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("backup_prefix")
    @classmethod
    def _folder_prefix(cls, value: str) -> str:
        value = value.strip().lstrip("/")
        return value if not value or value.endswith("/") else value + "/"

    @field_validator("reports_dir")
    @classmethod
    def _absolute_reports_dir(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("risk_free_rate")
    @classmethod
    def _plausible_rate(cls, value: float) -> float:
        if not -0.05 <= value <= 0.5:
            raise ValueError(f"must be an annual rate as a fraction, got {value}")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Environment first, then ``NAME_FILE`` secrets, then ``.env``."""
        return (
            init_settings,
            env_settings,
            _FileSecretsSource(settings_cls),
            dotenv_settings,
        )


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings (call ``get_settings.cache_clear()`` in tests)."""
    return Settings()
