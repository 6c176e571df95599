"""A report as an .xlsx workbook: summary, items, units and overdue sheets."""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.worksheet.worksheet import Worksheet

from services.ledger.ledgers.spreadsheet import EXPORT_COLUMNS, item_row
from services.ledger.reports.service import LedgerReport
from services.ledger.updates.models import STATUS_LABELS, TaskStatus
from shared.timeutil import format_beijing


def _sheet(
    workbook: Workbook, title: str, header: Iterable[str], rows: Iterable[Iterable[Any]]
) -> Worksheet:
    sheet = workbook.create_sheet(title)
    sheet.append(list(header))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append(list(row))
    return sheet


def report_xlsx(report: LedgerReport) -> bytes:
    workbook = Workbook()
    default = workbook.active
    if default is not None:
        workbook.remove(default)
    _sheet(
        workbook,
        "汇总",
        ("项目", "内容"),
        [
            ("报告", report.title),
            ("台账", report.ledger_name),
            ("统计期间", f"{report.period_start} 至 {report.period_end}"),
            ("截至日期", report.as_of.isoformat()),
            ("报送期限", report.submission_due.isoformat()),
            ("生成时间(北京时间)", format_beijing(report.generated_at)),
            ("事项总数", len(report.items)),
            *((f"{STATUS_LABELS[s]}事项", report.status_totals[s]) for s in TaskStatus),
            ("逾期事项", len(report.overdue)),
        ],
    )
    _sheet(workbook, "任务进展", EXPORT_COLUMNS, (item_row(i) for i in report.items))
    _sheet(
        workbook,
        "单位汇总",
        ("责任单位", "事项数", *(STATUS_LABELS[s] for s in TaskStatus), "逾期"),
        ([u.unit, u.items, *(u.by_status[s] for s in TaskStatus), u.overdue] for u in report.units),
    )
    _sheet(workbook, "逾期事项", EXPORT_COLUMNS, (item_row(i) for i in report.overdue))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
