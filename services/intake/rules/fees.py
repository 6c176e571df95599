"""Fee items an application carries (收费项目), and the ones it may not.

Four rules, each with its source in ``fees.json``:

- The fee names banned by the Jingyu plan (移表费, 计量装置赔偿费, … 带电作业费) are refused, and
  so are "similar names" (等类似名目): a name is compared after normalisation (width, spaces,
  punctuation, synonyms such as 振荡波/震荡波 and 费用/费), then searched for banned keywords,
  each of which names the banned fee it stands for.
- An extended service (延伸服务) may be charged only when it is listed in the catalogue with a
  price (明码标价), at that price, and with the customer's recorded consent (知情权和选择权).
- A zero-investment (三零) application carries no fee for the utility's part: the utility invests
  up to and including the meter (投资至电能表).
- A statutory fee (政府定价收费) is one of the items on the statutory list, with the legal basis
  the list gives (:func:`check_statutory_item`); the clerk's text is never the basis.

:func:`check_fee_items` applies all three and raises :class:`FeeRefused` (422, ``fee_refused``)
listing every refused item.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from enum import StrEnum
from functools import cache
from pathlib import Path

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from services.intake.rules.sources import Sourced
from services.intake.rules.terms import normalise_name
from shared.errors import FieldError, Unprocessable
from shared.timeutil import BeijingTime

__all__ = [
    "AcceptedFee",
    "BannedFeeMatch",
    "CustomerConsent",
    "ExtendedService",
    "FeeItem",
    "FeeRefused",
    "FeeRules",
    "MatchKind",
    "StatutoryFee",
    "banned_fee_match",
    "check_fee_items",
    "check_statutory_item",
    "load_fee_rules",
    "normalise_fee_name",
    "utility_side_match",
]

_DATA_FILE = Path(__file__).with_name("fees.json")
CENT = Decimal("0.01")


class _Data(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Keyword(_Data):
    keyword: str
    reason: str


class BannedFees(Sourced):
    names: tuple[str, ...]
    rule: str
    keywords: tuple[Keyword, ...]
    synonyms: dict[str, str]


class StatutoryFee(_Data):
    """A fee the state still allows (保留的政府定价收费), with its legal basis (收费依据)."""

    code: str
    name: str
    basis: str


class StatutoryFees(Sourced):
    rule: str
    basis_note: str
    items: tuple[StatutoryFee, ...]


class ZeroInvestment(Sourced):
    rule: str
    utility_side_keywords: tuple[Keyword, ...]


class ExtendedService(_Data):
    """A listed extended service (延伸服务) with its published price (明码标价), in yuan."""

    code: str
    name: str
    content: str
    unit: str
    price: Decimal = Field(gt=0, decimal_places=2)


class ExtendedServices(Sourced):
    rule: str
    price_note: str
    catalogue: tuple[ExtendedService, ...]


class FeeRules(_Data):
    """Everything ``fees.json`` holds: banned names and keywords, the 三零 boundary, the
    extended-service catalogue (收费项目目录)."""

    banned: BannedFees
    statutory: StatutoryFees
    zero_investment: ZeroInvestment
    extended_services: ExtendedServices

    @model_validator(mode="after")
    def _catalogue_is_clean(self) -> FeeRules:
        codes = [s.code for s in self.extended_services.catalogue]
        codes += [s.code for s in self.statutory.items]
        if len(set(codes)) != len(codes):
            raise ValueError("fee codes must be unique across both lists")
        names = [s.name for s in self.extended_services.catalogue]
        names += [s.name for s in self.statutory.items]
        for name in names:
            if _banned_match(self, name) is not None:
                raise ValueError(f"a list names a banned fee: {name}")
        return self

    def statutory_item(self, code_or_name: str) -> StatutoryFee | None:
        """The statutory item with this code or (normalised) name."""
        key = _normalise(self, code_or_name)
        for item in self.statutory.items:
            if code_or_name == item.code or key == _normalise(self, item.name):
                return item
        return None

    def service(self, code_or_name: str) -> ExtendedService | None:
        """The listed service with this code or (normalised) name."""
        key = _normalise(self, code_or_name)
        for service in self.extended_services.catalogue:
            if code_or_name == service.code or key == _normalise(self, service.name):
                return service
        return None


@cache
def load_fee_rules() -> FeeRules:
    """The shipped rules and catalogue (``fees.json``), validated once."""
    return FeeRules.model_validate_json(_DATA_FILE.read_bytes())


def _normalise(rules: FeeRules, name: str) -> str:
    text = normalise_name(name)
    for variant, canonical in rules.banned.synonyms.items():
        text = text.replace(variant, canonical)
    return text


def normalise_fee_name(name: str) -> str:
    """A fee name as compared: "高压电缆 振荡波试验费用" → "高压电缆震荡波试验费"."""
    return _normalise(load_fee_rules(), name)


class MatchKind(StrEnum):
    name = "name"
    """The normalised name is one of the banned names."""
    keyword = "keyword"
    """The name contains a banned keyword (等类似名目)."""


class BannedFeeMatch(BaseModel):
    """Why a fee name is banned."""

    kind: MatchKind
    matched: str
    """The banned name or keyword found."""
    reason: str


def _banned_match(rules: FeeRules, name: str) -> BannedFeeMatch | None:
    key = _normalise(rules, name)
    for banned in rules.banned.names:
        if key == _normalise(rules, banned):
            return BannedFeeMatch(kind=MatchKind.name, matched=banned, reason=rules.banned.rule)
    for keyword in rules.banned.keywords:
        if _normalise(rules, keyword.keyword) in key:
            return BannedFeeMatch(
                kind=MatchKind.keyword, matched=keyword.keyword, reason=keyword.reason
            )
    return None


def banned_fee_match(name: str) -> BannedFeeMatch | None:
    """Whether ``name`` is a banned fee or a similar name; None if it is not."""
    return _banned_match(load_fee_rules(), name)


def utility_side_match(name: str) -> str | None:
    """The keyword marking ``name`` as a charge for the utility's part (up to the meter)."""
    rules = load_fee_rules()
    key = _normalise(rules, name)
    for keyword in rules.zero_investment.utility_side_keywords:
        if _normalise(rules, keyword.keyword) in key:
            return keyword.keyword
    return None


