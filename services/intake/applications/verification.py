"""Verifying one application (记录校验): the keyed chain, then every row derived from it.

Three layers, each naming what it finds: the chain's HMACs (:func:`log.check_chain`), the
stored facts replayed from the log (:func:`record.compare`), and the stored figures against the
clock applied afresh to those facts (:func:`record.compare_derived`).
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.access import check_reader
from services.intake.applications import record
from services.intake.applications.clocking import Clocking, refresh
from services.intake.applications.loading import get_application, load_pauses, load_stages
from services.intake.applications.log import check_chain
from services.intake.applications.models import (
    Application,
    ApplicationEvent,
    ApplicationPause,
    ApplicationStage,
    ChainCheck,
    Finding,
)
from services.intake.applications.reading import events
from services.intake.integrity.clock_record import check_clock_record
from shared.auth import Principal
from shared.keyring import Keyring


def check_application(
    keyring: Keyring,
    application: Application,
    log: list[ApplicationEvent],
    stages: list[ApplicationStage],
    pauses: list[ApplicationPause],
    clocking: Clocking,
) -> ChainCheck:
    """The whole check of one application from rows already loaded."""
    chain = check_chain(keyring, application, log)
    if not chain.valid:
        return chain
    try:
        facts = record.replay(log)
    except record.ReplayError as exc:
        return _failed(
            chain, [Finding(table="application_events", seq=exc.seq, problem=exc.problem)]
        )
    findings = record.compare(facts, application, stages, pauses)
    if not findings:
        expected = record.rebuilt(facts, application)
        refresh(*expected, clocking)
        findings = record.compare_derived(expected, application, stages, pauses)
    return _failed(chain, findings) if findings else chain


def _failed(chain: ChainCheck, findings: list[Finding]) -> ChainCheck:
    findings = [f.model_copy(update={"application": chain.number}) for f in findings]
    return chain.model_copy(
        update={
            "valid": False,
            "problem": findings[0].problem,
            "first_bad_seq": None,
            "findings": findings,
        }
    )


async def verify_one(
    session: AsyncSession, application: Application, keyring: Keyring, clocking: Clocking
) -> ChainCheck:
    return check_application(
        keyring,
        application,
        await events(session, application),
        await load_stages(session, application.id),
        await load_pauses(session, application.id),
        clocking,
    )


async def verify_log(
    session: AsyncSession,
    number: str,
    principal: Principal,
    keyring: Keyring,
    clocking: Clocking,
) -> ChainCheck:
    application = await get_application(session, number)
    check_reader(application, principal)
    check = await verify_one(session, application, keyring, clocking)
    # The calendar and the warning share the figures were computed with: when they were
    # changed behind intake's back, that is the cause to name, first.
    clock = await check_clock_record(session, keyring)
    if not clock:
        return check
    return check.model_copy(
        update={
            "valid": False,
            "problem": check.problem if not check.valid else clock[0].problem,
            "findings": [*clock, *check.findings],
        }
    )
