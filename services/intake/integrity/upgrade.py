"""The one-time upgrade of logs written before the chain was keyed (旧记录重新封印).

Entries written before migration 0013 carry an unkeyed SHA-256 chain, which anyone who can
write to the database could recompute. They are *re-sealed*, not accepted as legacy: accepting
them would leave every old application forgeable forever, since nothing outside the database
recorded where "legacy" ended. Each legacy chain is first re-hashed as it was; only an intact
one is re-sealed with the current key, and the upgrade is itself recorded as the next event of
that log (``log_resealed``: how many entries, and the unkeyed head they had). A legacy chain
that does not re-hash is left untouched, so verify keeps reporting it. ``huodian migrate`` runs
this after the migrations; the first checkpoint after it anchors the re-sealed heads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from services.intake.applications.log import append_event, reseal_chain
from services.intake.applications.models import Application, ApplicationEvent, EventKind
from services.intake.flows.stage_log import write_log_through
from shared.db import session_scope
from shared.keyring import Keyring

SYSTEM_ACTOR = "system:upgrade"


@dataclass(frozen=True)
class ResealRun:
    resealed: int
    left_broken: list[str]


async def reseal_legacy(engine: AsyncEngine, keyring: Keyring, *, now: datetime) -> ResealRun:
    """Re-seal every application whose log still has unkeyed entries (idempotent)."""
    write_log_through(engine, lambda: keyring)
    resealed, after = 0, 0
    broken: list[str] = []
    while True:
        async with session_scope(engine) as session:
            ids = list(
                (
                    await session.exec(
                        select(ApplicationEvent.application_id)
                        .where(
                            col(ApplicationEvent.key_id).is_(None),
                            col(ApplicationEvent.application_id) > after,
                        )
                        .distinct()
                        .order_by(col(ApplicationEvent.application_id))
                        .limit(200)
                    )
                ).all()
            )
            if not ids:
                return ResealRun(resealed, broken)
            for application_id in ids:
                application = await session.get(Application, application_id, with_for_update=True)
                assert application is not None
                events = list(
                    (
                        await session.exec(
                            select(ApplicationEvent)
                            .where(col(ApplicationEvent.application_id) == application_id)
                            .order_by(col(ApplicationEvent.seq))
                        )
                    ).all()
                )
                legacy_head, length = application.log_head, application.log_length
                if not reseal_chain(keyring, application, events):
                    broken.append(application.number)
                    continue
                append_event(
                    session,
                    application,
                    EventKind.log_resealed,
                    now=now,
                    actor=SYSTEM_ACTOR,
                    stage=application.current_stage,
                    reason="记录链升级为密钥签名（HMAC）",
                    payload={"legacy_entries": length, "legacy_head": legacy_head},
                )
                resealed += 1
            after = ids[-1]
