"""The report pages (报告页面): a ledger's half-year or annual report as a per-unit overview
ranked as in a 通报 (most overdue items first), with its .xlsx download. They call the same
``build_report`` as ``GET /ledgers/{code}/reports/{kind}``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from services.ledger.ledgers.spreadsheet import export_ledger
from services.ledger.reports.models import ReportKind
from services.ledger.reports.service import build_report
from services.ledger.reports.xlsx import report_xlsx
from services.ledger.updates.models import STATUS_LABELS, TaskStatus
from services.ledger.web.routes import _page, _signed_in
from shared.app import Session
from shared.calendar import beijing_date
from shared.clock import Now
from shared.downloads import XLSX_MEDIA_TYPE, attachment
from shared.web.pages import to_sign_in

router = APIRouter(prefix="/ui/ledgers", include_in_schema=False)
Year = Annotated[int, Query(ge=2000, le=2100)]


@router.get("/{code}/export.{fmt}", response_model=None)
async def ledger_download(
    request: Request, session: Session, now: Now, code: str, fmt: str
) -> Response:
    """The ledger with each item's status today (导出台账), as the API exports it."""
    if await _signed_in(request, session) is None:
        return to_sign_in(request)
    return await export_ledger(session, code, fmt, as_of=beijing_date(now))


# The download first: ``{kind}`` alone would take ``half_year.xlsx`` and refuse it.
@router.get("/{code}/reports/{kind}.xlsx", response_model=None)
async def report_download(
    request: Request, session: Session, now: Now, code: str, kind: ReportKind, year: Year
) -> Response:
    if await _signed_in(request, session) is None:
        return to_sign_in(request)
    report = await build_report(session, code, kind, year, today=beijing_date(now), now=now)
    return attachment(report_xlsx(report), XLSX_MEDIA_TYPE, f"{code}-{year}-{kind.value}.xlsx")


@router.get("/{code}/reports/{kind}", response_model=None)
async def report_page(
    request: Request, session: Session, now: Now, code: str, kind: ReportKind, year: Year
) -> Response:
    signed = await _signed_in(request, session)
    if signed is None:
        return to_sign_in(request)
    report = await build_report(session, code, kind, year, today=beijing_date(now), now=now)
    return _page(
        request,
        "report.html",
        *signed,
        report=report,
        statuses=[(s, STATUS_LABELS[s]) for s in TaskStatus],
        download=f"/ui/ledgers/{code}/reports/{kind.value}.xlsx?year={year}",
    )
