"""The comparison as an .xlsx workbook (监管对比表): the companies ranked, their stages, and the
outage hours against the targets."""

from __future__ import annotations

from typing import Any

from fastapi import Response

from services.intake.regulator.models import CompanyFigures, Comparison
from shared.downloads import XLSX_MEDIA_TYPE, add_sheet, attachment, new_workbook, workbook_bytes
from shared.timeutil import format_beijing

UNAVAILABLE = "暂不可用"


def _share(value: float | None) -> str:
    return f"{value:.1%}" if value is not None else ""


def _company(c: CompanyFigures) -> list[Any]:
    return [
        c.rank if c.rank is not None else "不参与排名",
        c.unit,
        c.applications,
        c.procedures_mean,
        c.total.mean,
        c.total.p90,
        _share(c.total.within_limit_share),
        float(c.fees_total),
        float(c.fees_per_application) if c.fees_per_application is not None else "",
        c.total_limit_days if c.total_limit_days is not None else "",
        _yes_no(c.total_meets_limit),
    ]


def _yes_no(value: bool | None) -> str:
    return "" if value is None else "是" if value else "否"


def comparison_xlsx(report: Comparison) -> bytes:
    title = f"{report.year}年{report.period_label}各供电单位获得电力指标通报"
    workbook = new_workbook(title)
    add_sheet(
        workbook,
        "通报排名",
        (
            "排名",
            "供电单位",
            "接电户数",
            "平均环节数",
            "电网环节平均(工作日)",
            "电网环节P90",
            "时限内办结占比",
            "收费合计(元)",
            "户均收费(元)",
            "全流程时限(工作日)",
            "全流程达标",
        ),
        (_company(c) for c in report.companies),
        heading=f"{title}（接电日期 {report.period_start} 至 {report.period_end}）",
        widths=(10, 28, 10, 12, 20, 14, 16, 14, 14, 18, 12),
    )
    add_sheet(
        workbook,
        "分环节",
        ("供电单位", "环节", "时限(工作日)", "户数", "平均(工作日)", "P90", "时限内占比"),
        (
            [
                c.unit,
                s.label,
                s.limit_days,
                s.grid.count,
                s.grid.mean,
                s.grid.p90,
                _share(s.grid.within_limit_share),
            ]
            for c in report.companies
            for s in c.stages
        ),
        heading="各供电单位分环节用时（附件1 时限）",
    )
    reliability = report.reliability
    add_sheet(
        workbook,
        "户均停电时间",
        ("供电单位", "供电区域", "户均停电时间(小时)", "目标(小时)", "达标"),
        (
            [
                [unit, r.area_class_label, r.saidi_hours, r.target_hours, _yes_no(r.meets)]
                for unit, rows in [
                    ("全市", reliability.rows),
                    *((c.unit, c.outage_hours) for c in report.companies),
                ]
                for r in rows
            ]
            if reliability.available
            else [["全市", UNAVAILABLE, UNAVAILABLE, UNAVAILABLE, UNAVAILABLE]]
        ),
        heading=f"{report.year}年户均停电时间对照行动计划目标（全市及各供电单位，消息通知服务统计；"
        "供电单位含其下属单位的停电）",
        widths=(28, 12, 20, 12, 8),
    )
    add_sheet(
        workbook,
        "说明",
        ("项目", "内容"),
        [
            ["统计期间（接电日期）", f"{report.period_start} 至 {report.period_end}"],
            ["生成时间(北京时间)", format_beijing(report.generated_at)],
            ["排名规则", report.ranking_rule],
            ["口径", "电网环节时长 = 工作日总时长 − 等待客户的暂停时长；P90 取最近秩"],
        ],
        heading="统计说明",
    )
    return workbook_bytes(workbook)


def comparison_download(report: Comparison) -> Response:
    name = f"comparison-{report.year}-{report.period.value}.xlsx"
    return attachment(comparison_xlsx(report), XLSX_MEDIA_TYPE, name)
