"""Reading, validating and adding time-limit policy versions (时限政策).

The reference versions come from ``reference.json``; added ones from the database. Which version
judges an application is decided by its Beijing acceptance date: the latest version of its
jurisdiction whose ``effective_from`` is on or before that date.
"""

from __future__ import annotations

import functools
import json
import weakref
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import Engine, event, func
from sqlalchemy.orm import Session
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.policies.models import (
    LOW_VOLTAGE_TYPES,
    STAGE_FAMILIES,
    PolicyEntry,
    PolicyVersionCreate,
    PolicyVersionPublic,
    TimeLimitPolicy,
)
from shared.errors import Conflict, FieldError, NotFound, Unprocessable
from shared.vocab import CustomerType

REFERENCE_FILE = Path(__file__).resolve().parent / "reference.json"


def entry_problems(entry: PolicyEntry, where: str) -> list[FieldError]:
    """What is wrong with one customer type's stages and limits (empty if nothing)."""
    problems: list[FieldError] = []
    stages = [s.stage for s in entry.stages]
    families = [f for f in STAGE_FAMILIES if all(s in f for s in stages)]
    family = next(
        (f for f in families if stages[0] == f[0] and stages[-1] == f[-1]),
        families[0] if families else STAGE_FAMILIES[0],
    )
    if not families:
        problems.append(
            FieldError(
                field=f"{where}.stages",
                code="mixed_stage_families",
                message="stages are the standard ones (业务受理…装表接电), the two "
                "simplified ones (受理签约, 施工接电) or the merged four (业务受理, "
                "供电方案答复, 外部工程实施, 竣工验收及装表接电), not a mix",
            )
        )
    elif stages != sorted(set(stages), key=family.index):
        problems.append(
            FieldError(
                field=f"{where}.stages",
                code="stage_order",
                message="stages must be listed once each, in process order",
            )
        )
    elif stages[0] != family[0] or stages[-1] != family[-1]:
        problems.append(
            FieldError(
                field=f"{where}.stages",
                code="stage_bounds",
                message=f"the process starts with {family[0].value} and ends with "
                f"{family[-1].value}",
            )
        )
    limits = [s.limit_days for s in entry.stages]
    if any(v is None for v in limits) and any(v is not None for v in limits):
        problems.append(
            FieldError(
                field=f"{where}.stages",
                code="partial_stage_limits",
                message="give every stage a limit, or none (the total is then the budget)",
            )
        )
    elif entry.staged and sum(v or 0 for v in limits) != entry.total_days:
        problems.append(
            FieldError(
                field=f"{where}.total_days",
                code="limits_sum_mismatch",
                message=f"the stage limits add up to {sum(v or 0 for v in limits)}, "
                f"not {entry.total_days}",
            )
        )
    if entry.no_works_total_days is not None:
        if entry.customer_type not in LOW_VOLTAGE_TYPES:
            problems.append(
                FieldError(
                    field=f"{where}.no_works_total_days",
                    code="no_works_not_low_voltage",
                    message="only low-voltage users connect without works (无工程)",
                )
            )
        elif entry.no_works_total_days > entry.total_days:
            problems.append(
                FieldError(
                    field=f"{where}.no_works_total_days",
                    code="no_works_exceeds_total",
                    message="the no-works budget cannot exceed the total",
                )
            )
    return problems


def check_version(version: PolicyVersionCreate) -> None:
    """Raise :class:`Unprocessable` naming every field of an inconsistent version."""
    problems: list[FieldError] = []
    seen: set[CustomerType] = set()
    for i, entry in enumerate(version.entries):
        if entry.customer_type in seen:
            problems.append(
                FieldError(
                    field=f"entries.{i}.customer_type",
                    code="duplicate_customer_type",
                    message=f"{entry.customer_type.value} is listed twice",
                )
            )
        seen.add(entry.customer_type)
        problems.extend(entry_problems(entry, f"entries.{i}"))
    missing = [t.value for t in CustomerType if t not in seen]
    if missing:
        problems.append(
            FieldError(
                field="entries",
                code="missing_customer_types",
                message=f"a version covers every customer type; missing: {', '.join(missing)}",
            )
        )
    if problems:
        raise Unprocessable(
            f"the policy version is inconsistent: {', '.join(p.code for p in problems)}",
            code="invalid_policy",
            errors=problems,
        )


@functools.cache
def reference_versions() -> tuple[PolicyVersionPublic, ...]:
    """The versions transcribed from the plans, each checked like an administrator's."""
    raw = json.loads(REFERENCE_FILE.read_text(encoding="utf-8"))
    versions = []
    for item in raw["versions"]:
        version = PolicyVersionCreate.model_validate(item)
        check_version(version)
        versions.append(PolicyVersionPublic(**version.model_dump(), origin="reference"))
    return tuple(versions)


def _public(row: TimeLimitPolicy) -> PolicyVersionPublic:
    return PolicyVersionPublic(
        code=row.code,
        jurisdiction=row.jurisdiction,
        jurisdiction_name=row.jurisdiction_name,
        title=row.title,
        source=row.source,
        effective_from=row.effective_from,
        supervising_unit=row.supervising_unit,
        note=row.note,
        entries=[PolicyEntry.model_validate(e) for e in row.entries],
        origin="admin",
        created_at=row.created_at,
        created_by=row.created_by,
    )


