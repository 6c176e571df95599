"""The calendar and the warning share on the record (日历与预警比例入账).

The derived check (``record.compare_derived``) applies the clock afresh to the facts the log
holds, with the calendar and the warning share *stored now*. Editing a ``calendar_years`` row
would change what the clock computes, and verify would then report the applications' figures
as mismatched without naming the cause. So:

* every ``calendar_years`` row is sealed when intake loads it: one HMAC per field (keyring
  purpose ``calendar-year``, over the year, the field and its value), kept in the row with the
  key id. Verify names the table, the year and the field whose value no longer matches;
* the loaded years and the warning share (``at_risk_percent``) are parameters on the record
  (``clock_parameters``), each sealed over its name, value and time: a deleted year, or an
  edited share, is named too. Intake records the share at start-up when it changed (the same
  start-up brings every open clock up to it), so a legitimate change is on the record, with
  its time.

Rows written before migration 0014 are sealed by ``huodian migrate`` (like the stage log's
re-seal, this cannot prove they were not changed before the upgrade).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

from fastapi import FastAPI
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.applications.models import Finding
from services.intake.integrity.models import ClockParameter
from services.intake.workdays.models import CalendarYear
from shared.compact_json import compact_json_bytes
from shared.db import session_scope
from shared.keyring import Keyring, KeyringError, Signature

log = logging.getLogger("huodian.intake.integrity")

YEAR_PURPOSE: Final = "calendar-year"
PARAMETER_PURPOSE: Final = "clock-parameter"
SEALED_FIELDS: Final = ("holidays", "makeup_workdays", "source", "loaded_at", "loaded_by")
AT_RISK_PERCENT: Final = "at_risk_percent"
LOADED_YEARS: Final = "calendar_years"
STARTUP_ACTOR: Final = "system:startup"


def _value(row: CalendarYear, name: str) -> Any:
    value = getattr(row, name)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value


def _field_bytes(year: int, name: str, value: Any) -> bytes:
    return f"{year}\n{name}\n".encode() + compact_json_bytes(value, sort_keys=True)


def seal_year(row: CalendarYear, keyring: Keyring) -> None:
    """Seal each field of a calendar row as it is now (called by the load, before commit)."""
    key_id = keyring.current_id
    row.key_id = key_id
    row.seals = {
        name: keyring.sign(
            YEAR_PURPOSE, _field_bytes(row.year, name, _value(row, name)), key_id
        ).digest
        for name in SEALED_FIELDS
    }


def _parameter_bytes(name: str, value: str, recorded_at: datetime) -> bytes:
    return f"{name}\n{value}\n{recorded_at.astimezone(UTC).isoformat()}".encode()


async def record_parameter(
    session: AsyncSession, keyring: Keyring, name: str, value: str, *, actor: str, now: datetime
) -> None:
    """Put ``name`` = ``value`` on the record (sealed), replacing the previous value."""
    row = await session.get(ClockParameter, name)
    if row is None:
        row = ClockParameter(
            name=name, value=value, recorded_at=now, recorded_by=actor, key_id="", mac=""
        )
    signature = keyring.sign(PARAMETER_PURPOSE, _parameter_bytes(name, value, now))
    row.value, row.recorded_at, row.recorded_by = value, now, actor
    row.key_id, row.mac = signature.key_id, signature.digest
    session.add(row)


async def record_loaded_years(
    session: AsyncSession, keyring: Keyring, *, actor: str, now: datetime
) -> None:
    """The years whose arrangement is stored, on the record (after a load, in its transaction)."""
    await session.flush()
    years = (await session.exec(select(CalendarYear.year).order_by(col(CalendarYear.year)))).all()
    await record_parameter(
        session, keyring, LOADED_YEARS, json.dumps(list(years)), actor=actor, now=now
    )


async def record_at_risk_percent(
    session: AsyncSession, keyring: Keyring, percent: int, *, actor: str, now: datetime
) -> bool:
    """Record the warning share in force if the record holds another (or none); True if so."""
    row = await session.get(ClockParameter, AT_RISK_PERCENT)
    if row is not None and row.value == str(percent) and _parameter_ok(keyring, row):
        return False
    await record_parameter(session, keyring, AT_RISK_PERCENT, str(percent), actor=actor, now=now)
    return True


async def record_clock_at_startup(app: FastAPI) -> None:
    """Startup hook (after the calendar is restored and the open clocks brought up to it): the
    warning share this process computes with goes on the record if it changed."""
    try:
        keyring = app.state.settings.keyring()
    except KeyringError:
        log.exception("the keyring cannot be read: the warning share is not recorded")
        return
    percent = app.state.intake_settings.at_risk_percent
    for attempt in (1, 2):
        try:
            async with session_scope(app.state.engine) as session:
                changed = await record_at_risk_percent(
                    session, keyring, percent, actor=STARTUP_ACTOR, now=app.state.clock.now()
                )
        except IntegrityError:
            # Replicas starting together race to write the first record; the loser reads the
            # winner's row again (the same share: nothing to do; another: it replaces it).
            if attempt == 2:
                raise
            continue
        if changed:
            log.info("warning share on the record: %d%%", percent)
        return


async def seal_unsealed(engine: AsyncEngine, keyring: Keyring, *, actor: str, now: datetime) -> int:
    """Seal calendar rows written before they were sealed (``huodian migrate``; idempotent).
    Returns how many rows were sealed."""
    async with session_scope(engine) as session:
        rows = (
            await session.exec(select(CalendarYear).where(col(CalendarYear.seals).is_(None)))
        ).all()
        for row in rows:
            seal_year(row, keyring)
            session.add(row)
        loaded = await session.get(ClockParameter, LOADED_YEARS)
        if rows or loaded is None:
            count = len((await session.exec(select(CalendarYear.year))).all())
            if rows or count:
                await record_loaded_years(session, keyring, actor=actor, now=now)
    return len(rows)


def _parameter_ok(keyring: Keyring, row: ClockParameter) -> bool:
    return keyring.verify(
        PARAMETER_PURPOSE,
        _parameter_bytes(row.name, row.value, row.recorded_at),
        Signature(row.key_id, row.mac),
    )


def _check_year(keyring: Keyring, row: CalendarYear) -> list[Finding]:
    if not row.seals or not row.key_id:
        return [
            Finding(
                table="calendar_years",
                row=row.year,
                problem=f"calendar_years row {row.year} is not sealed: it was written outside "
                "intake (a row from before the upgrade is sealed by huodian migrate)",
            )
        ]
    if row.key_id not in keyring.keys:
        return [
            Finding(
                table="calendar_years",
                row=row.year,
                field="key_id",
                problem=f"calendar_years row {row.year} names a key {row.key_id!r} that the "
                "keyring does not hold",
            )
        ]
    found = []
    for name in SEALED_FIELDS:
        value = _value(row, name)
        signature = Signature(row.key_id, str(row.seals.get(name, "")))
        if not keyring.verify(YEAR_PURPOSE, _field_bytes(row.year, name, value), signature):
            shown = json.dumps(value, ensure_ascii=False)
            found.append(
                Finding(
                    table="calendar_years",
                    row=row.year,
                    field=name,
                    problem=f"calendar_years row {row.year} {name}: the stored value "
                    f"{shown[:200]} is not the one intake sealed (key {row.key_id}): the "
                    "calendar was changed outside intake",
                )
            )
    return found


def _check_parameter(keyring: Keyring, row: ClockParameter) -> list[Finding]:
    if _parameter_ok(keyring, row):
        return []
    return [
        Finding(
            table="clock_parameters",
            field="value",
            problem=f"clock_parameters row {row.name}: the stored value {row.value[:200]} "
            f"(recorded {row.recorded_at.isoformat()}) is not the one intake sealed",
        )
    ]


def _check_loaded(
    keyring: Keyring, years: Sequence[CalendarYear], loaded: ClockParameter | None
) -> list[Finding]:
    stored = {row.year for row in years}
    if loaded is None:
        if not stored:
            return []
        return [
            Finding(
                table="clock_parameters",
                problem="clock_parameters holds no calendar_years record, yet calendar years "
                f"{sorted(stored)} are stored: the record was deleted",
            )
        ]
    problems = _check_parameter(keyring, loaded)
    if problems:
        return problems
    try:
        listed = {int(y) for y in json.loads(loaded.value)}
    except (ValueError, TypeError):
        listed = set()
    return [
        Finding(
            table="calendar_years",
            row=year,
            problem=f"calendar_years row {year} is gone: intake recorded its arrangement as "
            f"loaded ({loaded.recorded_at.isoformat()})",
        )
        for year in sorted(listed - stored)
    ] + [
        Finding(
            table="calendar_years",
            row=year,
            problem=f"calendar_years row {year} is not on the record of loaded years",
        )
        for year in sorted(stored - listed)
    ]


async def check_clock_record(session: AsyncSession, keyring: Keyring) -> list[Finding]:
    """Every calendar row's seals, the loaded years, the warning share: findings name the
    table, the year (as the row) and the field."""
    years = list((await session.exec(select(CalendarYear).order_by(col(CalendarYear.year)))).all())
    parameters = {p.name: p for p in (await session.exec(select(ClockParameter))).all()}
    found = [f for row in years for f in _check_year(keyring, row)]
    found += _check_loaded(keyring, years, parameters.get(LOADED_YEARS))
    for name, row in sorted(parameters.items()):
        if name != LOADED_YEARS:
            found += _check_parameter(keyring, row)
    return found
