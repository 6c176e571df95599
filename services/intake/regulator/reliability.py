"""Outage hours per customer (户均停电时间) against the plan's targets, asked of notify through
the service client, for the city and for each power company (notify's ``unit`` filter: the
company's own outages and those of the units under it); a notify that cannot be reached leaves
the page whole, marked 暂不可用."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from services.intake.regulator import service
from services.intake.regulator.models import Reliability, ReliabilityRow
from shared.errors import UpstreamUnavailable
from shared.http import ServiceClient

log = logging.getLogger("huodian.intake.regulator")
PLAN = "dongying-2021"  # the city's plan (东发改能源〔2021〕122号), whose targets notify holds
UNAVAILABLE = Reliability(available=False, reason="消息通知服务暂不可用")


def _rows(report: dict[str, Any]) -> list[ReliabilityRow]:
    return [
        ReliabilityRow(
            area_class=r["area_class"],
            area_class_label=r["area_class_label"],
            saidi_hours=r["total"]["saidi_hours"],
            target_hours=r["target_hours"],
            meets=r["meets"],
        )
        for r in report["area_classes"]
    ]


async def outage_hours(
    client: ServiceClient, year: int
) -> tuple[Reliability, dict[str, list[ReliabilityRow]]]:
    """The city's figures and each company's (one call each, made side by side)."""
    companies = [c.name for c in service.companies()]

    async def report(unit: str | None) -> dict[str, Any]:
        params: dict[str, Any] = {"year": year, "plan": PLAN}
        if unit is not None:
            params["unit"] = unit
        found: dict[str, Any] = await client.get_json("notify", "/reliability", params=params)
        return found

    try:
        city, *each = await asyncio.gather(report(None), *(report(u) for u in companies))
    except UpstreamUnavailable as exc:
        log.warning("reliability figures unavailable: %s", exc)
        return UNAVAILABLE, {}
    by_company = {unit: _rows(r) for unit, r in zip(companies, each, strict=True)}
    return Reliability(available=True, plan_name=city["plan_name"], rows=_rows(city)), by_company