class CustomerConsent(BaseModel):
    """The customer's recorded consent to an extended service (用户确认)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    consented_at: AwareDatetime
    recorded_by: str = Field(min_length=1, max_length=100)
    """Who recorded it: the channel or the staff member (e.g. "online", "counter:wang")."""
    evidence: str = Field(default="", max_length=500)
    """Signature record, document id or similar."""


class FeeItem(BaseModel):
    """A fee item as staff propose it for an application (amounts in yuan)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    amount: Decimal = Field(ge=0, decimal_places=2)
    quantity: Decimal = Field(default=Decimal(1), gt=0, decimal_places=2)
    service_code: str | None = None
    """The extended service's catalogue code; by default the name is looked up."""
    utility_side: bool = False
    """Set when the charge is for the utility's part (电网侧，至电能表)."""
    consent: CustomerConsent | None = None


class AcceptedFee(BaseModel):
    """A fee item that passed every rule, tied to its catalogue entry."""

    name: str
    service_code: str
    unit: str
    unit_price: Decimal
    quantity: Decimal
    amount: Decimal
    consented_at: BeijingTime
    recorded_by: str


class FeeRefused(Unprocessable):
    """At least one fee item breaks the fee rules."""

    code = "fee_refused"
    title = "Fee refused"


def _cited(rule: Sourced, jurisdiction: str | None) -> str:
    """``（出处：…）`` of ``rule`` for ``jurisdiction``; nothing when no jurisdiction is given."""
    return "" if jurisdiction is None else f"（出处：{rule.source_for(jurisdiction)}）"


