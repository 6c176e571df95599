"""Connection applications (用电报装申请), their stages (办理环节), pauses and the stage log.

Facts are stored as they happened, stamped by the server: when each stage started and ended,
when the clock was paused and resumed. Everything the clock derives from them (due dates,
working days, grid-side time) is recomputed from those facts whenever the calendar or the
policy changes; the current stage's due date and warning day are kept on the application row
so that the watch lists are indexed range scans. Request bodies: :mod:`.requests`.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel
from pydantic import Field as DataField
from sqlalchemy import (
    JSON,
    Column,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlmodel import Field

from services.intake.db import IntakeTable
from services.intake.policies.models import Stage
from shared.db import UTCDateTime, enum_column
from shared.masking import FREE_TEXT, FreeText
from shared.pagination import Page
from shared.timeutil import BeijingTime
from shared.vocab import AreaClass, AreaClassed, CustomerType, CustomerTyped

PROJECT_CODE_PATTERN = r"^[0-9]{4}-[0-9]{6}-[0-9]{2}-[0-9]{2}-[0-9]{6}$"
"""项目代码 as the investment-project platforms issue it: year, region, industry, type, serial
(e.g. 2025-370502-44-03-012345)."""


class Channel(StrEnum):
    """受理渠道, chosen by the customer: 政务服务平台 / 线上 (网上国网等) / 营业厅柜台."""

    portal = "portal"
    online = "online"
    counter = "counter"


CHANNEL_LABELS = {
    Channel.portal: "政务服务平台",
    Channel.online: "线上渠道",
    Channel.counter: "营业厅",
}


class IdKind(StrEnum):
    """The applicant's identifier: 公民身份号码 (a person) or 统一社会信用代码 (an organisation)."""

    resident_id = "resident_id"
    credit_code = "credit_code"


class ApplicationStatus(StrEnum):
    """办理中 / 暂停计时（等待客户）/ 已接电 / 已终止."""

    open = "open"
    paused = "paused"
    connected = "connected"
    closed = "closed"


class PauseReason(StrEnum):
    """Why the clock waits on the customer (客户原因暂停计时)."""

    missing_material = "missing_material"
    customer_works = "customer_works"
    customer_postponed = "customer_postponed"


PAUSE_REASON_LABELS = {
    PauseReason.missing_material: "等待客户补充资料",
    PauseReason.customer_works: "等待客户完成自有工程",
    PauseReason.customer_postponed: "客户要求延期",
}


class EventKind(StrEnum):
    """What a stage-log event records (环节记录类型)."""

    created = "created"
    stage_completed = "stage_completed"
    paused = "paused"
    resumed = "resumed"
    closed = "closed"
    corrected = "corrected"
    policy_rejudged = "policy_rejudged"
    rated = "rated"
    escalation_opened = "escalation_opened"
    escalation_acknowledged = "escalation_acknowledged"
    escalation_resolved = "escalation_resolved"
    external_line_decided = "external_line_decided"
    external_line_approval = "external_line_approval"
    document_received = "document_received"
    documents_requested = "documents_requested"
    document_waived = "document_waived"
    fee_added = "fee_added"
    fee_voided = "fee_voided"
    fee_approved = "fee_approved"
    fee_rejected = "fee_rejected"
    whitelist_transition = "whitelist_transition"
    three_zero_rejudged = "three_zero_rejudged"
    three_zero_overridden = "three_zero_overridden"
    workflow_switched = "workflow_switched"
    log_resealed = "log_resealed"
    due_changed = "due_changed"


# ---- tables ----------------------------------------------------------------------------------


UNWARNED = "status = 'open' AND warned_level < {level}"
"""Open clocks not yet warned at a level (1 at risk, 2 escalated): the scan's partial indexes."""


