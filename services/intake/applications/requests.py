"""What a caller sends about an application: the new application (新装申请) and each step on it.

A caller may not send what the server stamps (times, authors): every body refuses unknown fields.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr
from pydantic import Field as DataField

from services.intake.applications.models import PROJECT_CODE_PATTERN, Channel, IdKind, PauseReason
from shared.vocab import AreaClass, CustomerType


class ThreeZeroOverrideIn(BaseModel):
    """A clerk's override of the 三零 decision the facts give (人工调整“三零”判定)."""

    model_config = ConfigDict(extra="forbid")
    eligible: bool = DataField(description="The outcome chosen against the facts' decision")
    reason: str | None = DataField(
        default=None, max_length=2000, description="调整理由（必填）, e.g. 非小微企业"
    )


class _Body(BaseModel):
    # A caller may not send what the server stamps (times, authors): unknown fields are refused.
    model_config = ConfigDict(extra="forbid")


class ApplicantIn(_Body):
    name: str = DataField(min_length=1, max_length=200, description="申请人/单位名称")
    id_kind: IdKind
    id_number: str = DataField(min_length=1, max_length=40)
    mobile: str = DataField(min_length=1, max_length=30)
    email: EmailStr | None = None


class SiteIn(_Body):
    address: str = DataField(min_length=1, max_length=300, description="用电地址")
    area_class: AreaClass
    feeder: str | None = DataField(default=None, min_length=1, max_length=100, description="线路")
    transformer_area: str | None = DataField(
        default=None, min_length=1, max_length=100, description="台区"
    )
    grid_area: str | None = DataField(
        default=None,
        min_length=1,
        max_length=100,
        description="配电网区域: one of the unit's areas whose open capacity staff keep",
    )


class ApplicationCreate(_Body):
    """A new application (新装申请) as the customer gives it, through the channel they chose."""

    jurisdiction: str = DataField(min_length=2, max_length=40)
    unit: str = DataField(min_length=1, max_length=100, description="受理单位（供电单位）")
    channel: Channel
    customer_type: CustomerType
    has_works: bool = DataField(default=True, description="false: 无工程的低压用户")
    applicant: ApplicantIn
    site: SiteIn
    changes_application: str | None = DataField(
        default=None,
        min_length=1,
        max_length=24,
        description="变更用电: the number of the same customer's connected application it changes",
    )
    capacity_kw: Decimal = DataField(gt=0, le=1_000_000, decimal_places=2, description="容量 kW")
    project_code: str | None = DataField(
        default=None,
        pattern=PROJECT_CODE_PATTERN,
        description="项目代码 of a construction project: joins its pre-application (超前对接)",
    )
    three_zero_override: ThreeZeroOverrideIn | None = DataField(
        default=None,
        description="Override the 三零 decision the facts give, with a reason (recorded)",
    )


class StageCompletion(_Body):
    note: str = DataField(default="", max_length=2000)
    feeder: str | None = DataField(default=None, min_length=1, max_length=100)
    transformer_area: str | None = DataField(default=None, min_length=1, max_length=100)


class PauseRequest(_Body):
    reason: PauseReason
    note: str = DataField(default="", max_length=2000, description="等待客户的事项")
    documents: list[str] = DataField(
        default=[],
        max_length=20,
        description="向客户一次性告知、等待补充的资料（须为本环节尚需的资料）；"
        "missing_material 须填写资料或事项",
    )


class ResumeRequest(_Body):
    note: str = DataField(default="", max_length=2000)


class CloseRequest(_Body):
    reason: str = DataField(min_length=1, max_length=2000, description="终止原因，如 客户撤回申请")


CorrectableField = Literal[
    "applicant_name",
    "id_number",
    "mobile",
    "email",
    "site_address",
    "area_class",
    "capacity_kw",
    "feeder",
    "transformer_area",
]


class CorrectionRequest(_Body):
    """A correction (更正): a new log event with the reason; nothing earlier is rewritten."""

    field: CorrectableField
    value: str = DataField(max_length=300)
    reason: str = DataField(min_length=1, max_length=2000)


class RatingRequest(_Body):
    score: int = DataField(ge=1, le=5, description="1–5 星")
    comment: str = DataField(default="", max_length=1000)
