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

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.intake.policies.models import STAGE_LABELS, PolicyVersionCreate, Stage
from services.intake.rules.documents import required_documents
from services.intake.rules.fees import load_fee_rules
from shared.vocab import CustomerType

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
    "LocalTexts",
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


class LocalTexts(_Data):
    """What one jurisdiction's own plan says about disclosure, each rule with its section.

    A rule the plan does not have is ``None``, and ``no_local_rule`` says so in words: Jingyu's
    plan requires disclosure (its item 13) but says nothing of the two hotlines, so nothing of
    Dongying's is quoted for it.
    """

    local_rule: bool
    """Whether the jurisdiction's plan was entered at all."""
    plan: str
    rule: str
    source: str
    hotline_rule: str | None
    hotline_source: str | None
    channels_rule: str | None
    channels_source: str | None
    documents_rule: str | None
    documents_source: str | None
    voltage_note: str
    """Who is a low- and who a high-voltage customer, in the plan's words; where the plan
    does not say (``voltage_note_source`` None), the plain statement and what applies instead."""
    voltage_note_source: str | None
    customer_type_notes: dict[CustomerType, str]
    customer_type_notes_source: str | None
    no_local_rule: tuple[str, ...]

    def cite(self, section: str | None) -> str | None:
        """The plan's title with ``section``, e.g. "《吉林省地方电力有限公司…》三、（四）13"."""
        return f"{self.plan}{section}" if section else None


class DisclosureTexts(_Data):
    """The texts of ``disclosure.json``: shared facts, and each jurisdiction's own rules."""

    title: str
    hotline_numbers: tuple[Hotline, ...]
    channel_names: tuple[str, ...]
    no_works_rule: str
    jurisdictions: dict[str, LocalTexts]
    unlisted: LocalTexts
    """For a jurisdiction not in the file: says that nothing was entered for it."""

    @model_validator(mode="after")
    def _checked(self) -> DisclosureTexts:
        for code, local in (*self.jurisdictions.items(), ("unlisted", self.unlisted)):
            if set(local.customer_type_notes) != set(CustomerType):
                raise ValueError(f"{code}: every customer type needs a note")
            if local.voltage_note_source is None and "没有" not in local.voltage_note:
                raise ValueError(f"{code}: a voltage note without a source must say so (没有…)")
        numbers = [h.number for h in self.hotline_numbers]
        if sorted(numbers) != sorted(REQUIRED_HOTLINES):
            raise ValueError("95598 and 12398 must be published together, and only once each")
        for code, local in self.jurisdictions.items():
            for rule in ("hotline", "channels", "documents"):
                if (getattr(local, f"{rule}_rule") is None) != (
                    getattr(local, f"{rule}_source") is None
                ):
                    raise ValueError(f"{code}: {rule}_rule and {rule}_source go together")
        return self

    def local(self, jurisdiction: str) -> LocalTexts:
        return self.jurisdictions.get(jurisdiction, self.unlisted)


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


class DisclosedStatutoryFee(BaseModel):
    """A government-priced fee still allowed (保留的政府定价收费), with its legal basis."""

    code: str
    name: str
    basis: str


class FeeDisclosure(BaseModel):
    statutory: list[DisclosedStatutoryFee] = Field(
        description="The only government-priced fees that may be charged (政府定价收费清单)"
    )
    statutory_rule: str
    statutory_source: str
    extended_services: list[DisclosedFee]
    extended_services_rule: str
    extended_services_source: str
    price_note: str
    banned: list[str]
    banned_rule: str
    banned_source: str


class Disclosure(BaseModel):
    """Everything the public disclosure page shows for one jurisdiction, each rule cited from
    that jurisdiction's own plan (``None`` where the plan has no such rule: see
    ``no_local_rule``)."""

    title: str
    rule: str
    source: str
    local_rule: bool
    no_local_rule: list[str]
    jurisdiction: str
    jurisdiction_name: str
    policy_code: str
    policy_title: str
    policy_source: str
    effective_from: date
    voltage_note: str
    voltage_note_source: str | None
    customer_type_notes_source: str | None
    documents_rule: str | None
    documents_source: str | None
    processes: list[DisclosedProcess]
    fees: FeeDisclosure
    hotlines: list[Hotline]
    hotline_rule: str | None
    hotline_source: str | None
    channels: list[str]
    channels_rule: str | None
    channels_source: str | None


def _process(
    policy: PolicyVersionCreate,
    customer_type: CustomerType,
    texts: DisclosureTexts,
    local: LocalTexts,
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
        name=customer_type.label,
        note=local.customer_type_notes[customer_type],
        stage_count=len(stages),
        stages=stages,
        total_days=entry.total_days,
        time_limit_text=f"电网环节办理时长不超过{entry.total_days}个工作日",
        no_works_text=no_works_text,
    )


def build_disclosure(policy: PolicyVersionCreate) -> Disclosure:
    """The disclosure content under ``policy``, the time-limit version in force."""
    texts = load_disclosure_texts()
    local = texts.local(policy.jurisdiction)
    fees = load_fee_rules()
    listed = {e.customer_type for e in policy.entries}
    return Disclosure(
        title=texts.title,
        rule=local.rule,
        source=local.cite(local.source) or local.plan,
        local_rule=local.local_rule,
        no_local_rule=list(local.no_local_rule),
        jurisdiction=policy.jurisdiction,
        jurisdiction_name=policy.jurisdiction_name,
        policy_code=policy.code,
        policy_title=policy.title,
        policy_source=policy.source,
        effective_from=policy.effective_from,
        voltage_note=local.voltage_note,
        voltage_note_source=local.cite(local.voltage_note_source),
        customer_type_notes_source=local.cite(local.customer_type_notes_source),
        documents_rule=local.documents_rule,
        documents_source=local.cite(local.documents_source),
        processes=[_process(policy, t, texts, local) for t in CustomerType if t in listed],
        fees=FeeDisclosure(
            statutory=[
                DisclosedStatutoryFee(code=f.code, name=f.name, basis=f.basis)
                for f in fees.statutory.items
            ],
            statutory_rule=fees.statutory.rule,
            statutory_source=fees.statutory.source_for(policy.jurisdiction),
            extended_services=[
                DisclosedFee(
                    code=s.code, name=s.name, content=s.content, unit=s.unit, price=s.price
                )
                for s in fees.extended_services.catalogue
            ],
            extended_services_rule=fees.extended_services.rule,
            extended_services_source=fees.extended_services.source_for(policy.jurisdiction),
            price_note=fees.extended_services.price_note,
            banned=list(fees.banned.names),
            banned_rule=fees.banned.rule,
            banned_source=fees.banned.source_for(policy.jurisdiction),
        ),
        hotlines=list(texts.hotline_numbers),
        hotline_rule=local.hotline_rule,
        hotline_source=local.cite(local.hotline_source),
        channels=list(texts.channel_names),
        channels_rule=local.channels_rule,
        channels_source=local.cite(local.channels_source),
    )
