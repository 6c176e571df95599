"""An item's derived state (事项状态): its latest update, 逾期 and 临期, computed in SQL.

Overdue (逾期) and due-soon (临期) are never stored: they are derived from the parsed due date and
the latest status update as of a given Beijing date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal
from sqlalchemy import select as sa_select
from sqlmodel import col, select

from services.ledger.ledgers.models import Item, Ledger
from services.ledger.ledgers.parsing import DueKind
from services.ledger.updates.models import FINISHED_STATUSES, StatusUpdate, TaskStatus
from shared.timeutil import end_of_beijing_day

DEFAULT_DUE_SOON_DAYS = 14


@dataclass(frozen=True)
class StateColumns:
    """The latest update as of a day, and the overdue/due-soon expressions built on it."""

    latest: Any
    status: ColumnElement[str]
    overdue: ColumnElement[bool]
    due_soon: ColumnElement[bool]


def in_use() -> ColumnElement[bool]:
    """The ledger is not archived."""
    return col(Ledger.archived_at).is_(None)


def state_columns(as_of: date, due_soon_days: int = DEFAULT_DUE_SOON_DAYS) -> StateColumns:
    last_ids = (
        select(StatusUpdate.item_id, func.max(StatusUpdate.id).label("update_id"))
        .where(StatusUpdate.created_at < end_of_beijing_day(as_of))
        .group_by(col(StatusUpdate.item_id))
        .subquery("last_ids")
    )
    latest = (
        sa_select(
            last_ids.c.item_id,
            col(StatusUpdate.status),
            col(StatusUpdate.progress),
            col(StatusUpdate.narrative),
            col(StatusUpdate.created_at),
        )
        .join(StatusUpdate, col(StatusUpdate.id) == last_ids.c.update_id)
        .subquery("latest")
    )
    # Before its first update an item reads 未开始, except one whose 完成时间 says it is already
    # achieved (已实现，持续巩固提升): that one starts as 持续巩固.
    initial = case(
        (
            col(Item.due_kind) == DueKind.achieved_consolidating.value,
            literal(TaskStatus.consolidating.value),
        ),
        else_=literal(TaskStatus.not_started.value),
    )
    status = func.coalesce(latest.c.status, initial)
    unfinished = status.not_in([s.value for s in FINISHED_STATUSES])
    dated = and_(col(Item.due_kind) == DueKind.date.value, col(Item.due_date).is_not(None))
    overdue = and_(dated, col(Item.due_date) < as_of, unfinished)
    due_soon = and_(
        dated,
        col(Item.due_date) >= as_of,
        col(Item.due_date) <= as_of + timedelta(days=due_soon_days),
        unfinished,
    )
    return StateColumns(latest, status, overdue, due_soon)
