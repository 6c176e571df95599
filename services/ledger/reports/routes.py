"""Half-year and annual reports as JSON or .xlsx (半年、年度报告)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from services.ledger.deps import AsOf, CurrentReader
from services.ledger.reports.models import LedgerReport, ReportKind
from services.ledger.reports.service import build_report
from services.ledger.reports.xlsx import report_xlsx
from shared.app import Session
from shared.clock import Now
from shared.downloads import XLSX_MEDIA_TYPE, attachment

router = APIRouter(tags=["reports"])


@router.get(
    "/ledgers/{code}/reports/{kind}",
    summary="Half-year (due 25 June) or annual (due 4 January) report (工作情况报告)",
    response_model=LedgerReport,
    responses={200: {"content": {XLSX_MEDIA_TYPE: {}}}},
)
async def get_report(
    code: str,
    kind: ReportKind,
    year: Annotated[int, Query(ge=2000, le=2100)],
    _reader: CurrentReader,
    session: Session,
    today: AsOf,
    now: Now,
    format: Literal["json", "xlsx"] = "json",
) -> LedgerReport | Response:
    report = await build_report(session, code, kind, year, today=today, now=now)
    if format == "xlsx":
        return attachment(report_xlsx(report), XLSX_MEDIA_TYPE, f"{code}-{year}-{kind.value}.xlsx")
    return report
