"""Which documents (申请资料) a stage may ask of the customer — and nothing more.

The plans fix the list: at 业务受理 (or 受理签约) a low-voltage customer gives only proof of
identity and proof of property (一证受理); a high-voltage customer also the project approval
document. At 设计审查 only the design unit's qualification and the design; at 中间检查 only the
construction unit's qualification and the concealed-works records; at 竣工检验 only the
completion report with drawings, and so at 竣工验收及装表接电 where a plan merges 竣工验收 into
装表接电 (Jingyu's item 8). Every other stage asks for nothing, and a request for any other
document is refused (杜绝额外加收资料, 不得增加申请资料): :func:`check_document_request` raises
:class:`DocumentNotAllowed` with code ``document_not_allowed``.

For a change-of-use application (变更用电) valid documents already on file are reused, not asked
for again: :func:`documents_still_needed` says what remains to be given.

The catalogue and the rules, with their sources, are data: ``documents.json``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, model_validator

from services.intake.policies.models import Stage
from services.intake.rules.sources import Sourced
from services.intake.rules.terms import VoltageClass, normalise_name, voltage_of
from shared.errors import FieldError, Unprocessable
from shared.vocab import CustomerType

__all__ = [
    "Citation",
    "DocumentCatalogue",
    "DocumentKind",
    "DocumentNeeds",
    "DocumentNotAllowed",
    "DocumentOnFile",
    "DocumentRequirement",
    "ForbiddenDocument",
    "check_document_request",
    "documents_still_needed",
    "load_document_catalogue",
    "required_documents",
]

_DATA_FILE = Path(__file__).with_name("documents.json")


class _Data(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Citation(Sourced):
    """A rule in the plan's words and where it is written (出处), per jurisdiction
    (:meth:`Sourced.source_for`)."""

    rule: str


class DocumentKind(_Data):
    """One entry of the document catalogue (资料目录)."""

    code: str
    name: str
    description: str
    aliases: tuple[str, ...] = ()
    reusable_on_change: bool
    """Whether a valid copy on file is reused by a change-of-use application (变更用电)."""


class DocumentRequirement(Citation):
    """The documents some stages ask of one voltage class."""

    stages: tuple[Stage, ...]
    voltage: VoltageClass
    documents: tuple[str, ...]


class ForbiddenDocument(Citation):
    """A document the plans name as one that must never be demanded."""

    name: str
    aliases: tuple[str, ...] = ()


class DocumentCatalogue(_Data):
    """The catalogue, the per-stage requirements and the rules they come from."""

    catalogue: tuple[DocumentKind, ...]
    requirements: tuple[DocumentRequirement, ...]
    no_other_documents: Citation
    reuse_on_change: Citation
    forbidden: tuple[ForbiddenDocument, ...]

    @model_validator(mode="after")
    def _consistent(self) -> DocumentCatalogue:
        codes = [k.code for k in self.catalogue]
        if len(set(codes)) != len(codes):
            raise ValueError("document codes must be unique")
        seen: set[tuple[Stage, VoltageClass]] = set()
        for requirement in self.requirements:
            unknown = set(requirement.documents) - set(codes)
            if unknown:
                raise ValueError(f"requirement names unknown documents: {sorted(unknown)}")
            for stage in requirement.stages:
                if (stage, requirement.voltage) in seen:
                    raise ValueError(f"two requirements for {stage} at {requirement.voltage}")
                seen.add((stage, requirement.voltage))
        names: dict[str, str] = {}
        for kind in self.catalogue:
            for name in (kind.code, kind.name, *kind.aliases):
                key = normalise_name(name)
                if names.setdefault(key, kind.code) != kind.code:
                    raise ValueError(f"'{name}' names two documents")
        return self

    def kind(self, code: str) -> DocumentKind:
        """The catalogue entry of ``code``; KeyError if there is none."""
        for kind in self.catalogue:
            if kind.code == code:
                return kind
        raise KeyError(code)

    def find(self, name_or_code: str) -> DocumentKind | None:
        """The entry whose code, Chinese name or alias matches (spaces, punctuation and width
        ignored): "身份证" and "营业执照" are both the identity proof."""
        key = normalise_name(name_or_code)
        for kind in self.catalogue:
            if key in {normalise_name(n) for n in (kind.code, kind.name, *kind.aliases)}:
                return kind
        return None

    def forbidden_match(self, name: str) -> ForbiddenDocument | None:
        key = normalise_name(name)
        for forbidden in self.forbidden:
            if key in {normalise_name(n) for n in (forbidden.name, *forbidden.aliases)}:
                return forbidden
        return None

    def requirement_for(self, voltage: VoltageClass, stage: Stage) -> DocumentRequirement | None:
        """The requirement of ``stage`` for ``voltage``; None where the stage asks for nothing."""
        for requirement in self.requirements:
            if requirement.voltage is voltage and stage in requirement.stages:
                return requirement
        return None


@cache
def load_document_catalogue() -> DocumentCatalogue:
    """The shipped catalogue (``documents.json``), validated once."""
    return DocumentCatalogue.model_validate_json(_DATA_FILE.read_bytes())


def required_documents(customer_type: CustomerType, stage: Stage) -> tuple[DocumentKind, ...]:
    """The only documents ``stage`` may ask of ``customer_type`` (often none)."""
    catalogue = load_document_catalogue()
    requirement = catalogue.requirement_for(voltage_of(customer_type), stage)
    if requirement is None:
        return ()
    return tuple(catalogue.kind(code) for code in requirement.documents)


@dataclass(frozen=True)
class DocumentOnFile:
    """A document already held: received on this application, or archived from an earlier one.

    ``valid_until`` is the last Beijing day it is valid (证照有效期); None when it does not expire
    (长期有效).
    """

    kind: str
    valid_until: date | None = None
    reference: str = ""
    """Whatever identifies the stored copy for the caller (file id, licence number)."""

    def is_valid_on(self, day: date) -> bool:
        return self.valid_until is None or self.valid_until >= day


class DocumentNeeds(BaseModel):
    """What a stage requires and how each requirement stands, as catalogue codes."""

    required: list[str]
    received: list[str]
    """Valid copies already given on this application."""
    reused: list[str]
    """Valid copies on file from an earlier application, reused for a change of use (变更用电)."""
    waived: list[str] = []
    """Waived for this stage with a recorded reason (免于提供)."""
    needed: list[str]
    """Still to be given by the customer."""
    expired: list[str]
    """Needed because the copy on file has expired (已过期，需重新提供)."""


def documents_still_needed(
    customer_type: CustomerType,
    stage: Stage,
    *,
    received: Iterable[DocumentOnFile] = (),
    archived: Iterable[DocumentOnFile] = (),
    change_of_use: bool = False,
    waived: Iterable[str] = (),
    today: date,
) -> DocumentNeeds:
    """What ``stage`` still needs from the customer.

    ``received`` are documents given on this application; ``archived`` the customer's documents
    from earlier applications, which count only for a change-of-use application and only for
    kinds marked ``reusable_on_change``. A copy counts while it is valid on ``today`` (Beijing
    date). ``waived`` are codes waived for ``stage`` with a recorded reason; a valid copy
    counts before a waiver.
    """
    waived = set(waived)
    day = today
    catalogue = load_document_catalogue()
    received = list(received)
    usable_archive = (
        [d for d in archived if catalogue.kind(d.kind).reusable_on_change] if change_of_use else []
    )
    needs = DocumentNeeds(required=[], received=[], reused=[], waived=[], needed=[], expired=[])
    for kind in required_documents(customer_type, stage):
        needs.required.append(kind.code)
        mine = [d for d in received if d.kind == kind.code]
        theirs = [d for d in usable_archive if d.kind == kind.code]
        if any(d.is_valid_on(day) for d in mine):
            needs.received.append(kind.code)
        elif any(d.is_valid_on(day) for d in theirs):
            needs.reused.append(kind.code)
        elif kind.code in waived:
            needs.waived.append(kind.code)
        else:
            needs.needed.append(kind.code)
            if mine or theirs:
                needs.expired.append(kind.code)
    return needs


def _cite(rule: Sourced, jurisdiction: str | None) -> str:
    """``rule``'s source for ``jurisdiction`` in brackets; nothing without a jurisdiction."""
    return f"（{rule.source_for(jurisdiction)}）" if jurisdiction else ""


