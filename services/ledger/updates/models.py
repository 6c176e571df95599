"""Status updates (进展更新): append-only, each with its evidence files (佐证材料)."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import Column, Index, LargeBinary, String, Text
from sqlmodel import Field, SQLModel

from services.ledger.db import LedgerTable
from shared.db import UTCDateTime, enum_column
from shared.timeutil import BeijingTime


class TaskStatus(StrEnum):
    """未开始 / 推进中 / 已完成 / 持续巩固 / 受阻."""

    not_started = "not_started"
    in_progress = "in_progress"
    done = "done"
    consolidating = "consolidating"
    blocked = "blocked"


STATUS_LABELS: dict[TaskStatus, str] = {
    TaskStatus.not_started: "未开始",
    TaskStatus.in_progress: "推进中",
    TaskStatus.done: "已完成",
    TaskStatus.consolidating: "持续巩固",
    TaskStatus.blocked: "受阻",
}
# An item in one of these states has met its due date; it cannot be overdue.
FINISHED_STATUSES = (TaskStatus.done, TaskStatus.consolidating)


class StatusUpdate(LedgerTable, table=True):
    __tablename__ = "status_updates"
    __table_args__ = (Index("ix_status_updates_item_latest", "item_id", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="items.id")
    status: TaskStatus = Field(sa_column=enum_column(TaskStatus))
    progress: int = Field(ge=0, le=100)
    narrative: str = Field(sa_column=Column(Text, nullable=False))
    author_id: int = Field(foreign_key="users.id", index=True)
    unit_id: int = Field(foreign_key="units.id", index=True)
    created_at: BeijingTime = Field(sa_column=Column(UTCDateTime, nullable=False, index=True))


class Evidence(LedgerTable, table=True):
    """A file attached to an update; kept in the database so an update lands whole or not at all."""

    __tablename__ = "evidence"
    id: int | None = Field(default=None, primary_key=True)
    update_id: int = Field(foreign_key="status_updates.id", index=True)
    filename: str = Field(max_length=255)
    content_type: str = Field(max_length=100)
    size: int
    sha256: str = Field(sa_column=Column(String(64), nullable=False))
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class StatusUpdateCreate(SQLModel):
    """A status update as posted (进展更新); the server adds author, unit and time."""

    status: TaskStatus
    progress: int
    narrative: str


class EvidencePublic(SQLModel):
    id: int
    filename: str
    content_type: str
    size: int
    sha256: str


class StatusUpdatePublic(SQLModel):
    id: int
    item_id: int
    status: TaskStatus
    status_label: str
    progress: int
    narrative: str
    author: str
    unit: str
    created_at: BeijingTime
    evidence: list[EvidencePublic] = []
