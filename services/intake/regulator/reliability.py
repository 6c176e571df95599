"""Outage hours per customer (户均停电时间) against the plan's targets, asked of notify through
the service client; a notify that cannot be reached leaves the page whole, marked 暂不可用."""

from __future__ import annotations

import logging

from services.intake.regulator.models import Reliability, ReliabilityRow
from shared.errors import UpstreamUnavailable
from shared.http import ServiceClient

log = logging.getLogger("huodian.intake.regulator")
PLAN = "dongying-2021"  # the city's plan (东发改能源〔2021〕122号), whose targets notify holds


async def outage_hours(client: ServiceClient, year: int) -> Reliability:
    try:
        report = await client.get_json(
            "notify", "/reliability", params={"year": year, "plan": PLAN}
        )
    except UpstreamUnavailable as exc:
        log.warning("reliability figures unavailable: %s", exc)
        return Reliability(available=False, reason="消息通知服务暂不可用")
    return Reliability(
        available=True,
        plan_name=report["plan_name"],
        rows=[
            ReliabilityRow(
                area_class=r["area_class"],
                area_class_label=r["area_class_label"],
                saidi_hours=r["total"]["saidi_hours"],
                target_hours=r["target_hours"],
                meets=r["meets"],
            )
            for r in report["area_classes"]
        ],
    )
