"""Subscribers: create, change, list, preferences, and upserts for imports and intake."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify.subscribers.models import (
    OUTAGE_KINDS,
    AreaClass,
    Subscriber,
    SubscriberCreate,
    SubscriberFields,
    SubscriberOptOut,
    SubscriberPage,
    SubscriberPublic,
    SubscriberSource,
    SubscriberUpdate,
)
from shared.db import utcnow
from shared.errors import Conflict, FieldError, NotFound, Unprocessable

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


async def get(session: AsyncSession, subscriber_id: int) -> Subscriber:
    subscriber = await session.get(Subscriber, subscriber_id)
    if subscriber is None:
        raise NotFound(f"subscriber {subscriber_id} does not exist", code="subscriber_not_found")
    return subscriber


async def _replace_opt_outs(session: AsyncSession, subscriber_id: int, kinds: list[str]) -> None:
    await session.exec(
        delete(SubscriberOptOut).where(col(SubscriberOptOut.subscriber_id) == subscriber_id)
    )
    session.add_all(SubscriberOptOut(subscriber_id=subscriber_id, kind=k) for k in kinds)
    await session.flush()


async def create(
    session: AsyncSession, data: SubscriberCreate, source: SubscriberSource = SubscriberSource.api
) -> Subscriber:
    kinds = check_opt_outs(data.opt_outs)
    taken = await session.exec(
        select(Subscriber.id).where(col(Subscriber.account_number) == data.account_number)
    )
    if taken.first() is not None:
        raise Conflict(
            f"account {data.account_number} is already subscribed", code="subscriber_exists"
        )
    subscriber = Subscriber.model_validate(
        {**data.model_dump(exclude={"opt_outs"}), "source": source}
    )
    session.add(subscriber)
    await session.flush()
    assert subscriber.id is not None
    await _replace_opt_outs(session, subscriber.id, kinds)
    return subscriber


async def update(session: AsyncSession, subscriber_id: int, data: SubscriberUpdate) -> Subscriber:
    subscriber = await get(session, subscriber_id)
    changes = data.model_dump(exclude_unset=True)
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
    subscriber.updated_at = utcnow()
    session.add(subscriber)
    await session.flush()
    return subscriber


async def set_preferences(
    session: AsyncSession, subscriber_id: int, opt_outs: list[str]
) -> Subscriber:
    subscriber = await get(session, subscriber_id)
    await _replace_opt_outs(session, subscriber_id, check_opt_outs(opt_outs))
    return subscriber


async def remove(session: AsyncSession, subscriber_id: int) -> None:
    """Unsubscribe for good; messages already sent stay in the delivery log."""
    subscriber = await get(session, subscriber_id)
    await session.exec(
        delete(SubscriberOptOut).where(col(SubscriberOptOut.subscriber_id) == subscriber_id)
    )
    await session.delete(subscriber)
    await session.flush()


async def list_subscribers(
    session: AsyncSession,
    *,
    feeder: str | None,
    transformer_area: str | None,
    area_class: AreaClass | None,
    q: str | None,
    limit: int,
    offset: int,
) -> SubscriberPage:
    query = select(Subscriber)
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
    total = (await session.exec(select(func.count()).select_from(query.subquery()))).one()
    rows = list(await session.exec(query.order_by(col(Subscriber.id)).limit(limit).offset(offset)))
    opt_outs = await _opt_outs(session, [s.id for s in rows if s.id is not None])
    return SubscriberPage(
        total=total,
        limit=limit,
        offset=offset,
        subscribers=[_public(s, opt_outs[s.id]) for s in rows if s.id is not None],
    )


async def upsert(
    session: AsyncSession,
    rows: Sequence[dict[str, Any]],
    source: SubscriberSource,
    *,
    now: datetime | None = None,
) -> int:
    """Insert or update subscribers by account number (户号) in one statement; opt-outs stay."""
    if not rows:
        return 0
    now = now or utcnow()
    values = [{**r, "source": source, "created_at": now, "updated_at": now} for r in rows]
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(Subscriber)
    statement = statement.on_conflict_do_update(
        index_elements=["account_number"],
        set_={name: statement.excluded[name] for name in _UPSERTED},
    )
    # executemany: SQLAlchemy batches the rows into few round trips ("insertmanyvalues").
    connection = await session.connection()
    await connection.execute(statement, values)
    return len(values)
