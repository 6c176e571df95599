"""Handling events (事件处理): intake's warnings and escalations become messages to the clerk
and the supervising unit's supervisors; a deadline moved by a calendar change, messages to the
clerk, the unit's heads and the applicant; an accepted application, the applicant's receipt
(受理回执) by SMS; an application the portal filed (its own event, intake.portal.submitted), the
accepting unit's clerks a notice that a new online application waits for them (新的网上申请待受理),
so that the applicant's receipt never waits on ledger's directory; a connected application
becomes a subscriber.

Each event id is recorded in the same transaction as what it causes, so a redelivered event is
answered as a duplicate and changes nothing. Recipients are resolved in ledger's directory
(``GET /directory/contacts``); a unit with nobody goes up to its nearest ancestor that has someone
(the message says for which unit), and one nobody up the line can be found for becomes a visible
dead message.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify.delivery.windows import DeliveryHours
from services.notify.events.models import (
    ConnectedEventData,
    DueChangedEventData,
    EventOutcome,
    ReceivedEvent,
    ReceivedEventData,
    RecordedEvent,
    StageEventData,
    SubmittedEventData,
)
from services.notify.messages.models import Channel, DeliveryWindow, MessageState
from services.notify.messages.service import NewMessage, enqueue, unresolved_message
from services.notify.subscribers.models import Subscriber, SubscriberFields, SubscriberSource
from services.notify.subscribers.service import upsert
from services.notify.templates.models import Rendered
from services.notify.templates.service import templates
from shared.db import insert_ignore
from shared.errors import FieldError, NotFound, Unprocessable
from shared.events import Event, EventReceipt, open_query_code
from shared.http import ServiceClient
from shared.keyring import Keyring, KeyringError
from shared.timeutil import beijing_date
from shared.units import lineage

STAGE_KINDS = {
    "intake.stage.at_risk": "intake.at_risk",
    "intake.stage.overdue": "intake.overdue",
    "intake.escalation.opened": "intake.escalation",
}
CONNECTED = "intake.application.connected"
DUE_CHANGED = "intake.application.due_changed"
DUE_CHANGED_KIND = "intake.due_changed"
RECEIVED = "intake.application.received"
RECEIVED_KIND = "intake.received"
PORTAL_SUBMITTED = "intake.portal.submitted"
PORTAL_SUBMITTED_KIND = "intake.portal_submitted"
PORTAL_CHANNEL = "portal"
RECORDED = {"intake.log.checkpoint", "intake.log.verify_failed"}
"""Events notify only keeps, with their data: the copy of intake's checkpoints outside
intake's database (记录锚定副本), and the alerts of a failed verification."""
# Events whose messages go to staff, resolved in ledger's directory (the rest: STAGE_KINDS).
STAFF_EVENT_DATA: dict[str, type[SubmittedEventData | DueChangedEventData | StageEventData]] = {
    PORTAL_SUBMITTED: SubmittedEventData,
    DUE_CHANGED: DueChangedEventData,
}
HANDLED = set(STAGE_KINDS) | {CONNECTED, DUE_CHANGED, RECEIVED, PORTAL_SUBMITTED} | RECORDED

log = logging.getLogger("huodian.notify.events")


def _invalid(exc: ValidationError, event: Event) -> Unprocessable:
    errors = [
        FieldError(
            field="data." + ".".join(str(p) for p in e["loc"]), code=e["type"], message=e["msg"]
        )
        for e in exc.errors()
    ]
    return Unprocessable(
        f"the data of {event.type} event {event.id} is not valid",
        code="event_data_invalid",
        errors=errors,
    )


