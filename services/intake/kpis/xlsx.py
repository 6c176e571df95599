"""The KPI report as an .xlsx workbook: per type, per stage and the longest cases."""

from __future__ import annotations

from typing import Any

from services.intake.kpis.models import DaysFigures, KpiReport
from shared.downloads import PROVISIONAL_MARK, add_sheet, new_workbook, workbook_bytes
from shared.timeutil import format_beijing

_DAYS_HEADER = ("平均(工作日)", "中位数", "P90", "最长", "时限内户数", "时限内占比")


def _days(figures: DaysFigures) -> list[Any]:
    share = figures.within_limit_share
    return [
        figures.mean,
        figures.median,
        figures.p90,
        figures.max,
        figures.within_limit,
        f"{share:.1%}" if share is not None else "",
    ]


def kpi_xlsx(report: KpiReport) -> bytes:
    workbook = new_workbook()
    add_sheet(
        workbook,
        "汇总",
        (
            "用户类型",
            "接电户数",
            "环节数",
            *(f"电网环节{h}" for h in _DAYS_HEADER),
            "全流程平均(工作日)",
            "暂停户数",
            "暂停次数",
            "平均暂停(工作日)",
        ),
        (
            [
                t.label,
                t.applications,
                t.stage_count,
                *_days(t.total),
                t.elapsed_mean,
                t.paused_applications,
                t.pauses,
                t.paused_days_mean,
            ]
            for t in report.types
        ),
        heading=f"获得电力指标汇总（接电日期 {report.period_start} 至 {report.period_end}）",
    )
    add_sheet(
        workbook,
        "分环节",
        ("用户类型", "环节", "时限(工作日)", "户数", *_DAYS_HEADER),
        (
            [t.label, s.label, s.limit_days, s.grid.count, *_days(s.grid)]
            for t in report.types
            for s in t.stages
        ),
        heading="获得电力指标：分环节用时",
    )
    add_sheet(
        workbook,
        "最长用时",
        (
            "用户类型",
            "申请编号",
            "受理单位",
            "电网环节(工作日)",
            "全流程(工作日)",
            "暂停(工作日)",
            "时限",
            "受理时间",
            "接电时间",
            "全流程期限",
            "期限预测",
        ),
        (
            [
                t.label,
                w.number,
                w.unit,
                w.grid_days,
                w.elapsed_days,
                w.paused_days,
                w.limit_days,
                format_beijing(w.accepted_at),
                format_beijing(w.connected_at),
                w.due_date.isoformat(),
                PROVISIONAL_MARK if w.due_provisional else "",
            ]
            for t in report.types
            for w in t.worst
        ),
        heading="获得电力指标：用时最长的申请",
    )
    add_sheet(
        workbook,
        "说明",
        ("项目", "内容"),
        [
            ["统计期间（接电日期）", f"{report.period_start} 至 {report.period_end}"],
            ["地区", report.jurisdiction or "全部"],
            ["受理单位", report.unit or "全部"],
            ["生成时间(北京时间)", format_beijing(report.generated_at)],
            ["口径", "电网环节时长 = 工作日总时长 − 等待客户的暂停时长；P90 取最近秩"],
            [
                PROVISIONAL_MARK,
                "按尚未公布节假日安排的年度（节假日为预测）计算的期限，以公布的安排为准",
            ],
        ],
        heading="统计说明",
    )
    return workbook_bytes(workbook)
