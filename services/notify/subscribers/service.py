"""Subscribers: create, change, list, preferences, and upserts for imports and intake."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import case, delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify.subscribers.models import (
    OUTAGE_KINDS,
    Subscriber,
    SubscriberCreate,
    SubscriberFields,
    SubscriberOptOut,
    SubscriberPage,
    SubscriberPublic,
    SubscriberSource,
    SubscriberUpdate,
)
from shared import db
from shared.errors import Conflict, FieldError, NotFound, Unprocessable
from shared.outbound import OutboundPolicy, UrlNotAllowed
from shared.pagination import FIRST_PAGE, PageParams, fetch_page
from shared.timeutil import beijing_date
from shared.vocab import AreaClass

CURRENT = col(Subscriber.served_until).is_(None)
WEBHOOKS = ("wecom_webhook", "dingtalk_webhook", "app_webhook")

_UPSERTED = (
    "name",
    "mobile",
    "email",
    "wecom_webhook",
    "dingtalk_webhook",
    "app_webhook",
    "feeder",
    "transformer_area",
    "area_class",
    "source",
    "updated_at",
)


def check_opt_outs(kinds: Sequence[str]) -> list[str]:
    unknown = sorted(set(kinds) - set(OUTAGE_KINDS))
    if unknown:
        raise Unprocessable(
            f"unknown message types: {', '.join(unknown)}; choose from {', '.join(OUTAGE_KINDS)}",
            code="unknown_message_type",
            errors=[
                FieldError(field="opt_outs", code="unknown_message_type", message=k)
                for k in unknown
            ],
        )
    return sorted(set(kinds))


async def check_webhooks(outbound: OutboundPolicy, values: dict[str, Any]) -> None:
    """Refuse robot and app webhooks that lead inside Huodian's network (422
    ``url_not_allowed``, one error per field)."""
    errors: list[FieldError] = []
    for name in WEBHOOKS:
        url = values.get(name)
        if url:
            try:
                await outbound.check_url(url)
            except UrlNotAllowed as exc:
                errors.append(FieldError(field=name, code=exc.code, message=exc.detail))
    if errors:
        raise UrlNotAllowed(
            f"webhook not allowed: {'; '.join(e.message for e in errors)}", errors=errors
        )


async def _opt_outs(session: AsyncSession, ids: Sequence[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {i: [] for i in ids}
    if ids:
        rows = await session.exec(
            select(SubscriberOptOut.subscriber_id, SubscriberOptOut.kind)
            .where(col(SubscriberOptOut.subscriber_id).in_(ids))
            .order_by(col(SubscriberOptOut.kind))
        )
        for subscriber_id, kind in rows:
            found[subscriber_id].append(kind)
    return found


def _public(subscriber: Subscriber, opt_outs: list[str]) -> SubscriberPublic:
    return SubscriberPublic.model_validate(
        {**subscriber.model_dump(), "opt_outs": opt_outs}, from_attributes=True
    )


async def to_public(session: AsyncSession, subscriber: Subscriber) -> SubscriberPublic:
    assert subscriber.id is not None
    return _public(subscriber, (await _opt_outs(session, [subscriber.id]))[subscriber.id])


def served_on(day: date) -> Any:
    """Subscribers served on ``day`` (服务户数): connected by then, not yet removed."""
    return (col(Subscriber.served_since) <= day) & (
        col(Subscriber.served_until).is_(None) | (col(Subscriber.served_until) > day)
    )


async def get(session: AsyncSession, subscriber_id: int) -> Subscriber:
    """A current subscriber; a removed one (served_until set) is not found."""
    subscriber = await session.get(Subscriber, subscriber_id)
    if subscriber is None or subscriber.served_until is not None:
        raise NotFound(f"subscriber {subscriber_id} does not exist", code="subscriber_not_found")
    return subscriber


async def _replace_opt_outs(session: AsyncSession, subscriber_id: int, kinds: list[str]) -> None:
    await session.exec(
        delete(SubscriberOptOut).where(col(SubscriberOptOut.subscriber_id) == subscriber_id)
    )
    session.add_all(SubscriberOptOut(subscriber_id=subscriber_id, kind=k) for k in kinds)
    await session.flush()


async def create(
    session: AsyncSession,
    data: SubscriberCreate,
    source: SubscriberSource = SubscriberSource.api,
    *,
    outbound: OutboundPolicy,
    now: datetime,
) -> Subscriber:
    kinds = check_opt_outs(data.opt_outs)
    await check_webhooks(outbound, data.model_dump(include=set(WEBHOOKS)))
    taken = await session.exec(
        select(Subscriber.id).where(col(Subscriber.account_number) == data.account_number, CURRENT)
    )
    if taken.first() is not None:
        raise Conflict(
            f"account {data.account_number} is already subscribed", code="subscriber_exists"
        )
    subscriber = Subscriber.model_validate(
        {
            **data.model_dump(exclude={"opt_outs"}),
            "source": source,
            "served_since": data.served_since or beijing_date(now),
            "created_at": now,
            "updated_at": now,
        }
    )
    session.add(subscriber)
    await session.flush()
    assert subscriber.id is not None
    await _replace_opt_outs(session, subscriber.id, kinds)
    return subscriber


async def update(
    session: AsyncSession,
    subscriber_id: int,
    data: SubscriberUpdate,
    *,
    outbound: OutboundPolicy,
    now: datetime,
) -> Subscriber:
    subscriber = await get(session, subscriber_id)
    changes = data.model_dump(exclude_unset=True)
    await check_webhooks(outbound, changes)
    if "served_since" in changes:
        served_since = changes.pop("served_since")
        if served_since is None:
            raise Unprocessable(
                "served_since cannot be emptied",
                code="validation_failed",
                errors=[FieldError(field="served_since", code="missing", message="required")],
            )
        subscriber.served_since = served_since
    try:
        merged = SubscriberFields.model_validate({**subscriber.model_dump(), **changes})
    except ValidationError as exc:
        raise Unprocessable(
            "the change would leave the subscriber invalid",
            code="validation_failed",
            errors=[
                FieldError(
                    field=".".join(str(p) for p in e["loc"]) or "body",
                    code=e["type"],
                    message=e["msg"],
                )
                for e in exc.errors()
            ],
        ) from exc
    for name in changes:
        setattr(subscriber, name, getattr(merged, name))
    subscriber.updated_at = now
    session.add(subscriber)
    await session.flush()
    return subscriber


async def set_preferences(
    session: AsyncSession, subscriber_id: int, opt_outs: list[str]
) -> Subscriber:
    subscriber = await get(session, subscriber_id)
    await _replace_opt_outs(session, subscriber_id, check_opt_outs(opt_outs))
    return subscriber


async def remove(
    session: AsyncSession, subscriber_id: int, *, ended_on: date | None, now: datetime
) -> None:
    """End the service (注销/销户) on ``ended_on`` (today if not given): the subscriber gets no
    more messages and leaves the API, but still counts as served before that day."""
    subscriber = await get(session, subscriber_id)
    today = beijing_date(now)
    ended_on = ended_on or today
    if ended_on > today:
        raise Unprocessable(
            f"the service cannot end in the future ({ended_on})", code="ended_in_future"
        )
    if ended_on < subscriber.served_since:  # equal: removed the day it was added, never served
        raise Unprocessable(
            f"the service began {subscriber.served_since}; it cannot end before that",
            code="ended_before_served",
        )
    subscriber.served_until = ended_on
    subscriber.updated_at = now
    session.add(subscriber)
    await session.flush()


async def list_subscribers(
    session: AsyncSession,
    *,
    feeder: str | None,
    transformer_area: str | None,
    area_class: AreaClass | None,
    q: str | None,
    paging: PageParams = FIRST_PAGE,
) -> SubscriberPage:
    query = select(Subscriber).where(CURRENT)
    if feeder is not None:
        query = query.where(col(Subscriber.feeder) == feeder)
    if transformer_area is not None:
        query = query.where(col(Subscriber.transformer_area) == transformer_area)
    if area_class is not None:
        query = query.where(col(Subscriber.area_class) == area_class)
    if q:
        like = f"%{q}%"
        query = query.where(
            col(Subscriber.name).like(like)
            | col(Subscriber.account_number).like(like)
            | col(Subscriber.mobile).like(like)
        )
    total, rows = await fetch_page(session, query, paging, col(Subscriber.id))
    opt_outs = await _opt_outs(session, [s.id for s in rows if s.id is not None])
    return SubscriberPage(
        total=total,
        limit=paging.limit,
        offset=paging.offset,
        items=[_public(s, opt_outs[s.id]) for s in rows if s.id is not None],
    )


async def upsert(
    session: AsyncSession,
    rows: Sequence[dict[str, Any]],
    source: SubscriberSource,
    *,
    now: datetime,
) -> int:
    """Insert or update current subscribers by account number (户号) in one statement; opt-outs
    stay. A row's ``served_since`` (接电日期) defaults to the day of ``now``; an existing
    subscriber keeps the earlier of its own and the given date (a re-import without dates does not
    move a connection date forward, one with a corrected earlier date does)."""
    if not rows:
        return 0
    today = beijing_date(now)
    values = [
        {
            **r,
            "served_since": r.get("served_since") or today,
            "source": source,
            "created_at": now,
            "updated_at": now,
        }
        for r in rows
    ]
    statement = db.upsert(
        Subscriber,
        session.get_bind().dialect,
        conflict=["account_number"],
        where=CURRENT,
        set_=lambda given: {
            **{name: given[name] for name in _UPSERTED},
            "served_since": case(
                (given.served_since < col(Subscriber.served_since), given.served_since),
                else_=col(Subscriber.served_since),
            ),
        },
    )
    # executemany: SQLAlchemy batches the rows into few round trips ("insertmanyvalues").
    connection = await session.connection()
    await connection.execute(statement, values)
    return len(values)