async def list_versions(
    session: AsyncSession, jurisdiction: str | None = None
) -> list[PolicyVersionPublic]:
    """Every version, by jurisdiction and effective date."""
    return _with_reference(await _added(session, jurisdiction), jurisdiction)


async def _added(session: AsyncSession, jurisdiction: str | None) -> list[PolicyVersionPublic]:
    """The versions administrators added (the database's)."""
    query = select(TimeLimitPolicy)
    if jurisdiction is not None:
        query = query.where(col(TimeLimitPolicy.jurisdiction) == jurisdiction)
    return [_public(row) for row in (await session.exec(query)).all()]


def _with_reference(
    added: list[PolicyVersionPublic], jurisdiction: str | None
) -> list[PolicyVersionPublic]:
    versions = [
        v for v in reference_versions() if jurisdiction is None or v.jurisdiction == jurisdiction
    ] + added
    return sorted(versions, key=lambda v: (v.jurisdiction, v.effective_from))


async def get_version(session: AsyncSession, code: str) -> PolicyVersionPublic:
    for version in await list_versions(session):
        if version.code == code:
            return version
    raise NotFound(f"there is no policy version '{code}'", code="policy_not_found")


def in_force(versions: list[PolicyVersionPublic], day: date) -> PolicyVersionPublic | None:
    """The version in force on ``day`` among one jurisdiction's versions."""
    current = [v for v in versions if v.effective_from <= day]
    return max(current, key=lambda v: v.effective_from) if current else None


_Signature = tuple[int, int | None]
_read: weakref.WeakKeyDictionary[
    Engine, dict[str, tuple[_Signature, list[PolicyVersionPublic]]]
] = weakref.WeakKeyDictionary()
"""The added versions each process read, per database and jurisdiction, with the signature
(how many, the newest id) they were read under. Versions are only ever added
(:func:`add_version`), so a new one changes the signature: every request compares it, one
index-only count in its own transaction, and reads the versions again only when it changed —
another replica's version, even one back-dated to re-judge what it accepted, is seen by the
very next request, with no window in between."""


def _engine_of(session: AsyncSession) -> Engine:
    return session.sync_session.get_bind()  # type: ignore[return-value]


def _forget(session: AsyncSession | Session, jurisdiction: str) -> None:
    engine = session.get_bind() if isinstance(session, Session) else _engine_of(session)
    _read.get(engine, {}).pop(jurisdiction, None)  # type: ignore[arg-type]


def forget_versions_read() -> None:
    """Read the added versions afresh next time (tests empty the tables between them, and
    SQLite may then give a new version an old id)."""
    _read.clear()


async def _versions_of(session: AsyncSession, jurisdiction: str) -> list[PolicyVersionPublic]:
    """:func:`list_versions` of one jurisdiction, the added ones read again only when their
    signature changed. A jurisdiction with no versions at all is not kept (a caller's made-up
    names must not fill the memory)."""
    signature: _Signature = tuple(  # type: ignore[assignment]
        (
            await session.exec(
                select(func.count(), func.max(col(TimeLimitPolicy.id))).where(
                    col(TimeLimitPolicy.jurisdiction) == jurisdiction
                )
            )
        ).one()
    )
    read = _read.setdefault(_engine_of(session), {})
    found = read.get(jurisdiction)
    if found is None or found[0] != signature:
        found = (signature, await _added(session, jurisdiction) if signature[0] else [])
        versions = _with_reference(found[1], jurisdiction)
        if versions:
            read[jurisdiction] = found
        return versions
    return _with_reference(found[1], jurisdiction)


async def version_in_force(
    session: AsyncSession, jurisdiction: str, day: date
) -> PolicyVersionPublic:
    """The version of ``jurisdiction`` in force on ``day`` (the added versions as of this
    transaction: see :data:`_read`)."""
    versions = await _versions_of(session, jurisdiction)
    if not versions:
        raise NotFound(
            f"there is no time-limit policy for jurisdiction '{jurisdiction}'",
            code="unknown_jurisdiction",
        )
    version = in_force(versions, day)
    if version is None:
        raise Unprocessable(
            f"no time-limit policy of '{jurisdiction}' is in force on {day.isoformat()}",
            code="no_policy_in_force",
        )
    return version


async def add_version(
    session: AsyncSession, data: PolicyVersionCreate, *, actor: str, now: datetime
) -> PolicyVersionPublic:
    """Store a new version after checking it and its place among the existing ones."""
    check_version(data)
    existing = await list_versions(session)
    if any(v.code == data.code for v in existing):
        raise Conflict(f"a policy version '{data.code}' exists", code="policy_code_exists")
    if any(
        v.jurisdiction == data.jurisdiction and v.effective_from == data.effective_from
        for v in existing
    ):
        raise Conflict(
            f"'{data.jurisdiction}' already has a version in force from "
            f"{data.effective_from.isoformat()}",
            code="policy_date_taken",
        )
    row = TimeLimitPolicy(
        **data.model_dump(exclude={"entries"}),
        entries=[e.model_dump(mode="json") for e in data.entries],
        created_by=actor,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    _forget(session, data.jurisdiction)
    # Again once it is committed: a request that read the versions meanwhile kept the old ones.
    event.listen(
        session.sync_session,
        "after_commit",
        lambda committed: _forget(committed, data.jurisdiction),
        once=True,
    )
    return _public(row)
