"""Stale-update escalation (更新超期督办): items with no status post for N working days, sent to
their units' heads and then to the supervising leaders.

The ledger decides and records each step (``POST /feed/stale-escalations`` records today's and
lists those not yet sent); notify queues one message per step and recipient, commits, and only
then tells the ledger the steps are sent. A run that fails half-way is repeated safely: the steps
come back from the feed and the dedup keys queue nothing twice. A unit with nobody to tell is
told through its nearest ancestor with someone (the ledger says so in ``via_unit``); one with
nobody up its whole line becomes a dead letter naming the unit, like the deadline reminders'.
Nothing runs on weekends or holidays, and the messages wait for the staff window (working time).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from services.notify.delivery.windows import DeliveryHours
from services.notify.messages.models import Channel, DeliveryWindow, MessageState
from services.notify.messages.service import NewMessage
from services.notify.reminders.outcome import ReminderOutcome, enqueue_reminders
from services.notify.templates.service import templates
from shared.calendar import WorkingCalendar
from shared.db import session_scope
from shared.errors import UpstreamUnavailable
from shared.http import ServiceClient

STALE_ESCALATION = "stale_escalation"
FEED_PATH = "/feed/stale-escalations"


class StaleEscalationRun(ReminderOutcome):
    """What a run did: ``steps`` handed over by the ledger (``recorded`` of them new today),
    each counted per recipient in the reminder outcome, and ``acknowledged`` back to the ledger."""

    as_of: date
    working_day: bool
    steps: int = 0
    recorded: int = 0
    acknowledged: int = 0


def _messages(step: dict[str, Any], window: DeliveryWindow) -> list[NewMessage]:
    data = {
        key: step[key]
        for key in (
            "ledger_code",
            "seq",
            "task",
            "status_label",
            "level",
            "period_start",
            "working_days_without_update",
        )
    }
    key = f"{STALE_ESCALATION}:{step['id']}"
    messages = []
    for target in step["targets"]:
        name = target.get("display_name") or f"{target['unit']}负责同志"
        # Sent up to the nearest ancestor with someone (``via_unit``): the message says for
        # which unit, and the key keeps one message per unit it speaks for.
        reached_unit = target.get("via_unit") or target["unit"]
        text = templates().render(
            STALE_ESCALATION,
            Channel.email,
            {**data, "unit": target["unit"], "reached_unit": reached_unit, "recipient_name": name},
        )
        via = f":unit-{target['unit_id']}" if target.get("via_unit") else ""
        message = NewMessage(
            dedup_key=f"{key}{via}:{target.get('email')}:email",
            kind=STALE_ESCALATION,
            channel=Channel.email,
            recipient=target.get("email") or "",
            subject=text.subject,
            body=text.body,
            window=window,
        )
        if target.get("error"):
            message = message.model_copy(
                update={
                    "dedup_key": f"{key}:unit-{target['unit_id']}:unresolved",
                    "recipient": f"unit:{target['unit']}",
                    "state": MessageState.dead,
                    "last_error": target["error"],
                }
            )
        messages.append(message)
    return messages


async def _post(client: ServiceClient, path: str, **kwargs: Any) -> Any:
    response = await client.request("ledger", "POST", path, **kwargs)
    if response.is_error:
        raise UpstreamUnavailable(
            f"ledger refused POST {path}: {response.status_code} {response.text[:200]}"
        )
    return response.json()


async def run_stale_escalations(
    engine: AsyncEngine,
    client: ServiceClient,
    calendar: WorkingCalendar,
    *,
    today: date,
    now: datetime,
    hours: DeliveryHours | None = None,
) -> StaleEscalationRun:
    """Queue the escalations due ``today``. Owns its unit of work: the messages are committed
    before the ledger hears they are sent, so a step is never marked sent without its message."""
    if not calendar.is_workday(today):
        return StaleEscalationRun(as_of=today, working_day=False)
    feed = await _post(client, FEED_PATH, params={"as_of": today.isoformat()})
    window = hours.staff_window if hours else DeliveryWindow.working_hours
    messages = [m for step in feed["steps"] for m in _messages(step, window)]
    async with session_scope(engine) as session:
        outcome = await enqueue_reminders(session, messages, hours=hours, now=now)
    acknowledged = 0
    if feed["steps"]:
        ack = await _post(
            client, f"{FEED_PATH}/ack", json={"step_ids": [s["id"] for s in feed["steps"]]}
        )
        acknowledged = ack["acknowledged"]
    return StaleEscalationRun(
        as_of=today,
        working_day=feed["working_day"],
        steps=len(feed["steps"]),
        recorded=feed["recorded"],
        acknowledged=acknowledged,
        **outcome.model_dump(),
    )