async def _contacts(client: ServiceClient, **params: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = await client.get_json(
        "ledger", "/directory/contacts", params=params
    )
    return found


async def _nearest_contacts(
    client: ServiceClient, unit: str, role: str, *, skip: str | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """The people of ``role`` with an email (``skip``: a username not to count) of ``unit``, or,
    when it has none, of its nearest ancestor that has (``shared.units.lineage``); with the unit
    they belong to. ``(unit, [])`` when nobody up the line has anyone."""
    for candidate in lineage(unit):
        found = [
            c
            for c in await _contacts(client, unit=candidate, role=role)
            if c.get("email") and c["username"] != skip
        ]
        if found:
            return candidate, found
    return unit, []


async def _stage_messages(
    event: Event, data: StageEventData, client: ServiceClient, window: DeliveryWindow
) -> list[NewMessage]:
    kind = STAGE_KINDS[event.type]
    clerks = [c for c in await _contacts(client, role="clerk") if c["username"] == data.clerk]
    reached_unit, reachable = await _nearest_contacts(
        client, data.supervising_unit, role="supervisor"
    )
    context = {**data.model_dump(mode="json"), "reached_unit": reached_unit}
    messages: list[NewMessage] = []

    def rendered(role: str) -> Rendered:
        return templates().render(kind, Channel.email, {**context, "recipient_role": role})

    def message(role: str, recipient: str, error: str | None = None) -> NewMessage:
        text = rendered(role)
        return NewMessage(
            dedup_key=f"event:{event.id}:{recipient}:email",
            kind=kind,
            channel=Channel.email,
            recipient=recipient,
            subject=text.subject,
            body=text.body,
            window=window,
            state=MessageState.dead if error else MessageState.queued,
            last_error=error,
        )

    clerk = clerks[0] if clerks else None
    if clerk and clerk.get("email"):
        messages.append(message("clerk", clerk["email"]))
    else:
        why = "has no email" if clerk else "is not an active clerk in the directory"
        messages.append(message("clerk", f"user:{data.clerk}", f"clerk '{data.clerk}' {why}"))
    messages.extend(message("supervisor", s["email"]) for s in reachable)
    if not reachable:
        messages.append(
            unresolved_message(
                data.supervising_unit,
                "supervisor",
                dedup_key=f"event:{event.id}:unit:{data.supervising_unit}:email",
                kind=kind,
                text=rendered("supervisor"),
                window=window,
            )
        )
    return messages


async def _due_changed_messages(
    event: Event, data: DueChangedEventData, client: ServiceClient, staff_window: DeliveryWindow
) -> list[NewMessage]:
    """The clerk and the unit's heads (部门负责人) by email in working time; the applicant by
    SMS and email outside quiet hours. Nobody found on the staff side is a visible dead one."""
    clerks = [c for c in await _contacts(client, role="clerk") if c["username"] == data.clerk]
    reached_unit, reachable = await _nearest_contacts(
        client, data.unit, role="dept_head", skip=data.clerk
    )
    context = {**data.model_dump(mode="json"), "reached_unit": reached_unit}

    def rendered(role: str, channel: Channel) -> Rendered:
        return templates().render(DUE_CHANGED_KIND, channel, {**context, "recipient_role": role})

    def message(
        role: str,
        channel: Channel,
        recipient: str,
        window: DeliveryWindow,
        error: str | None = None,
    ) -> NewMessage:
        text = rendered(role, channel)
        return NewMessage(
            dedup_key=f"event:{event.id}:{recipient}:{channel.value}",
            kind=DUE_CHANGED_KIND,
            channel=channel,
            recipient=recipient,
            subject=text.subject,
            body=text.body,
            window=window,
            state=MessageState.dead if error else MessageState.queued,
            last_error=error,
        )

    messages: list[NewMessage] = []
    clerk = clerks[0] if clerks else None
    if clerk and clerk.get("email"):
        messages.append(message("clerk", Channel.email, clerk["email"], staff_window))
    else:
        why = "has no email" if clerk else "is not an active clerk in the directory"
        messages.append(
            message(
                "clerk",
                Channel.email,
                f"user:{data.clerk}",
                staff_window,
                f"clerk '{data.clerk}' {why}",
            )
        )
    messages.extend(message("unit", Channel.email, h["email"], staff_window) for h in reachable)
    if not reachable:
        messages.append(
            unresolved_message(
                data.unit,
                "dept_head",
                dedup_key=f"event:{event.id}:unit:{data.unit}:email",
                kind=DUE_CHANGED_KIND,
                text=rendered("unit", Channel.email),
                window=staff_window,
            )
        )
    customer = DeliveryWindow.waking_hours
    if data.mobile:
        messages.append(message("applicant", Channel.sms, data.mobile, customer))
    if data.email:
        messages.append(message("applicant", Channel.email, data.email, customer))
    return messages


def _receipt_messages(
    event: Event, data: ReceivedEventData, keyring: Keyring | None
) -> list[NewMessage]:
    """The applicant's receipt (受理回执): one SMS to the mobile, outside quiet hours. A query
    code that does not open (another deployment's keyring) leaves the code out of the text
    rather than the receipt unsent; the applicant has it from the counter or the portal too."""
    if not data.mobile:
        return []
    query_code = None
    if data.query_code_sealed and keyring is not None:
        try:
            query_code = open_query_code(keyring, data.application_number, data.query_code_sealed)
        except KeyringError:
            log.warning(
                "receipt of %s: the query code does not open; sent without it",
                data.application_number,
                extra={"event_id": str(event.id)},
            )
    context = {**data.model_dump(mode="json", exclude={"query_code_sealed"})}
    text = templates().render(RECEIVED_KIND, Channel.sms, {**context, "query_code": query_code})
    return [
        NewMessage(
            dedup_key=f"event:{event.id}:{data.mobile}:{Channel.sms.value}",
            kind=RECEIVED_KIND,
            channel=Channel.sms,
            recipient=data.mobile,
            subject=text.subject,
            body=text.body,
            window=DeliveryWindow.waking_hours,
        )
    ]


async def _portal_submitted_messages(
    event: Event, data: SubmittedEventData, client: ServiceClient, window: DeliveryWindow
) -> list[NewMessage]:
    """The accepting unit's clerks (受理人员) by email in the staff window, or those of its
    nearest ancestor that has any; nobody up the line is a visible dead message naming the unit."""
    reached_unit, clerks = await _nearest_contacts(client, data.unit, role="clerk")
    context = {
        # A receipt from an older intake carries the applicant too: the clerks' mail does not.
        **data.model_dump(mode="json", exclude={"applicant_name", "mobile", "query_code_sealed"}),
        "reached_unit": reached_unit,
    }
    text = templates().render(PORTAL_SUBMITTED_KIND, Channel.email, context)
    if not clerks:
        return [
            unresolved_message(
                data.unit,
                "clerk",
                dedup_key=f"event:{event.id}:unit:{data.unit}:unresolved",
                kind=PORTAL_SUBMITTED_KIND,
                text=text,
                window=window,
            )
        ]
    return [
        NewMessage(
            dedup_key=f"event:{event.id}:{c['email']}:email",
            kind=PORTAL_SUBMITTED_KIND,
            channel=Channel.email,
            recipient=c["email"],
            subject=text.subject,
            body=text.body,
            window=window,
        )
        for c in clerks
    ]


async def _register_subscriber(
    session: AsyncSession, event: Event, data: ConnectedEventData, now: datetime
) -> int:
    fields = data.model_dump(exclude={"application_number"})
    try:
        SubscriberFields.model_validate(fields)
    except ValidationError as exc:
        raise _invalid(exc, event) from exc
    # Connected (装表接电) when the event happened, in Beijing: the customer's served-from day.
    connected_on = beijing_date(event.occurred_at)
    await upsert(
        session,
        [{**fields, "account_number": data.application_number, "served_since": connected_on}],
        SubscriberSource.intake,
        now=now,
    )
    found = await session.exec(
        select(Subscriber.id).where(
            col(Subscriber.account_number) == data.application_number,
            col(Subscriber.served_until).is_(None),
        )
    )
    subscriber_id = found.one()
    assert subscriber_id is not None
    return subscriber_id


async def _queue(
    session: AsyncSession,
    messages: list[NewMessage],
    outcome: EventOutcome,
    *,
    hours: DeliveryHours | None,
    now: datetime,
) -> None:
    """Queue an event's messages; the recipients nobody could be found for are its outcome's
    ``unresolved`` (each is a visible dead message too)."""
    outcome.messages_queued = await enqueue(session, messages, hours=hours, now=now)
    outcome.unresolved = [m.recipient for m in messages if m.state is MessageState.dead]


async def receive(
    session: AsyncSession,
    client: ServiceClient,
    event: Event,
    *,
    hours: DeliveryHours | None = None,
    keyring: Keyring | None = None,
    now: datetime,
) -> EventReceipt:
    """Record the event id and act on it once; a repeat is answered as a duplicate.

    ``keyring`` opens the query code an application's receipt carries sealed."""
    if event.type not in HANDLED:
        raise Unprocessable(
            f"notify does not handle events of type {event.type}", code="unknown_event_type"
        )
    recorded = await session.exec(
        insert_ignore(ReceivedEvent, session.get_bind().dialect, conflict=["id"])
        .values(
            id=event.id,
            type=event.type,
            source=event.source,
            subject=event.subject,
            occurred_at=event.occurred_at,
            received_at=now,
            outcome="",
        )
        .returning(col(ReceivedEvent.id))
    )
    if recorded.first() is None:
        earlier = await session.get(ReceivedEvent, event.id)
        assert earlier is not None
        return EventReceipt(id=event.id, duplicate=True, received_at=earlier.received_at)

    outcome = EventOutcome()
    if event.type in RECORDED:
        outcome.recorded = event.data
    elif event.type == CONNECTED:
        try:
            connected = ConnectedEventData.model_validate(event.data)
        except ValidationError as exc:
            raise _invalid(exc, event) from exc
        outcome.subscriber_id = await _register_subscriber(session, event, connected, now)
    elif event.type == RECEIVED:
        try:
            received = ReceivedEventData.model_validate(event.data)
        except ValidationError as exc:
            raise _invalid(exc, event) from exc
        messages = _receipt_messages(event, received, keyring)
        if received.channel == PORTAL_CHANNEL and not received.clerks_told_apart:
            # From an intake before intake.portal.submitted (or queued before its upgrade): the
            # clerks are told with the receipt, as then. Upgrade notify first, then intake.
            window = hours.staff_window if hours else DeliveryWindow.working_hours
            messages += await _portal_submitted_messages(event, received, client, window)
        await _queue(session, messages, outcome, hours=hours, now=now)
    else:
        data_model = STAFF_EVENT_DATA.get(event.type, StageEventData)
        try:
            staff_data = data_model.model_validate(event.data)
        except ValidationError as exc:
            raise _invalid(exc, event) from exc
        window = hours.staff_window if hours else DeliveryWindow.working_hours
        if isinstance(staff_data, SubmittedEventData):
            messages = await _portal_submitted_messages(event, staff_data, client, window)
        elif isinstance(staff_data, DueChangedEventData):
            messages = await _due_changed_messages(event, staff_data, client, window)
        else:
            assert isinstance(staff_data, StageEventData)
            messages = await _stage_messages(event, staff_data, client, window)
        await _queue(session, messages, outcome, hours=hours, now=now)
    row = await session.get(ReceivedEvent, event.id)
    assert row is not None
    row.outcome = outcome.model_dump_json()
    session.add(row)
    await session.flush()
    return EventReceipt(id=event.id, duplicate=False, received_at=now)


async def latest_recorded(session: AsyncSession, event_type: str, source: str) -> RecordedEvent:
    """The last event of a recorded type (e.g. intake's last checkpoint copy)."""
    if event_type not in RECORDED:
        raise Unprocessable(f"notify does not keep events of type {event_type}", code="not_kept")
    row = (
        await session.exec(
            select(ReceivedEvent)
            .where(col(ReceivedEvent.type) == event_type, col(ReceivedEvent.source) == source)
            .order_by(col(ReceivedEvent.occurred_at).desc(), col(ReceivedEvent.received_at).desc())
            .limit(1)
        )
    ).first()
    if row is None:
        raise NotFound(f"no {event_type} event from {source} was received", code="none_received")
    outcome = EventOutcome.model_validate_json(row.outcome)
    return RecordedEvent(
        id=row.id,
        type=row.type,
        subject=row.subject,
        occurred_at=row.occurred_at,
        received_at=row.received_at,
        data=outcome.recorded or {},
    )
