"""Fallback channels (备用渠道) and the chain of attempts (投递链).

An administrator sets, per message type, which channel takes over when a message on another one
becomes a dead letter: ``{"wecom": "sms", "sms": "email"}`` sends SMS when the WeCom robot
refuses a message for good, and email when the SMS does. Only a message's own final failure (a
refused address, a permanent 5xx, its passing failures beyond ``max_attempts``) leads to its
fallback; a channel that is merely down holds its messages (the circuit breaker) and leads to
none.

The fallback goes to the same recipient, a subscriber (订阅用户) with an address on the fallback
channel, and is queued in the transaction that records the dead letter: it exists exactly when
the dead letter is committed, and the worker sees it only after that commit. Its dedup key is the
one a fan-out gives the same event, recipient and channel, so there is exactly one message per
(event, recipient, channel): if the recipient already has this event's message there, that
message is the one the dead letter leads to (``existing``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import delete
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify.delivery.channels import recipient_problem
from services.notify.delivery.models import DeliveryAttempt, FallbackNote, FallbackRule
from services.notify.delivery.windows import DeliveryHours
from services.notify.messages.models import Channel, Message, MessagePublic, MessageState
from services.notify.subscribers.models import Subscriber
from services.notify.templates.service import templates
from shared.db import insert_ignore
from shared.errors import FieldError, NotFound, Unprocessable
from shared.timeutil import BeijingTime

# Where a subscriber's address on each channel is kept (the fan-out's contact points).
_ADDRESS = {
    Channel.sms: "mobile",
    Channel.email: "email",
    Channel.wecom: "wecom_webhook",
    Channel.dingtalk: "dingtalk_webhook",
    Channel.webhook: "app_webhook",
}
_KEY_MAX = 200
# Message types that go to staff alone (工作人员: clerks, department heads, supervisors), addressed
# by the email the directory gives: notify keeps no other address of theirs, so they go by email
# only and a fallback for them is refused rather than set and never followed.
STAFF_KINDS = frozenset(
    {
        "ledger_deadline",
        "report_reminder",
        "stale_escalation",
        "intake.at_risk",
        "intake.overdue",
        "intake.escalation",
        "intake.portal_submitted",
    }
)


class FallbackSet(SQLModel):
    """The fallbacks of one message type: channel → the channel that takes over from it. An
    empty mapping removes them."""

    fallbacks: dict[Channel, Channel]


class FallbackPublic(SQLModel):
    kind: str
    fallbacks: dict[Channel, Channel]
    updated_at: BeijingTime | None
    updated_by: str | None


class AttemptPublic(SQLModel):
    attempt: int
    channel: Channel
    attempted_at: BeijingTime
    outcome: str
    receipt: str | None
    provider_code: str | None
    error: str | None
    fallback: FallbackNote | None
    fallback_message_id: int | None


class ChainLink(SQLModel):
    """One message of a fallback chain (投递链) with its attempts."""

    message_id: int
    channel: Channel
    recipient: str
    state: MessageState
    receipt: str | None
    attempts: list[AttemptPublic]


class MessageDetail(MessagePublic):
    chain: list[ChainLink] = Field(
        description="The message's fallback chain (投递链), from the first message to the last "
        "fallback: each message's attempts with their time, outcome, the provider's receipt, "
        "and the fallback a dead letter led to"
    )


def _cycle(fallbacks: Mapping[Channel, Channel]) -> list[Channel] | None:
    """The first cycle in ``fallbacks`` (a channel that would fall back to itself), if any."""
    for start in fallbacks:
        path = [start]
        nxt = fallbacks.get(start)
        while nxt is not None:
            if nxt in path:
                return [*path[path.index(nxt) :], nxt]
            path.append(nxt)
            nxt = fallbacks.get(nxt)
    return None


def _public(kind: str, rules: list[FallbackRule]) -> FallbackPublic:
    latest = max(rules, key=lambda r: r.updated_at, default=None)
    return FallbackPublic(
        kind=kind,
        fallbacks={Channel(r.channel): Channel(r.fallback) for r in rules},
        updated_at=latest.updated_at if latest else None,
        updated_by=latest.updated_by if latest else None,
    )


async def list_fallbacks(session: AsyncSession) -> list[FallbackPublic]:
    """Every message type that has fallbacks, by type."""
    rules = list(
        await session.exec(
            select(FallbackRule).order_by(col(FallbackRule.kind), col(FallbackRule.channel))
        )
    )
    kinds = sorted({r.kind for r in rules})
    return [_public(k, [r for r in rules if r.kind == k]) for k in kinds]


async def set_fallbacks(
    session: AsyncSession, kind: str, body: FallbackSet, *, by: str, now: datetime
) -> FallbackPublic:
    """Replace the fallbacks of message type ``kind`` (a type with a template), refusing a
    cycle (``sms → email → sms``, or a channel to itself): a chain must end."""
    if kind not in templates().kinds():
        raise NotFound(f"there is no message type '{kind}'", code="message_kind_not_found")
    if kind in STAFF_KINDS and body.fallbacks:
        raise Unprocessable(
            f"messages of '{kind}' go to staff by email only: there is no other address to fall "
            "back to",
            code="fallback_staff_email_only",
        )
    cycle = _cycle(body.fallbacks)
    if cycle is not None:
        path = " → ".join(c.value for c in cycle)
        raise Unprocessable(
            f"the fallbacks of '{kind}' go round in a cycle: {path}",
            code="fallback_cycle",
            errors=[FieldError(field=f"fallbacks.{cycle[0].value}", code="cycle", message=path)],
        )
    await session.exec(delete(FallbackRule).where(col(FallbackRule.kind) == kind))
    rules = [
        FallbackRule(kind=kind, channel=ch.value, fallback=fb.value, updated_at=now, updated_by=by)
        for ch, fb in sorted(body.fallbacks.items())
    ]
    session.add_all(rules)
    await session.flush()
    return _public(kind, rules)


async def rules_of(session: AsyncSession, kind: str) -> dict[Channel, Channel]:
    """The fallbacks of message type ``kind``: channel → the channel that takes over from it."""
    rules = await session.exec(select(FallbackRule).where(col(FallbackRule.kind) == kind))
    return {Channel(r.channel): Channel(r.fallback) for r in rules}


def chain_from(fallbacks: Mapping[Channel, Channel], channel: Channel) -> list[Channel]:
    """The channels that take over from ``channel`` in turn (``fallbacks`` has no cycle).

    >>> chain_from({Channel.wecom: Channel.sms, Channel.sms: Channel.email}, Channel.wecom)
    [<Channel.sms: 'sms'>, <Channel.email: 'email'>]
    """
    chain: list[Channel] = []
    nxt = fallbacks.get(channel)
    while nxt is not None and nxt not in chain and nxt is not channel:
        chain.append(nxt)
        nxt = fallbacks.get(nxt)
    return chain


def preferred_over(fallbacks: Mapping[Channel, Channel]) -> dict[Channel, set[Channel]]:
    """For each channel, the channels preferred to it: those whose chain reaches it. The
    fan-out queues a channel only to a subscriber with no address on any of them, so that with
    ``wecom → sms → email`` a subscriber with all three is sent WeCom alone, and SMS only when
    the WeCom message is dead."""
    preferred: dict[Channel, set[Channel]] = {c: set() for c in Channel}
    for start in fallbacks:
        for later in chain_from(fallbacks, start):
            preferred[later].add(start)
    return preferred


def fallback_key(dedup_key: str, channel: Channel, fallback: Channel) -> str:
    """The dedup key of ``dedup_key``'s message on ``fallback``: a fan-out key
    (``…:<subscriber>:<channel>``) with the channel swapped, so that it is the key the fan-out
    gives the same event, subscriber and channel; otherwise the key with the fallback appended."""
    suffix = f":{channel.value}"
    if dedup_key.endswith(suffix):
        key = dedup_key[: -len(suffix)] + f":{fallback.value}"
    else:
        key = f"{dedup_key}:fallback:{fallback.value}"
    if len(key) > _KEY_MAX:
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        key = f"{key[: _KEY_MAX - 33]}~{digest}"
    return key


async def queue_fallback(
    session: AsyncSession, message: Message, hours: DeliveryHours, *, now: datetime
) -> tuple[FallbackNote, int | None]:
    """Queue ``message`` (just dead, in this transaction) on the next channel of its type's
    chain where its subscriber (still served) has a valid address: with ``wecom → sms → email``
    and no mobile, a dead WeCom message goes on to email. The fallback is rendered with its own
    channel's template from the data the message was rendered from (the fan-out keeps it);
    a message without that data passes its text on. Returns what came of it and the message it
    leads to."""
    chain = chain_from(await rules_of(session, message.kind), message.channel)
    if not chain:
        return FallbackNote.no_rule, None
    subscriber = (
        await session.get(Subscriber, message.subscriber_id) if message.subscriber_id else None
    )
    if subscriber is None or subscriber.served_until is not None:
        return FallbackNote.no_address, None
    found = next(
        (
            (channel, address)
            for channel in chain
            if (address := getattr(subscriber, _ADDRESS[channel]))
            and not recipient_problem(channel, address)
        ),
        None,
    )
    if found is None:
        return FallbackNote.no_address, None
    fallback, address = found
    if message.template_data is not None:
        text = templates().render(message.kind, fallback, json.loads(message.template_data))
        subject, body = text.subject, text.body
    else:
        subject, body = message.subject, message.body
    key = fallback_key(message.dedup_key, message.channel, fallback)
    inserted = await session.exec(
        insert_ignore(Message, session.get_bind().dialect, conflict=["dedup_key"])
        .values(
            dedup_key=key,
            kind=message.kind,
            channel=fallback,
            recipient=address,
            subject=subject,
            body=body,
            template_data=message.template_data,
            state=MessageState.queued,
            window=message.window,
            attempts=0,
            subscriber_id=message.subscriber_id,
            outage_id=message.outage_id,
            created_at=now,
            next_attempt_at=hours.earliest(message.window, now),
        )
        .returning(col(Message.id))
    )
    new_id = inserted.scalar_one_or_none()
    if new_id is not None:
        return FallbackNote.queued, new_id
    existing = await session.exec(select(Message.id).where(col(Message.dedup_key) == key))
    return FallbackNote.existing, existing.one()


async def chain_of(session: AsyncSession, message_id: int) -> list[ChainLink]:
    """The chain ``message_id`` belongs to, from the first message to the last fallback, each
    with its attempts in order."""
    first = message_id
    seen = {first}
    while True:  # back to the message whose dead letter started the chain
        before = await session.exec(
            select(DeliveryAttempt.message_id)
            .where(col(DeliveryAttempt.fallback_message_id) == first)
            .order_by(col(DeliveryAttempt.id))
            .limit(1)
        )
        previous = before.first()
        if previous is None or previous in seen:
            break
        seen.add(previous)
        first = previous
    links: list[ChainLink] = []
    current: int | None = first
    visited: set[int] = set()
    while current is not None and current not in visited:
        visited.add(current)
        message = await session.get(Message, current)
        if message is None:
            break
        attempts = list(
            await session.exec(
                select(DeliveryAttempt)
                .where(col(DeliveryAttempt.message_id) == current)
                .order_by(col(DeliveryAttempt.id))
            )
        )
        links.append(
            ChainLink(
                message_id=current,
                channel=message.channel,
                recipient=message.recipient,
                state=message.state,
                receipt=message.receipt,
                attempts=[AttemptPublic.model_validate(a, from_attributes=True) for a in attempts],
            )
        )
        current = next(
            (a.fallback_message_id for a in reversed(attempts) if a.fallback_message_id), None
        )
    return links
