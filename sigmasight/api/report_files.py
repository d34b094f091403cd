"""Report files indexed in the ``report`` table: where they are, how to serve them."""

import mimetypes
from pathlib import Path, PurePosixPath

from fastapi.responses import FileResponse

from models import Report
from sigmasight.api.errors import ApiError
from sigmasight.api.middleware import REPORT_CSP
from sigmasight.settings import Settings

MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}


def filename(report: Report) -> str:
    """The file's name (``report.html``, ``positions.csv``, ...)."""
    return PurePosixPath(report.path.replace("\\", "/")).name


def local_path(report: Report, settings: Settings) -> Path:
    """The file on disk; a relative stored path is relative to ``SIGMASIGHT_REPORTS_DIR``."""
    path = Path(report.path)
    return path if path.is_absolute() else settings.reports_dir / path


def media_type(name: str) -> str:
    """Content type by extension (text types in UTF-8)."""
    suffix = PurePosixPath(name).suffix.lower()
    return MEDIA_TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def file_response(report: Report, settings: Settings, *, inline: bool) -> FileResponse:
    """Stream the report file; 404 when the indexed file is gone from disk."""
    path = local_path(report, settings)
    if not path.is_file():
        raise ApiError(
            404,
            "report_file_missing",
            f"report {report.id} ({filename(report)}) is indexed but its file is missing",
        )
    name = filename(report)
    return FileResponse(
        path,
        media_type=media_type(name),
        filename=name,
        content_disposition_type="inline" if inline else "attachment",
        headers={
            "Content-Security-Policy": REPORT_CSP,
            "Cache-Control": "private, no-cache",
            "ETag": f'"{report.sha256}"',
        },
    )
