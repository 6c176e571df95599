"""Load the plans shipped with Huodian: Dongying's 68 items and Jingyu's 17 tasks."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.ledger.ledgers.models import Ledger
from services.ledger.ledgers.service import NewItem, create_ledger

REFERENCE_DIR = Path(__file__).resolve().parent
PLAN_FILES = ("dongying-2021.json", "jingyu-2022.json")


@dataclass(frozen=True)
class PlanData:
    code: str
    name: str
    issuer: str
    document_no: str
    source: str
    plan_end: date
    items: list[NewItem]


def load_plan(filename: str) -> PlanData:
    raw: dict[str, Any] = json.loads((REFERENCE_DIR / filename).read_text(encoding="utf-8"))
    return PlanData(
        code=raw["code"],
        name=raw["name"],
        issuer=raw["issuer"],
        document_no=raw["document_no"],
        source=raw["source"],
        plan_end=date.fromisoformat(raw["plan_end"]),
        items=[
            NewItem(
                seq=i["seq"],
                category=i["category"],
                task=i["task"],
                responsible_text=i["responsible_text"],
                due_text=i["due_text"],
            )
            for i in raw["items"]
        ],
    )


async def seed_reference_ledgers(session: AsyncSession, *, now: datetime) -> list[str]:
    """Create the shipped ledgers that are missing; returns the codes created (idempotent)."""
    created = []
    for filename in PLAN_FILES:
        plan = load_plan(filename)
        exists = await session.exec(select(Ledger.id).where(col(Ledger.code) == plan.code))
        if exists.first() is not None:
            continue
        await create_ledger(
            session,
            code=plan.code,
            name=plan.name,
            rows=plan.items,
            issuer=plan.issuer,
            document_no=plan.document_no,
            source=plan.source,
            plan_end=plan.plan_end,
            now=now,
        )
        created.append(plan.code)
    return created
