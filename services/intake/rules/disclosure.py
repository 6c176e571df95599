"""Information disclosure (信息公开): what anyone may read without signing in.

The process per customer type (办理环节), its time limits (办理时限) and the documents of each stage
(申请资料), the fee catalogue (收费项目与标准) with the fees that may never be charged, the
channels, and the two hotlines 95598 and 12398, which the plan requires to be published together
(同步、同对象公布).

Nothing is typed twice: the stages and limits come from the time-limit policy version passed in
(the one in force, reference or added by an administrator), the documents from
:mod:`.documents`, the fees from :mod:`.fees`; the texts that are only disclosure live in
``disclosure.json``. The distribution network's open capacity per area (配电网接入能力) is kept by
staff in the database and is not part of this static content.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, model_validator

from services.intake.policies.models import (
    CUSTOMER_TYPE_LABELS,
    STAGE_LABELS,
    CustomerType,
    PolicyVersionCreate,
    Stage,
)
from services.intake.rules.documents import required_documents
from services.intake.rules.fees import load_fee_rules

__all__ = [
    "REQUIRED_HOTLINES",
    "DisclosedDocument",
    "DisclosedFee",
    "DisclosedProcess",
    "DisclosedStage",
    "Disclosure",
    "DisclosureTexts",
    "FeeDisclosure",
    "Hotline",
    "build_disclosure",
    "load_disclosure_texts",
]

_DATA_FILE = Path(__file__).with_name("disclosure.json")
REQUIRED_HOTLINES = ("95598", "12398")
"""供电服务热线 and 能源监管热线: never one without the other."""


class _Data(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Hotline(_Data):
    number: str
    name: str
    purpose: str


class Hotlines(_Data):
    rule: str
    source: str
    numbers: tuple[Hotline, ...]

    @model_validator(mode="after")
    def _published_together(self) -> Hotlines:
        numbers = [h.number for h in self.numbers]
        if sorted(numbers) != sorted(REQUIRED_HOTLINES):
            raise ValueError("95598 and 12398 must be published together, and only once each")
        return self


class Channels(_Data):
    rule: str
    source: str
    names: tuple[str, ...]


class DisclosureTexts(_Data):
    """The texts of ``disclosure.json``."""

    title: str
    rule: str
    source: str
    hotlines: Hotlines
    channels: Channels
    voltage_note: str
    customer_type_notes: dict[CustomerType, str]
    no_works_rule: str
    documents_rule: str

    @model_validator(mode="after")
    def _every_customer_type(self) -> DisclosureTexts:
        if set(self.customer_type_notes) != set(CustomerType):
            raise ValueError("every customer type needs a note")
        return self


@cache
def load_disclosure_texts() -> DisclosureTexts:
    return DisclosureTexts.model_validate_json(_DATA_FILE.read_bytes())


class DisclosedDocument(BaseModel):
    code: str
    name: str
    description: str


class DisclosedStage(BaseModel):
    stage: Stage
    name: str
    limit_days: int | None
    limit_text: str
    documents: list[DisclosedDocument]


class DisclosedProcess(BaseModel):
    customer_type: CustomerType
    name: str
    note: str
    stage_count: int
    stages: list[DisclosedStage]
    total_days: int
    time_limit_text: str
    no_works_text: str | None


class DisclosedFee(BaseModel):
    code: str
    name: str
    content: str
    unit: str
    price: Decimal


class FeeDisclosure(BaseModel):
    extended_services: list[DisclosedFee]
    extended_services_rule: str
    price_note: str
    banned: list[str]
    banned_rule: str
    banned_source: str


class Disclosure(BaseModel):
    """Everything the public disclosure page shows for one jurisdiction."""

    title: str
    rule: str
    source: str
    jurisdiction: str
    jurisdiction_name: str
    policy_code: str
    policy_title: str
    policy_source: str
    effective_from: date
    voltage_note: str
    documents_rule: str
    processes: list[DisclosedProcess]
    fees: FeeDisclosure
    hotlines: list[Hotline]
    hotline_rule: str
    channels: list[str]
    channels_rule: str


def _process(
    policy: PolicyVersionCreate, customer_type: CustomerType, texts: DisclosureTexts
) -> DisclosedProcess:
    entry = policy.entry_for(customer_type)
    stages = [
        DisclosedStage(
            stage=s.stage,
            name=STAGE_LABELS[s.stage],
            limit_days=s.limit_days,
            limit_text=(f"{s.limit_days}个工作日" if s.limit_days is not None else "计入合计时限"),
            documents=[
                DisclosedDocument(code=k.code, name=k.name, description=k.description)
                for k in required_documents(customer_type, s.stage)
            ],
        )
        for s in entry.stages
    ]
    no_works = entry.no_works_total_days
    if no_works is None:
        no_works_text = None
    elif no_works == 1:
        no_works_text = texts.no_works_rule
    else:
        no_works_text = f"无工程的低压用户，{no_works}个工作日内完成接电。"
    return DisclosedProcess(
        customer_type=customer_type,
        name=CUSTOMER_TYPE_LABELS[customer_type],
        note=texts.customer_type_notes[customer_type],
        stage_count=len(stages),
        stages=stages,
        total_days=entry.total_days,
        time_limit_text=f"电网环节办理时长不超过{entry.total_days}个工作日",
        no_works_text=no_works_text,
    )


def build_disclosure(policy: PolicyVersionCreate) -> Disclosure:
    """The disclosure content under ``policy``, the time-limit version in force."""
    texts = load_disclosure_texts()
    fees = load_fee_rules()
    listed = {e.customer_type for e in policy.entries}
    return Disclosure(
        title=texts.title,
        rule=texts.rule,
        source=texts.source,
        jurisdiction=policy.jurisdiction,
        jurisdiction_name=policy.jurisdiction_name,
        policy_code=policy.code,
        policy_title=policy.title,
        policy_source=policy.source,
        effective_from=policy.effective_from,
        voltage_note=texts.voltage_note,
        documents_rule=texts.documents_rule,
        processes=[_process(policy, t, texts) for t in CustomerType if t in listed],
        fees=FeeDisclosure(
            extended_services=[
                DisclosedFee(
                    code=s.code, name=s.name, content=s.content, unit=s.unit, price=s.price
                )
                for s in fees.extended_services.catalogue
            ],
            extended_services_rule=fees.extended_services.rule,
            price_note=fees.extended_services.price_note,
            banned=list(fees.banned.names),
            banned_rule=fees.banned.rule,
            banned_source=fees.banned.source,
        ),
        hotlines=list(texts.hotlines.numbers),
        hotline_rule=texts.hotlines.rule,
        channels=list(texts.channels.names),
        channels_rule=texts.channels.rule,
    )
