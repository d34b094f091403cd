"""Report files of a portfolio: list, metadata and download (``/api/v1/portfolios/{id}/reports``)."""

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import FileResponse

from models import Report
from sigmasight.api import report_files
from sigmasight.api.deps import PageDep, PortfolioDep, SessionDep, SettingsDep
from sigmasight.api.errors import ApiError, problem_schema
from sigmasight.api.schemas import Page, ReportOut
from sigmasight.repositories import api_reads

router = APIRouter(prefix="/api/v1/portfolios", tags=["reports"])

ERRORS = problem_schema(401, 404, 422)
ReportId = Annotated[int, Path(ge=1, le=2**31 - 1, description="the report's id")]


def report_out(report: Report, external_id: str) -> ReportOut:
    """A report row as the API shows it, with its download and browser URLs."""
    name = report_files.filename(report)
    return ReportOut(
        id=report.id,
        portfolio_id=external_id,
        as_of=report.as_of_date,
        kind=report.kind,
        filename=name,
        size_bytes=report.size_bytes,
        sha256=report.sha256,
        created_at=report.created_at,
        run_id=report.run_id,
        download_url=f"/api/v1/portfolios/{external_id}/reports/{report.id}/download",
        view_url=view_url(external_id, report.as_of_date, name),
    )


def view_url(external_id: str, as_of: dt.date, name: str) -> str:
    """Where the browser view serves a report inline."""
    return f"/reports/{external_id}/{as_of.isoformat()}/{name}"


@router.get("/{portfolio_id}/reports", response_model=Page[ReportOut], responses=ERRORS)
def list_reports(
    portfolio: PortfolioDep,
    session: SessionDep,
    page: PageDep,
    as_of: Annotated[dt.date | None, Query(description="only this date")] = None,
    kind: Annotated[
        str | None, Query(pattern="^[a-z0-9]{1,8}$", description="json, md, csv or html")
    ] = None,
) -> Page[ReportOut]:
    """The portfolio's report files, newest date first."""
    rows, total = api_reads.list_reports(
        session, portfolio.id, as_of=as_of, kind=kind, limit=page.limit, offset=page.offset
    )
    return Page(
        items=[report_out(r, portfolio.external_id) for r in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


def _owned_report(portfolio: PortfolioDep, session: SessionDep, report_id: ReportId) -> Report:
    found = api_reads.get_report(session, portfolio.id, report_id)
    if found is None:
        raise ApiError(
            404,
            "report_not_found",
            f"report {report_id} not found for portfolio {portfolio.external_id!r}",
        )
    return found


@router.get("/{portfolio_id}/reports/{report_id}", response_model=ReportOut, responses=ERRORS)
def get_report(portfolio: PortfolioDep, session: SessionDep, report_id: ReportId) -> ReportOut:
    """One report's metadata."""
    return report_out(_owned_report(portfolio, session, report_id), portfolio.external_id)


@router.get(
    "/{portfolio_id}/reports/{report_id}/download",
    response_class=FileResponse,
    responses={**ERRORS, 200: {"description": "the file, as an attachment"}},
)
def download_report(
    portfolio: PortfolioDep, session: SessionDep, settings: SettingsDep, report_id: ReportId
) -> FileResponse:
    """The report file itself (streamed)."""
    report = _owned_report(portfolio, session, report_id)
    return report_files.file_response(report, settings, inline=False)
