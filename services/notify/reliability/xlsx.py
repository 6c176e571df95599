"""The reliability report as an .xlsx workbook (供电可靠性统计表)."""

from __future__ import annotations

from services.notify.reliability.models import CustomersSource, ReliabilityReport
from shared.downloads import add_sheet, new_workbook, workbook_bytes

SOURCE_LABELS = {
    CustomersSource.official: "官方用户数",
    CustomersSource.subscribers: "按用户档案",
}

HEADER = (
    "区域类别",
    "服务户数",
    "服务户数来源",
    "预安排停电户次",
    "预安排停电时户数",
    "预安排户均停电时间(小时)",
    "故障停电户次",
    "故障停电时户数",
    "故障户均停电时间(小时)",
    "户均停电时间(小时)",
    "户均停电次数",
    "目标(小时)",
    "上年户均停电时间(小时)",
    "同比压缩(%)",
    "是否达标",
)


def reliability_xlsx(report: ReliabilityReport) -> bytes:
    workbook = new_workbook()
    add_sheet(
        workbook,
        f"{report.year}年供电可靠性",
        HEADER,
        (
            [
                row.area_class.label,
                row.customers_served,
                SOURCE_LABELS[row.customers_served_source],
                row.planned.interruptions,
                row.planned.customer_hours,
                row.planned.saidi_hours,
                row.unplanned.interruptions,
                row.unplanned.customer_hours,
                row.unplanned.saidi_hours,
                row.total.saidi_hours,
                row.total.saifi,
                row.target_hours,
                row.previous_year_saidi_hours,
                row.reduction_percent,
                "达标" if row.meets else "未达标",
            ]
            for row in report.area_classes
        ),
        heading=f"{report.plan_name}：{report.year}年{report.unit or ''}户均停电时间统计",
        preamble=[
            [
                f"目标：户均停电时间不超过各区域目标，或同比压缩"
                f"{report.reduction_target_percent:g}%以上；"
                f"统计已复电停电{report.outages_counted}次，进行中{report.outages_ongoing}次"
            ]
        ],
    )
    return workbook_bytes(workbook)
