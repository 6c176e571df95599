"""The shapes that gather several domains: an application's detail (申请详情) with its 三零
decision, documents and fees, and the applicant's page (办电进度查询)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import BaseModel
from pydantic import Field as DataField

from services.intake.applications.models import (
    ApplicationPublic,
    ApplicationStatus,
    PausePublic,
    ProgressStage,
    StagePublic,
)
from services.intake.documents.models import DocumentsView
from services.intake.fees.models import ApplicantFee, FeeSheet
from services.intake.whitelist.models import ThreeZeroPublic
from shared.timeutil import BeijingTime


class ApplicationDetail(ApplicationPublic):
    stages: list[StagePublic]
    pauses: list[PausePublic]
    three_zero: ThreeZeroPublic | None = DataField(default=None, description="三零判定")
    documents: DocumentsView | None = DataField(default=None, description="申请资料")
    fees: FeeSheet | None = DataField(default=None, description="收费清单")


class ApplicationCreated(BaseModel):
    application: ApplicationDetail
    query_code: str = DataField(
        description="查询码: shown once; the applicant checks progress with it"
    )


class ApplicantProgress(BaseModel):
    """What the applicant sees with the number and query code (办电进度查询)."""

    number: str
    customer_type_label: str
    status: ApplicationStatus
    status_label: str
    accepted_at: BeijingTime
    current_stage_label: str | None
    due_date: date | None
    due_provisional: bool = DataField(
        description="暂定: the due date counts over a year whose holidays are not published "
        "yet, and moves when they are"
    )
    stages: list[ProgressStage]
    awaiting_you: list[str] = DataField(description="What is awaited from the applicant (待您办理)")
    documents: list[str] = DataField(
        description="Documents this stage may ask for (本环节所需资料)"
    )
    documents_needed: list[str] = DataField(
        default_factory=list,
        description="Of those, the ones still to be given (尚需提供的资料)",
    )
    fees: list[ApplicantFee] = DataField(default_factory=list, description="收费项目")
    fee_total: Decimal = DataField(default=Decimal("0.00"), description="收费合计（元）")
    can_rate: bool
    rating: int | None