def _refusal(
    rules: FeeRules, item: FeeItem, zero_investment: bool, jurisdiction: str | None = None
) -> tuple[str, str] | None:
    """The first rule ``item`` breaks, as (code, Chinese message), or None. With
    ``jurisdiction`` the message cites that jurisdiction's source of the rule."""
    banned = _banned_match(rules, item.name)
    if banned is not None:
        if banned.kind is MatchKind.name:
            return (
                "fee_banned",
                f"不得收取“{banned.matched}”：{rules.banned.rule}"
                f"{_cited(rules.banned, jurisdiction)}",
            )
        return (
            "fee_banned_similar",
            f"“{item.name}”属于禁止收取的类似名目（含“{banned.matched}”，{banned.reason}）："
            f"{rules.banned.rule}{_cited(rules.banned, jurisdiction)}",
        )
    if zero_investment:
        keyword = None if item.utility_side else utility_side_match(item.name)
        if item.utility_side or keyword is not None:
            return (
                "fee_zero_investment",
                f"“三零”服务用户不承担供电企业投资部分的费用（“{item.name}”）："
                f"{rules.zero_investment.rule}{_cited(rules.zero_investment, jurisdiction)}",
            )
    service = rules.service(item.service_code or item.name)
    if service is None:
        return (
            "fee_not_listed",
            f"“{item.name}”不在收费项目目录中，未明码标价的项目不得收费："
            f"{rules.extended_services.rule}"
            f"{_cited(rules.extended_services, jurisdiction)}",
        )
    expected = (service.price * item.quantity).quantize(CENT)
    if item.amount.quantize(CENT) != expected:
        return (
            "fee_price_mismatch",
            f"“{service.name}”标价为{service.price}元/{service.unit}，"
            f"数量{item.quantity}应收{expected}元，不得按{item.amount}元收取",
        )
    if item.consent is None:
        return (
            "fee_consent_missing",
            f"延伸服务“{service.name}”须经用户确认后方可收费（保障用户的知情权和选择权）",
        )
    return None


def check_fee_items(
    items: Sequence[FeeItem],
    *,
    zero_investment: bool,
    rules: FeeRules | None = None,
    field: str = "fees",
    jurisdiction: str | None = None,
) -> list[AcceptedFee]:
    """Check every fee item of an application and return them tied to the catalogue.

    Raises :class:`FeeRefused` (422, ``fee_refused``) naming each refused item as
    ``{field}[i]`` with one of the codes ``fee_banned``, ``fee_banned_similar``,
    ``fee_zero_investment``, ``fee_not_listed``, ``fee_price_mismatch``,
    ``fee_consent_missing``. ``rules`` defaults to the shipped ``fees.json``. With
    ``jurisdiction`` each message cites that jurisdiction's source (出处) of the rule broken.
    """
    rules = rules or load_fee_rules()
    errors: list[FieldError] = []
    accepted: list[AcceptedFee] = []
    for i, item in enumerate(items):
        refusal = _refusal(rules, item, zero_investment, jurisdiction)
        if refusal is not None:
            code, message = refusal
            errors.append(FieldError(field=f"{field}[{i}]", code=code, message=message))
            continue
        service = rules.service(item.service_code or item.name)
        assert service is not None
        assert item.consent is not None
        accepted.append(
            AcceptedFee(
                name=service.name,
                service_code=service.code,
                unit=service.unit,
                unit_price=service.price,
                quantity=item.quantity,
                amount=item.amount.quantize(CENT),
                consented_at=item.consent.consented_at,
                recorded_by=item.consent.recorded_by,
            )
        )
    if errors:
        raise FeeRefused(f"{len(errors)} fee item(s) refused (收费项目不合规)", errors=errors)
    return accepted


def check_statutory_item(
    item: FeeItem,
    *,
    zero_investment: bool,
    rules: FeeRules | None = None,
    jurisdiction: str | None = None,
) -> StatutoryFee:
    """The statutory list's entry for ``item``, which carries its legal basis.

    Raises :class:`FeeRefused` with one error (field empty, the caller names it) coded
    ``fee_banned``, ``fee_banned_similar`` or ``fee_zero_investment`` as for any item,
    ``fee_listed_as_extended`` for a listed extended service, and ``fee_not_listed`` for a name
    on neither list (类似名目 included: a name is not made lawful by the basis typed beside it).
    """
    rules = rules or load_fee_rules()
    refusal = _refusal(
        rules, item.model_copy(update={"service_code": None}), zero_investment, jurisdiction
    )
    listed = rules.statutory_item(item.service_code or item.name)
    if refusal is not None and refusal[0] == "fee_not_listed" and listed is not None:
        return listed
    if refusal is None or refusal[0] in {"fee_price_mismatch", "fee_consent_missing"}:
        refusal = (
            "fee_listed_as_extended",
            f"“{item.name}”是收费项目目录中的延伸服务，应按延伸服务登记并取得用户确认",
        )
    elif refusal[0] == "fee_not_listed":
        names = "、".join(s.name for s in rules.statutory.items)
        refusal = (
            "fee_not_listed",
            f"“{item.name}”不在政府定价收费清单（{names}）中，不得作为政府定价收费收取："
            f"{rules.statutory.rule}{_cited(rules.statutory, jurisdiction)}",
        )
    code, message = refusal
    raise FeeRefused(message, errors=[FieldError(field="", code=code, message=message)])
