"""A report as an .xlsx workbook: summary, items, units and overdue sheets."""

from __future__ import annotations

from services.ledger.ledgers.spreadsheet import EXPORT_COLUMNS, ITEM_WIDTHS, item_row
from services.ledger.reports.models import LedgerReport
from services.ledger.updates.models import STATUS_LABELS, TaskStatus
from shared.downloads import add_sheet, new_workbook, workbook_bytes
from shared.timeutil import format_beijing

# 序号, 任务, 步骤, 最后进展, 应督办, 督办, 通知对象, 结果: the long texts get room to wrap.
ESCALATION_WIDTHS = (6, 48, 18, 13, 13, 13, 40, 16)


def report_xlsx(report: LedgerReport) -> bytes:
    workbook = new_workbook()
    add_sheet(
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
            ("更新超期督办", len(report.escalations)),
        ],
        heading=report.title,
    )
    add_sheet(
        workbook,
        "任务进展",
        EXPORT_COLUMNS,
        (item_row(i) for i in report.items),
        heading=f"{report.title}：任务进展（截至{report.as_of.isoformat()}）",
        widths=ITEM_WIDTHS,
    )
    add_sheet(
        workbook,
        "单位汇总",
        ("责任单位", "事项数", *(STATUS_LABELS[s] for s in TaskStatus), "逾期"),
        ([u.unit, u.items, *(u.by_status[s] for s in TaskStatus), u.overdue] for u in report.units),
        heading=f"{report.title}：单位汇总",
    )
    add_sheet(
        workbook,
        "逾期事项",
        EXPORT_COLUMNS,
        (item_row(i) for i in report.overdue),
        heading=f"{report.title}：逾期事项",
        widths=ITEM_WIDTHS,
    )
    add_sheet(
        workbook,
        "更新超期督办",
        (
            "序号",
            "工作目标任务",
            "督办步骤",
            "最后进展日期",
            "应督办日期",
            "督办日期",
            "通知对象",
            "结果",
        ),
        (
            (
                e.seq,
                e.task,
                e.level_label,
                e.period_start.isoformat(),
                e.due_on.isoformat(),
                e.fired_on.isoformat(),
                e.to_whom,
                e.outcome_label,
            )
            for e in report.escalations
        ),
        heading=f"{report.title}：更新超期督办（截至{report.as_of.isoformat()}）",
        widths=ESCALATION_WIDTHS,
    )
    return workbook_bytes(workbook)
