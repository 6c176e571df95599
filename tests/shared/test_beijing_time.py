"""Every API shows its times one way: Beijing time with its offset (2025-10-09T09:30:00+08:00).

Two checks: real responses from each of the three services, and every response model of every
route, so that a new ``datetime`` field that would be shown in UTC fails here."""

from __future__ import annotations

import re
import types
import typing
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, PlainSerializer

from shared.auth import Role
from tests.conftest import FROZEN_AT, add_user, client_for, sign_in
from tests.intake.conftest import create, staff_token
from tests.ledger.ledgers.test_items_api import item_id

ISO_MOMENT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)?$")


def moments(value: Any) -> list[str]:
    """Every string in a JSON document that is a date-time."""
    if isinstance(value, dict):
        return [m for v in value.values() for m in moments(v)]
    if isinstance(value, list):
        return [m for v in value for m in moments(v)]
    return [value] if isinstance(value, str) and ISO_MOMENT.match(value) else []


def assert_beijing(document: Any) -> None:
    found = moments(document)
    assert found, "the response shows no time at all; the check would prove nothing"
    assert all(m.endswith("+08:00") for m in found), found


class TestRealResponses:
    async def test_intake(self, apps, settings):
        token = await staff_token(apps, "clerk-wang", Role.clerk, ("国网东营供电公司",))
        async with client_for(apps.intake, token) as clerk:
            created = await create(clerk)
            number = created["application"]["number"]  # type: ignore[index]
            assert_beijing(created)
            assert_beijing((await clerk.get(f"/applications/{number}")).json())
            assert_beijing((await clerk.get(f"/applications/{number}/log")).json())

    async def test_ledger(self, apps, power_head):
        target = await item_id(power_head, "dongying-2021", 7)
        posted = await power_head.post(
            f"/items/{target}/updates",
            data={"status": "in_progress", "progress": "10", "narrative": "开始"},
        )
        assert posted.status_code == 201, posted.text
        assert_beijing(posted.json())
        assert_beijing((await power_head.get(f"/items/{target}")).json())

    async def test_notify(self, apps):
        await add_user(apps, "diaodu", Role.dispatcher, ["营销部"])
        async with client_for(apps.notify, await sign_in(apps, "diaodu")) as dispatcher:
            start = FROZEN_AT + timedelta(days=8)
            created = await dispatcher.post(
                "/outages",
                json={
                    "kind": "planned",
                    "cause": "10kV 东城线检修",
                    "transformer_areas": ["东城1号台区"],
                    "planned_start": start.isoformat(),
                    "etr": (start + timedelta(hours=4)).isoformat(),
                },
            )
            assert created.status_code == 201, created.text
            assert_beijing(created.json())
            outage_id = created.json()["id"]
            assert_beijing((await dispatcher.get(f"/outages/{outage_id}")).json())
            assert created.json()["planned_start"] == "2026-12-04T10:00:00+08:00"


# --- every response model ----------------------------------------------------------------------


def _is_beijing(metadata: typing.Iterable[object]) -> bool:
    return any(
        isinstance(m, PlainSerializer) and m.func.__name__ == "_as_beijing" for m in metadata
    )


def _utc_shown(annotation: Any, metadata: typing.Iterable[object], seen: set[type]) -> list[str]:
    """Where ``annotation`` holds a datetime that would be serialised without the Beijing rule."""
    if annotation is datetime:
        return [] if _is_beijing(metadata) else ["datetime"]
    if typing.get_origin(annotation) is typing.Annotated:
        inner, *extra = typing.get_args(annotation)
        return _utc_shown(inner, extra, seen)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in seen:
            return []
        seen.add(annotation)
        return [
            f"{annotation.__name__}.{name}{'.' + where if where != 'datetime' else ''}"
            for name, field in annotation.model_fields.items()
            for where in _utc_shown(field.annotation, field.metadata, seen)
        ]
    origin = typing.get_origin(annotation)
    if origin is not None or isinstance(annotation, types.UnionType):
        return [w for arg in typing.get_args(annotation) for w in _utc_shown(arg, (), seen)]
    return []


@pytest.mark.parametrize("service", ["intake", "ledger", "notify"])
def test_every_response_model_shows_beijing_time(apps, service):
    app: FastAPI = apps.app(service)
    seen: set[type] = set()
    routes = [c.original_route for c in iter_route_contexts(app.routes)]
    offenders = [
        f"{route.path}: {where}"
        for route in routes
        if isinstance(route, APIRoute) and route.response_model is not None
        for where in _utc_shown(route.response_model, (), seen)
    ]
    assert not offenders
    assert seen, "no response models were inspected"


def test_the_rule_itself_and_that_it_is_caught_when_missing():
    class Shown(BaseModel):
        at: typing.Annotated[datetime, PlainSerializer(lambda m: m, when_used="json")]

    from shared.timeutil import BeijingTime

    class Good(BaseModel):
        at: BeijingTime
        later: list[BeijingTime | None]

    class Bad(BaseModel):
        at: datetime | None
        nested: Good

    shown = Good(at=datetime(2025, 10, 9, 1, 30, tzinfo=UTC), later=[None])
    assert shown.model_dump_json() == '{"at":"2025-10-09T09:30:00+08:00","later":[null]}'
    assert shown.at.tzinfo is UTC  # shown in Beijing, kept in UTC
    assert _utc_shown(Good, (), set()) == []
    assert _utc_shown(Bad, (), set()) == ["Bad.at"]
    assert _utc_shown(Shown, (), set()) == ["Shown.at"]
