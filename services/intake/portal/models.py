"""The government portal integration (政务服务平台对接): its clients, what keeps their calls safe
to repeat, the projects the approval platform pushes, and the status callbacks intake sends.

- :class:`PortalClient` — a portal's API key and its webhook URL.
- :class:`PortalNonce` — nonces already used, so a signed request cannot be replayed.
- :class:`PreApplication` — a project pushed by the 工程建设项目审批平台 before the customer
  applies (超前对接), joined to the formal application when it comes.
- :class:`LicenceCheck` — the e-license checks (电子证照核验) of a portal application.
- :class:`WebhookDelivery` — one status callback (状态回调) to a portal, delivered in order.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import AnyHttpUrl, BaseModel, ConfigDict
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
    Uuid,
)
from sqlmodel import Field

from services.intake.applications.models import PROJECT_CODE_PATTERN, ApplicationStatus
from services.intake.applications.requests import ApplicantIn, SiteIn
from services.intake.db import IntakeTable
from services.intake.policies.models import Stage
from services.intake.standins.elicense import LicenceOutcome, LicenceType
from shared.db import UTCDateTime, enum_column
from shared.timeutil import BeijingTime
from shared.validation import Day
from shared.vocab import CustomerType

# ---- tables ----------------------------------------------------------------------------------


class PortalScope(StrEnum):
    """What a portal key may post (接入权限); each portal route requires one.

    ``applications`` — the government portal (政务服务平台) submits applications;
    ``projects`` — the project approval platform (工程建设项目审批平台) pushes projects;
    ``approvals`` — the approval service (审批部门) posts external-line approval results.
    """

    applications = "applications"
    projects = "projects"
    approvals = "approvals"


class PortalClient(IntakeTable, table=True):
    """A portal that calls intake with a key id and an HMAC signature.

    The server must recompute each request's HMAC, so the secret cannot be hashed: it is kept
    sealed with the keyring outside the database (``shared.keyring``, AES-GCM), opened by
    :func:`services.intake.portal.service.portal_secret` when a request is checked or a
    callback signed.
    """

    __tablename__ = "portal_clients"
    id: int | None = Field(default=None, primary_key=True)
    key_id: str = Field(sa_column=Column(String(40), nullable=False, unique=True))
    name: str = Field(max_length=200)
    sealed_secret: str = Field(max_length=255)
    is_active: bool = True
    created_at: BeijingTime = Field(sa_column=Column(UTCDateTime, nullable=False))
    webhook_url: str | None = Field(
        default=None,
        sa_column=Column(String(500), nullable=True),
        description="Where status callbacks (状态回调) of its applications are posted",
    )
    scopes: list[str] = Field(
        default_factory=lambda: [PortalScope.applications.value],
        sa_column=Column(JSON, nullable=False),
        description="The portal routes this key may call (接入权限), PortalScope values",
    )


class PortalNonce(IntakeTable, table=True):
    """A nonce a portal has used; kept until its signature's timestamp can no longer pass."""

    __tablename__ = "portal_nonces"
    __table_args__ = (UniqueConstraint("key_id", "nonce", name="uq_portal_nonces_key_nonce"),)
    id: int | None = Field(default=None, primary_key=True)
    key_id: str = Field(sa_column=Column(String(64), nullable=False))
    nonce: str = Field(sa_column=Column(String(64), nullable=False))
    expires_at: BeijingTime = Field(sa_column=Column(UTCDateTime, nullable=False, index=True))


class PreApplicationStatus(StrEnum):
    """待正式报装 / 已转正式报装."""

    awaiting = "awaiting"
    joined = "joined"


PRE_APPLICATION_STATUS_LABELS = {
    PreApplicationStatus.awaiting: "超前对接中，待正式报装",
    PreApplicationStatus.joined: "已转正式报装",
}


