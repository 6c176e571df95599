"""What a reminder run did with each reminder it found due (提醒结果), shared by every run."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify.delivery.windows import DeliveryHours
from services.notify.messages.models import MessageState
from services.notify.messages.service import NewMessage, enqueue


class Unresolved(SQLModel):
    """A reminder nobody could receive: who it was for and why (an error to fix)."""

    recipient: str
    error: str
    reminders: int


class ReminderOutcome(SQLModel):
    """Each reminder counted once, as what became of it.

    ``queued``: new messages waiting for their delivery window; ``dead``: new dead letters,
    because the recipient could not be resolved (``unresolved`` says who and why);
    ``already_queued``: skipped, an earlier run queued the same (reminder, recipient, channel).
    ``reminders_due == queued + dead + already_queued``.
    """

    reminders_due: int = 0
    queued: int = 0
    dead: int = 0
    already_queued: int = 0
    unresolved: list[Unresolved] = []


async def enqueue_reminders(
    session: AsyncSession,
    messages: list[NewMessage],
    *,
    hours: DeliveryHours | None,
    now: datetime,
) -> ReminderOutcome:
    deliverable = [m for m in messages if m.state is not MessageState.dead]
    undeliverable = [m for m in messages if m.state is MessageState.dead]
    queued = await enqueue(session, deliverable, hours=hours, now=now)
    dead = await enqueue(session, undeliverable, hours=hours, now=now)
    reasons: dict[tuple[str, str], int] = {}
    for m in undeliverable:
        reason = (m.recipient, m.last_error or "")
        reasons[reason] = reasons.get(reason, 0) + 1
    return ReminderOutcome(
        reminders_due=len(messages),
        queued=queued,
        dead=dead,
        already_queued=len(messages) - queued - dead,
        unresolved=[
            Unresolved(recipient=recipient, error=error, reminders=n)
            for (recipient, error), n in sorted(reasons.items())
        ],
    )