class Application(IntakeTable, table=True):
    __tablename__ = "applications"
    # The watch lists are range scans on the running clock (status 'open', due date or first
    # at-risk day against today), unfiltered or by unit, supervising unit, type or stage; the
    # filtered ones carry at_risk_from so an at-risk list is read from the index alone.
    __table_args__ = (
        Index("ix_applications_watch_due", "status", "due_date", "id"),
        Index("ix_applications_watch_risk", "status", "at_risk_from", "due_date"),
        Index("ix_applications_unit_due", "unit", "status", "due_date", "at_risk_from"),
        Index(
            "ix_applications_supervising_due",
            "supervising_unit",
            "status",
            "due_date",
            "at_risk_from",
        ),
        Index("ix_applications_type_due", "customer_type", "status", "due_date", "at_risk_from"),
        Index("ix_applications_stage_due", "current_stage", "status", "due_date", "at_risk_from"),
        Index("ix_applications_ended", "status", "ended_day", "customer_type"),
        # A customer's applications by identity: documents on file reused on a change of use.
        Index("ix_applications_holder", "id_kind", "id_number"),
        # The scan looks only at open clocks not yet warned (or escalated): partial indexes
        # that stay small, because a row leaves them once it has been warned.
        Index(
            "ix_applications_to_warn",
            "at_risk_from",
            postgresql_where=text(UNWARNED.format(level=1)),
            sqlite_where=text(UNWARNED.format(level=1)),
        ),
        Index(
            "ix_applications_to_escalate",
            "due_date",
            postgresql_where=text(UNWARNED.format(level=2)),
            sqlite_where=text(UNWARNED.format(level=2)),
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(sa_column=Column(String(24), nullable=False, unique=True))
    query_code_hash: str = Field(sa_column=Column(String(100), nullable=False))
    jurisdiction: str = Field(max_length=40)
    policy_code: str = Field(max_length=64)
    customer_type: CustomerType = Field(sa_column=enum_column(CustomerType))
    has_works: bool = True
    channel: Channel = Field(sa_column=enum_column(Channel))
    unit: str = Field(max_length=100)
    supervising_unit: str = Field(max_length=100)
    clerk: str = Field(max_length=100, description="Responsible clerk's username (责任受理人员)")
    applicant_name: str = Field(max_length=200)
    id_kind: IdKind = Field(sa_column=enum_column(IdKind))
    id_number: str = Field(max_length=18)
    mobile: str = Field(max_length=11)
    email: str | None = Field(default=None, max_length=254)
    site_address: str = Field(max_length=300)
    area_class: AreaClass = Field(sa_column=enum_column(AreaClass))
    capacity_kw: Decimal = Field(sa_column=Column(Numeric(12, 2), nullable=False))
    feeder: str | None = Field(default=None, max_length=100)
    transformer_area: str | None = Field(default=None, max_length=100)
    accepted_at: BeijingTime = Field(sa_column=Column(UTCDateTime, nullable=False))
    accepted_day: date
    status: ApplicationStatus = Field(sa_column=enum_column(ApplicationStatus))
    current_stage: Stage | None = Field(sa_column=enum_column(Stage, nullable=True))
    current_seq: int = 0
    staged: bool = Field(description="Each stage has its own limit; else the total is the budget")
    total_limit_days: int
    paused_days: int = 0
    due_date: date | None = None
    at_risk_from: date | None = None
    due_provisional: bool = False
    warned_level: int = Field(default=0, description="0 none, 1 at-risk sent, 2 overdue sent")
    ended_at: BeijingTime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    ended_day: date | None = None
    # Once connected: the whole process in working days (总时长 / 电网环节), for the KPIs.
    elapsed_days: int | None = None
    grid_days: int | None = None
    within_limit: bool | None = None
    log_length: int = 0
    log_head: str = Field(default="", sa_column=Column(String(64), nullable=False, default=""))
    rating: int | None = None
    rating_comment: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    rated_at: BeijingTime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    # From the government portal: the project (项目代码) it joins, the portal it came through.
    project_code: str | None = Field(
        default=None, sa_column=Column(String(24), nullable=True, index=True)
    )
    portal_client: str | None = Field(
        default=None,
        sa_column=Column(String(64), nullable=True),
        description="Key id of the portal that submitted it; status callbacks go there",
    )


class ApplicationStage(IntakeTable, table=True):
    """One stage of one application; created with the application, started in order."""

    __tablename__ = "application_stages"
    __table_args__ = (UniqueConstraint("application_id", "seq", name="uq_application_stages_seq"),)
    id: int | None = Field(default=None, primary_key=True)
    application_id: int = Field(
        sa_column=Column(Integer, ForeignKey("applications.id"), nullable=False)
    )
    seq: int
    stage: Stage = Field(sa_column=enum_column(Stage))
    limit_days: int | None = None
    started_at: BeijingTime | None = Field(
        default=None, sa_column=Column(UTCDateTime, nullable=True)
    )
    started_day: date | None = None
    completed_at: BeijingTime | None = Field(
        default=None, sa_column=Column(UTCDateTime, nullable=True)
    )
    completed_day: date | None = None
    completed_by: str | None = Field(default=None, max_length=100)
    due_date: date | None = None
    paused_days: int = 0
    elapsed_days: int | None = None
    grid_days: int | None = None
    within_limit: bool | None = None
    provisional: bool = False


class ApplicationPause(IntakeTable, table=True):
    """A span in which the clock waited on the customer (暂停计时)."""

    __tablename__ = "application_pauses"
    id: int | None = Field(default=None, primary_key=True)
    application_id: int = Field(
        sa_column=Column(Integer, ForeignKey("applications.id"), nullable=False, index=True)
    )
    stage_seq: int
    reason: PauseReason = Field(sa_column=enum_column(PauseReason))
    note: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    started_at: BeijingTime = Field(sa_column=Column(UTCDateTime, nullable=False))
    started_day: date
    started_by: str = Field(max_length=100)
    ended_at: BeijingTime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    ended_day: date | None = None
    ended_by: str | None = Field(default=None, max_length=100)
    days: int | None = None


class ApplicationEvent(IntakeTable, table=True):
    """The stage log (环节记录): append-only, each event carrying the hash of the one before."""

    __tablename__ = "application_events"
    __table_args__ = (UniqueConstraint("application_id", "seq", name="uq_application_events_seq"),)
    id: int | None = Field(default=None, primary_key=True)
    application_id: int = Field(
        sa_column=Column(Integer, ForeignKey("applications.id"), nullable=False)
    )
    seq: int
    kind: EventKind = Field(sa_column=enum_column(EventKind))
    stage: Stage | None = Field(default=None, sa_column=enum_column(Stage, nullable=True))
    occurred_at: BeijingTime = Field(sa_column=Column(UTCDateTime, nullable=False))
    actor: str = Field(max_length=100)
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    prev_hash: str = Field(sa_column=Column(String(64), nullable=False))
    hash: str = Field(sa_column=Column(String(64), nullable=False))
    key_id: str | None = Field(
        default=None,
        sa_column=Column(String(16), nullable=True),
        description="Keyring key of the entry's HMAC; empty only before the log was keyed",
    )


# ---- response shapes -------------------------------------------------------------------------


class WatchState(StrEnum):
    """正常 / 预警 / 超期 / 暂停计时."""

    on_time = "on_time"
    at_risk = "at_risk"
    overdue = "overdue"
    paused = "paused"


class ApplicantPublic(BaseModel):
    name: str
    id_kind: IdKind
    id_number: str
    mobile: str
    email: str | None


class SitePublic(AreaClassed):
    address: str
    feeder: str | None
    transformer_area: str | None


class ClockPublic(BaseModel):
    """The running clock of an open application (当前计时)."""

    basis: Literal["stage", "total"] = DataField(
        description="stage: the current stage's own limit; total: the whole-process budget"
    )
    limit_days: int
    due_date: date
    at_risk_from: date
    provisional: bool = DataField(description="Counted over a year not yet confirmed (暂定)")
    state: WatchState
    remaining_days: int = DataField(description="Working days from today to the due date")


class TimeSpent(BaseModel):
    """Working days: elapsed (总时长), paused for the customer, grid-side (电网环节)."""

    limit_days: int | None
    elapsed_days: int
    paused_days: int
    grid_days: int
    within_limit: bool | None
    provisional: bool


class StagePublic(BaseModel):
    seq: int
    stage: Stage
    label: str
    state: Literal["pending", "open", "done"]
    started_at: BeijingTime | None
    completed_at: BeijingTime | None
    completed_by: str | None
    due_date: date | None
    time: TimeSpent | None


class PauseShown(BaseModel):
    """What every answer shows of a pause for the customer (暂停计时): the stage it paused, why,
    who began and ended it, and when."""

    stage: Stage
    reason: PauseReason
    reason_label: str
    note: FreeText
    started_at: BeijingTime
    started_by: str
    ended_at: BeijingTime | None
    ended_by: str | None


def pause_facts(pause: ApplicationPause) -> dict[str, Any]:
    """The fields of :class:`PauseShown` a stored pause gives (all but its stage, which the
    caller knows by the pause's ``stage_seq``)."""
    return {
        "reason": pause.reason,
        "reason_label": PAUSE_REASON_LABELS[pause.reason],
        "note": pause.note,
        "started_at": pause.started_at,
        "started_by": pause.started_by,
        "ended_at": pause.ended_at,
        "ended_by": pause.ended_by,
    }


class PausePublic(PauseShown):
    days: int
    provisional: bool = DataField(
        description="Its working days are counted over a year not yet published (暂定)"
    )


class ApplicationPublic(CustomerTyped):
    number: str
    jurisdiction: str
    policy_code: str
    has_works: bool
    channel: Channel
    unit: str
    supervising_unit: str
    clerk: str
    applicant: ApplicantPublic
    site: SitePublic
    capacity_kw: Decimal
    accepted_at: BeijingTime
    status: ApplicationStatus
    current_stage: Stage | None
    current_stage_label: str | None
    clock: ClockPublic | None
    total: TimeSpent
    ended_at: BeijingTime | None
    rating: int | None
    project_code: str | None = None


class ApplicationPage(Page[ApplicationPublic]):
    """A page of applications (申请列表)."""


class EventPublic(BaseModel):
    seq: int
    kind: EventKind
    stage: Stage | None
    occurred_at: BeijingTime
    actor: str
    reason: Annotated[str | None, FREE_TEXT]
    payload: Annotated[
        dict[str, Any],
        FREE_TEXT,
        DataField(description="Strings in it are masked (ID numbers, phones) for other roles"),
    ]
    prev_hash: str
    hash: str
    key_id: str | None


class Finding(BaseModel):
    """One thing that does not agree with the stage log, named by table and row (问题记录)."""

    application: str | None = DataField(default=None, description="The application's number")
    table: str
    row: int | None = DataField(default=None, description="The row's id in that table")
    seq: int | None = DataField(default=None, description="Event or stage sequence number")
    field: str | None = None
    problem: str


class ChainCheck(BaseModel):
    """The result of verifying an application's stage log and the rows derived from it
    (环节记录校验): the keyed chain, then the stage, pause and clock rows replayed from it."""

    number: str
    valid: bool
    length: int
    head: str
    first_bad_seq: int | None = None
    problem: str | None = None
    key_ids: list[str] = DataField(default_factory=list, description="Keys the entries name")
    findings: list[Finding] = DataField(default_factory=list)


class ProgressStage(BaseModel):
    stage: Stage
    label: str
    state: Literal["pending", "open", "done"]
    started_at: BeijingTime | None
    completed_at: BeijingTime | None
    due_date: date | None
    due_provisional: bool = DataField(description="暂定: counted over an unpublished year")