class PreApplication(IntakeTable, table=True):
    """A construction project the approval platform pushed (超前对接 / 项目赋码信息)."""

    __tablename__ = "pre_applications"
    __table_args__ = (
        Index("ix_pre_applications_unit_status", "unit", "status", "expected_connection_date"),
    )
    id: int | None = Field(default=None, primary_key=True)
    project_code: str = Field(sa_column=Column(String(24), nullable=False, unique=True))
    project_name: str = Field(max_length=200)
    builder_name: str = Field(max_length=200)
    builder_credit_code: str = Field(max_length=18)
    site_address: str = Field(max_length=300)
    region_code: str = Field(max_length=6)
    jurisdiction: str = Field(max_length=40)
    unit: str = Field(max_length=100)
    expected_load_kw: Decimal = Field(sa_column=Column(Numeric(12, 2), nullable=False))
    expected_connection_date: date
    status: PreApplicationStatus = Field(sa_column=enum_column(PreApplicationStatus))
    source_key_id: str = Field(max_length=64)
    received_at: BeijingTime = Field(sa_column=Column(UTCDateTime, nullable=False))
    updated_at: BeijingTime = Field(sa_column=Column(UTCDateTime, nullable=False))
    application_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("applications.id"), nullable=True, unique=True),
    )
    joined_at: BeijingTime | None = Field(
        default=None, sa_column=Column(UTCDateTime, nullable=True)
    )


class LicenceCheck(IntakeTable, table=True):
    """One e-license check made when a portal application was accepted (电子证照核验记录)."""

    __tablename__ = "portal_licence_checks"
    id: int | None = Field(default=None, primary_key=True)
    application_id: int = Field(
        sa_column=Column(Integer, ForeignKey("applications.id"), nullable=False, index=True)
    )
    licence_type: LicenceType = Field(sa_column=enum_column(LicenceType))
    number: str = Field(max_length=64, description="Masked for identity cards")
    outcome: LicenceOutcome = Field(sa_column=enum_column(LicenceOutcome))
    issuer: str | None = Field(default=None, max_length=200)
    expires_on: date | None = None
    checked_at: BeijingTime = Field(sa_column=Column(UTCDateTime, nullable=False))


class DeliveryState(StrEnum):
    """待发送 / 已送达 / 未发送（接入方未登记回调地址）."""

    pending = "pending"
    delivered = "delivered"
    skipped = "skipped"


