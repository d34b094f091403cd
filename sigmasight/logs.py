"""Logging setup: text or JSON lines on stderr, with every configured secret redacted."""

import json
import logging
import sys
import threading
from collections.abc import Iterable
from urllib.parse import quote_plus

from sigmasight.settings import SECRET_ENV_NAMES, get_settings

REDACTED = "***"


class RedactSecrets(logging.Filter):
    """Replace any known secret value in a record's message and arguments with ``***``."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        """``text`` with every secret replaced."""
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        """Render the message once, redacted, so handlers never see the raw secret."""
        if self.secrets:
            record.msg = self.redact(record.getMessage())
            record.args = None
            if record.exc_text:
                record.exc_text = self.redact(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any ``extra`` context."""

    _STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        """Serialise ``record``."""
        payload = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update({k: v for k, v in vars(record).items() if k not in self._STANDARD})
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at emit time (tests and tools swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        """Emit to the current ``sys.stderr``."""
        self.stream = sys.stderr
        super().emit(record)


# One filter on the "httpx" logger: its INFO line carries the full URL, query keys and
# webhook tokens included. Callers register each secret they put in a URL.
_HTTPX_REDACTOR = RedactSecrets([])
logging.getLogger("httpx").addFilter(_HTTPX_REDACTOR)
_REDACTOR_LOCK = threading.Lock()


def redact_in_httpx_logs(secret: str) -> None:
    """Have the ``httpx`` logger mask ``secret`` (raw and URL-encoded) from now on."""
    with _REDACTOR_LOCK:
        candidates = {secret, quote_plus(secret)}
        known = set(_HTTPX_REDACTOR.secrets)
        fresh = {s for s in candidates if len(s) >= 4} - known
        if fresh:
            _HTTPX_REDACTOR.secrets = sorted(known | fresh, key=len, reverse=True)


def configured_secrets() -> list[str]:
    """Every secret value the settings hold (API keys, passwords, webhook URLs)."""
    settings = get_settings()
    values = []
    for name in SECRET_ENV_NAMES:
        secret = getattr(settings, name.lower(), None)
        if secret is not None:
            values.append(secret.get_secret_value())
    return values


def configure_logging(level: str | None = None) -> None:
    """Install one stderr handler on the root logger (idempotent)."""
    settings = get_settings()
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_sigmasight", False):
            root.removeHandler(handler)
    handler = _StderrHandler()
    handler._sigmasight = True  # type: ignore[attr-defined]
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        )
    handler.addFilter(RedactSecrets(configured_secrets()))
    root.addHandler(handler)
    root.setLevel(level or settings.log_level)
    for noisy in (
        "httpx",
        "httpcore",
        "botocore",
        "boto3",
        "s3transfer",
        "alembic",
    ):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