class DocumentNotAllowed(Unprocessable):
    """A stage asked for a document the rules do not allow (额外加收资料)."""

    code = "document_not_allowed"
    title = "Document not allowed"


def check_document_request(
    customer_type: CustomerType,
    stage: Stage,
    requested: Sequence[str],
    *,
    received: Iterable[DocumentOnFile] = (),
    archived: Iterable[DocumentOnFile] = (),
    change_of_use: bool = False,
    waived: Iterable[str] = (),
    today: date,
    field: str = "documents",
    jurisdiction: str | None = None,
) -> tuple[DocumentKind, ...]:
    """Check that staff ask the customer only for what ``stage`` still needs.

    ``requested`` holds catalogue codes or Chinese names. Returns the catalogue entries, in
    order, without repeats. Raises :class:`DocumentNotAllowed` (422, ``document_not_allowed``)
    listing every refused item as ``{field}[i]`` with one of the codes ``document_forbidden``
    (a document the plans forbid by name), ``document_not_in_catalogue``,
    ``document_not_required_at_stage``, or ``document_on_file`` (a valid copy is already held).
    With ``jurisdiction`` each message cites that jurisdiction's source (出处) of the rule.
    """
    catalogue = load_document_catalogue()
    needs = documents_still_needed(
        customer_type,
        stage,
        received=received,
        archived=archived,
        change_of_use=change_of_use,
        waived=waived,
        today=today,
    )
    rule = catalogue.no_other_documents
    cite = _cite(rule, jurisdiction)
    accepted: dict[str, DocumentKind] = {}
    errors: list[FieldError] = []
    for i, name in enumerate(requested):
        item = f"{field}[{i}]"
        kind = catalogue.find(name)
        if kind is None:
            forbidden = catalogue.forbidden_match(name)
            if forbidden is not None:
                errors.append(
                    FieldError(
                        field=item,
                        code="document_forbidden",
                        message=(
                            f"不得要求提供“{name}”：{forbidden.rule}"
                            f"{_cite(forbidden, jurisdiction)}"
                        ),
                    )
                )
            else:
                errors.append(
                    FieldError(
                        field=item,
                        code="document_not_in_catalogue",
                        message=f"“{name}”不在申请资料目录中，不得要求提供：{rule.rule}{cite}",
                    )
                )
        elif kind.code not in needs.required:
            errors.append(
                FieldError(
                    field=item,
                    code="document_not_required_at_stage",
                    message=f"本环节不需要“{kind.name}”，不得额外要求提供：{rule.rule}{cite}",
                )
            )
        elif kind.code in needs.waived:
            errors.append(
                FieldError(
                    field=item,
                    code="document_on_file",
                    message=f"“{kind.name}”本环节已登记免于提供，不得再要求提供",
                )
            )
        elif kind.code not in needs.needed:
            reuse = catalogue.reuse_on_change
            how = (
                reuse.rule + _cite(reuse, jurisdiction)
                if kind.code in needs.reused
                else "本次申请已提供且在有效期内。"
            )
            errors.append(
                FieldError(
                    field=item,
                    code="document_on_file",
                    message=f"“{kind.name}”已存档且在有效期内，不需要重新提供：{how}",
                )
            )
        else:
            accepted.setdefault(kind.code, kind)
    if errors:
        raise DocumentNotAllowed(
            f"{len(errors)} requested document(s) are not allowed at this stage "
            "(杜绝额外加收资料 / 不得增加申请资料)",
            errors=errors,
        )
    return tuple(accepted.values())