class WebhookDelivery(IntakeTable, table=True):
    """One status callback to the portal an application came from; sent in log order."""

    __tablename__ = "portal_webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("application_id", "seq", name="uq_portal_webhook_deliveries_seq"),
        Index("ix_portal_webhook_deliveries_due", "state", "next_attempt_at", "id"),
        Index("ix_portal_webhook_deliveries_client", "key_id", "id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    event_id: UUID = Field(sa_column=Column(Uuid, nullable=False, unique=True))
    key_id: str = Field(max_length=64)
    application_id: int = Field(
        sa_column=Column(Integer, ForeignKey("applications.id"), nullable=False)
    )
    application_number: str = Field(max_length=24)
    seq: int = Field(description="The stage-log event's sequence number: the order of sending")
    type: str = Field(max_length=64)
    body: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    state: DeliveryState = Field(sa_column=enum_column(DeliveryState))
    attempts: int = 0
    next_attempt_at: BeijingTime = Field(sa_column=Column(UTCDateTime, nullable=False))
    last_status: int | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: BeijingTime = Field(sa_column=Column(UTCDateTime, nullable=False))
    delivered_at: BeijingTime | None = Field(
        default=None, sa_column=Column(UTCDateTime, nullable=True)
    )


# ---- request shapes --------------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProjectPush(_Body):
    """A project from the project approval platform (工程建设项目审批平台推送的项目信息)."""

    project_code: str = DataField(pattern=PROJECT_CODE_PATTERN, description="项目代码")
    project_name: str = DataField(min_length=1, max_length=200, description="项目名称")
    builder_name: str = DataField(min_length=1, max_length=200, description="建设单位")
    builder_credit_code: str = DataField(
        min_length=1, max_length=40, description="建设单位统一社会信用代码"
    )
    site_address: str = DataField(min_length=1, max_length=300, description="建设地点")
    expected_load_kw: Decimal = DataField(
        gt=0, le=10_000_000, decimal_places=2, description="预计用电负荷 kW"
    )
    expected_connection_date: Day = DataField(description="预计用电时间")


class PropertyCertificateIn(_Body):
    """不动产权证书 / 不动产登记证明 of the site, checked against the e-license service."""

    number: str = DataField(min_length=1, max_length=64, description="不动产权证号")
    holder: str | None = DataField(
        default=None, min_length=1, max_length=200, description="权利人; default: the applicant"
    )


class PortalApplicationIn(_Body):
    """An application the customer submitted on the government portal (政务服务平台报装).

    The unit and the jurisdiction follow from the site's region (``region_code``); the channel
    is the portal. The applicant's identity (营业执照 or 身份证) and, when given, the property
    certificate (不动产登记) are checked with the e-license service (零证办电).
    """

    region_code: str = DataField(pattern=r"^[0-9]{6}$", description="用电地址所在县级行政区划代码")
    customer_type: CustomerType
    has_works: bool = DataField(default=True, description="false: 无工程的低压用户")
    applicant: ApplicantIn
    site: SiteIn
    capacity_kw: Decimal = DataField(gt=0, le=1_000_000, decimal_places=2, description="容量 kW")
    project_code: str | None = DataField(
        default=None, pattern=PROJECT_CODE_PATTERN, description="项目代码 (joins 超前对接)"
    )
    property_certificate: PropertyCertificateIn | None = None


class WebhookSetting(_Body):
    url: AnyHttpUrl | None = DataField(
        description="Status callbacks go here (状态回调地址); null stops them"
    )


# ---- response shapes -------------------------------------------------------------------------


class PortalClientPublic(BaseModel):
    """A portal client as administrators see it (the secret is never shown again)."""

    key_id: str
    name: str
    is_active: bool
    webhook_url: str | None
    scopes: list[PortalScope]
    created_at: BeijingTime


class PortalKeyIssued(PortalClientPublic):
    """A key with its new secret, shown this once (密钥仅显示一次)."""

    secret: str


class PreApplicationPublic(BaseModel):
    project_code: str
    project_name: str
    builder_name: str
    builder_credit_code: str
    site_address: str
    region_code: str
    region: str
    jurisdiction: str
    unit: str
    expected_load_kw: Decimal
    expected_connection_date: date
    status: PreApplicationStatus
    status_label: str
    source_key_id: str
    received_at: BeijingTime
    updated_at: BeijingTime
    application_number: str | None
    joined_at: BeijingTime | None


class PreApplicationPage(BaseModel):
    total: int
    limit: int
    offset: int
    pre_applications: list[PreApplicationPublic]


class LicenceCheckPublic(BaseModel):
    field: str
    licence_type: LicenceType
    outcome: LicenceOutcome
    issuer: str | None
    expires_on: date | None


class PortalApplicationCreated(BaseModel):
    """What the portal gets back: the number and the query code to give the customer."""

    number: str
    query_code: str = DataField(description="查询码: the customer checks progress with it")
    status: ApplicationStatus
    unit: str
    jurisdiction: str
    customer_type: CustomerType
    accepted_at: BeijingTime
    current_stage: Stage | None
    due_date: date | None
    due_provisional: bool = DataField(
        description="The due date counts over a year whose holidays are not published yet "
        "(暂定): it is recomputed when they are"
    )
    project_code: str | None
    pre_application_joined: bool
    licences: list[LicenceCheckPublic]


class PortalMe(BaseModel):
    key_id: str
    name: str
    webhook_url: str | None
    scopes: list[PortalScope]


class WebhookDeliveryPublic(BaseModel):
    id: int
    event_id: UUID
    application_number: str
    seq: int
    type: str
    state: DeliveryState
    attempts: int
    last_status: int | None
    last_error: str | None
    next_attempt_at: BeijingTime
    created_at: BeijingTime
    delivered_at: BeijingTime | None


class WebhookDeliveryPage(BaseModel):
    total: int
    limit: int
    offset: int
    deliveries: list[WebhookDeliveryPublic]


class WebhookRun(BaseModel):
    """One pass of the callback delivery."""

    delivered: int = 0
    failed: int = 0
    skipped: int = 0
