"""Generated requests (Schemathesis): every operation of each service's own OpenAPI schema, called
in-process by an admin, a unit-bound role and an anonymous caller, answers without a 5xx and as
the schema documents it (status code, content type, body).

Cases are drawn from the schema by Schemathesis's Hypothesis strategies (valid and invalid
input), with path parameters often set to rows the test seeded, and sent through
``httpx.ASGITransport`` to the apps of ``tests/conftest.py`` (real SQLite or PostgreSQL). They are
drawn first and sent afterwards, in the test's own event loop, which the apps' engines belong to.
Generation is seeded, so a run is reproducible; ``HUODIAN_FUZZ_CASES`` (cases per service,
default 1 000), ``HUODIAN_FUZZ_SEED`` and ``HUODIAN_FUZZ_COVERAGE=1`` (Schemathesis's coverage
cases as well) make a larger or a different run by hand (docs/security.md, "Generated requests").
"""

from __future__ import annotations

import gc
import math
import os
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import hypothesis
import pytest
import requests
import schemathesis
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from hypothesis import strategies as st
from pydantic import BaseModel
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.generation.drivers import CoverageGenerator
from schemathesis.generation.feedback import NO_FEEDBACK
from schemathesis.generation.overrides import Override
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import text

from services.ledger.accounts.models import UserUpdate
from services.ledger.accounts.service import update_user
from services.ledger.reference.seed import seed_reference_ledgers
from shared.auth import Role
from shared.clock import SYSTEM_CLOCK
from shared.db import session_scope
from tests.conftest import FROZEN_AT, Apps, add_user, client_for, sign_in
from tests.intake.conftest import DONGYING_UNIT, application_body, staff_token
from tests.ledger.ledgers.test_items_api import item_id

CASES = int(os.environ.get("HUODIAN_FUZZ_CASES", "1000"))
SEED = os.environ.get("HUODIAN_FUZZ_SEED", "0")
COVERAGE = os.environ.get("HUODIAN_FUZZ_COVERAGE") == "1"
ROUNDS = 4  # an operation with few distinct cases leaves its share to the others
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
SHOWN_FAILURES = 12


@dataclass(frozen=True)
class Caller:
    name: str
    role: Role | None  # None: anonymous
    units: tuple[str, ...] = ()
    share: float = 0.4  # of the service's cases


@dataclass(frozen=True)
class Target:
    service: str
    unit_bound: Caller
    seed: Callable[[Apps, dict[str, str]], Awaitable[None]]
    # path parameter → SQL that lists the values of real rows
    known: dict[str, str] = field(default_factory=dict)


async def _seed_ledger(apps: Apps, tokens: dict[str, str]) -> None:
    async with client_for(apps.ledger, tokens["dept_head"]) as head:
        for seq in (7, 29):
            posted = await head.post(
                f"/items/{await item_id(head, 'dongying-2021', seq)}/updates",
                data={"status": "in_progress", "progress": "40", "narrative": "已完成方案编制"},
                files={"evidence": ("现场.txt", "照片说明".encode(), "text/plain")},
            )
            assert posted.status_code == 201, posted.text


async def _seed_intake(apps: Apps, tokens: dict[str, str]) -> None:
    async with client_for(apps.intake, tokens["clerk"]) as clerk:
        for channel in ("counter", "online", "counter"):
            created = await clerk.post("/applications", json=application_body(channel=channel))
            assert created.status_code == 201, created.text


async def _seed_notify(apps: Apps, tokens: dict[str, str]) -> None:
    async with client_for(apps.notify, tokens["dispatcher"]) as dispatcher:
        await _seed_notify_as(dispatcher)


async def _seed_notify_as(admin: httpx.AsyncClient) -> None:
    for n in range(3):
        created = await admin.post(
            "/subscribers",
            json={
                "account_number": f"053100000{n}",
                "name": "张三",
                "mobile": f"1381234567{n}",
                "email": f"c{n}@example.cn",
                "feeder": "10kV东城线",
                "transformer_area": "东城1号台区",
                "area_class": "urban",
            },
        )
        assert created.status_code == 201, created.text
    start = FROZEN_AT + timedelta(days=10)
    for kind in ("planned", "temporary"):
        created = await admin.post(
            "/outages",
            json={
                "kind": kind,
                "cause": "10kV线路检修",
                "feeders": ["10kV东城线"],
                "transformer_areas": ["东城1号台区"],
                "planned_start": start.isoformat(),
                "etr": (start + timedelta(hours=8)).isoformat(),
            },
        )
        assert created.status_code == 201, created.text


TARGETS = {
    "ledger": Target(
        "ledger",
        Caller("dept_head", Role.dept_head, ("各供电企业",)),
        _seed_ledger,
        {
            "item_id": "SELECT id FROM items",
            "unit_id": "SELECT id FROM units",
            "username": "SELECT username FROM users",
            "code": "SELECT code FROM ledgers",
            "evidence_id": "SELECT id FROM evidence",
        },
    ),
    "intake": Target(
        "intake",
        Caller("clerk", Role.clerk, (DONGYING_UNIT,)),
        _seed_intake,
        {
            "number": "SELECT number FROM applications",
            "fee_id": "SELECT id FROM application_fees",
            "escalation_id": "SELECT id FROM escalations",
            "key_id": "SELECT key_id FROM portal_clients",
            "code": "SELECT code FROM time_limit_policies",
            "area_id": "SELECT id FROM grid_areas",
            "project_code": "SELECT project_code FROM pre_applications",
            "year": "SELECT year FROM calendar_years",
        },
    ),
    "notify": Target(
        "notify",
        Caller("dispatcher", Role.dispatcher, (DONGYING_UNIT,)),
        _seed_notify,
        {
            "outage_id": "SELECT id FROM outages",
            "subscriber_id": "SELECT id FROM subscribers",
            "message_id": "SELECT id FROM messages",
            "import_id": "SELECT id FROM subscriber_imports",
        },
    ),
}


async def _known_values(apps: Apps, target: Target) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    async with apps.app(target.service).state.engine.connect() as conn:
        for name, query in target.known.items():
            found[name] = list((await conn.execute(text(query))).scalars())
    return {name: values for name, values in found.items() if values}


def _draw(
    operation: schemathesis.APIOperation,
    count: int,
    known: dict[str, list[Any]],
    salt: str,
) -> list[schemathesis.Case]:
    """``count`` cases of one operation, valid and invalid, reproducibly."""
    drawn: list[schemathesis.Case] = []
    strategy = st.one_of(
        operation.as_strategy(schemathesis.GenerationMode.POSITIVE),
        operation.as_strategy(schemathesis.GenerationMode.NEGATIVE),
    )

    @hypothesis.settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(case=strategy, data=st.data())
    def collect(case: schemathesis.Case, data: st.DataObject) -> None:
        for name in case.path_parameters or {}:
            if name in known and data.draw(st.integers(0, 3)) > 0:
                case.path_parameters[name] = data.draw(st.sampled_from(known[name]))
        drawn.append(case)

    hypothesis.seed(f"{SEED}:{salt}")(collect)()
    return drawn


async def _token(apps: Apps, service: str, caller: Caller, *, restore: bool = False) -> str:
    """A valid token for ``caller``; ``restore`` undoes what a ledger case did to the account."""
    assert caller.role is not None
    if service != "ledger":
        return await staff_token(apps, caller.name, caller.role, caller.units)
    if restore:
        async with session_scope(apps.ledger.state.engine) as session:
            units = list(caller.units) if caller.units else None
            await update_user(session, caller.name, UserUpdate(is_active=True, units=units))
    return await sign_in(apps, caller.name)


def _coverage(operation: schemathesis.APIOperation) -> list[schemathesis.Case]:
    """Schemathesis's coverage cases of one operation: each parameter and field at its bounds,
    missing, of the wrong type, with the examples and defaults of the schema (valid and
    invalid). Computed, not drawn: the same every run."""
    generation = operation.schema.config.generation_for(operation=operation, phase="coverage")
    return list(
        CoverageGenerator(
            operation=operation,
            generation_modes=list(generation.modes),
            generation_config=generation,
            auth_storage=None,
            override=Override(),
            feedback=NO_FEEDBACK,
        )
    )


@dataclass
class Failure:
    caller: str
    case: schemathesis.Case
    response: httpx.Response
    titles: list[str]


async def _send(
    client: httpx.AsyncClient, case: schemathesis.Case, token: str | None
) -> httpx.Response:
    kwargs = case.as_transport_kwargs(base_url="http://test")
    if token is not None:  # a signed-in caller stays signed in, whatever the case generated
        kwargs["headers"]["Authorization"] = f"Bearer {token}"
    request = requests.Request(
        method=kwargs["method"],
        url=kwargs["url"],
        headers=kwargs.get("headers"),
        params=kwargs.get("params"),
        cookies=kwargs.get("cookies"),
        json=kwargs.get("json"),
        data=kwargs.get("data"),
        files=kwargs.get("files"),
    ).prepare()
    body = request.body.encode() if isinstance(request.body, str) else request.body
    return await client.request(
        str(request.method), str(request.url), headers=dict(request.headers), content=body
    )


def _report(failures: list[Failure], sent: int) -> str:
    kinds = Counter(
        (f.case.operation.label, f.response.status_code, title)
        for f in failures
        for title in f.titles
    )
    lines = [f"{len(failures)} of {sent} generated requests failed:"]
    lines += [
        f"  {n:4} × {label} → {status}: {title}"
        for (label, status, title), n in kinds.most_common()
    ]
    shown: set[tuple[str, int]] = set()
    for f in failures:
        key = (f.case.operation.label, f.response.status_code)
        if key in shown or len(shown) >= SHOWN_FAILURES:
            continue
        shown.add(key)
        lines += [
            "",
            f"[{f.caller}] {f.case.operation.label} → {f.response.status_code}",
            f.case.as_curl_command(),
            f.response.text[:600],
        ]
    return "\n".join(lines)


class Run:
    """Sends cases as one caller and keeps what failed."""

    def __init__(self, apps: Apps, service: str, client: httpx.AsyncClient) -> None:
        self.apps, self.service, self.client = apps, service, client
        self.failures: list[Failure] = []
        self.statuses: Counter[tuple[str, int]] = Counter()

    async def send(
        self, caller: Caller, token: str | None, cases: list[schemathesis.Case]
    ) -> str | None:
        for case in cases:
            response = await _send(self.client, case, token)
            self.statuses[caller.name, response.status_code] += 1
            if token and response.status_code == 401:
                # the case changed the caller's password, or deactivated them
                token = await _token(self.apps, self.service, caller, restore=True)
            try:
                case.validate_response(response, checks=CHECKS)
            except FailureGroup as group:
                titles = [f.title for f in group.exceptions]
                self.failures.append(Failure(caller.name, case, response, titles))
        return token

    @property
    def sent(self) -> int:
        return sum(self.statuses.values())


@pytest.mark.parametrize("service", ["ledger", "intake", "notify"])
async def test_generated_requests(apps: Apps, service: str) -> None:
    target = TARGETS[service]
    app = apps.app(service)
    async with session_scope(apps.ledger.state.engine) as session:
        await seed_reference_ledgers(session, now=SYSTEM_CLOCK.now())
    callers = [Caller("anonymous", None, share=0.2), target.unit_bound, Caller("admin", Role.admin)]
    tokens: dict[str, str] = {}
    for caller in callers[1:]:
        if service == "ledger":
            assert caller.role is not None
            await add_user(apps, caller.name, caller.role, list(caller.units))
        tokens[caller.name] = await _token(apps, service, caller)
    await target.seed(apps, tokens)
    known = await _known_values(apps, target)

    schema = schemathesis.openapi.from_dict(app.openapi())
    operations = [result.ok() for result in schema.get_all_operations()]
    async with client_for(app) as client:
        run = Run(apps, service, client)
        for caller in callers:
            token = tokens.get(caller.name)
            if COVERAGE:
                for operation in operations:
                    token = await run.send(caller, token, _coverage(operation))
            # Each operation its share of the caller's budget; one with fewer distinct cases
            # (no parameters, say) leaves the rest to the others in the next round.
            budget, drawn, open_ops = math.ceil(CASES * caller.share), 0, operations
            for round_ in range(ROUNDS):
                if drawn >= budget or not open_ops:
                    break
                quota = math.ceil((budget - drawn) / len(open_ops))
                full = []
                for operation in open_ops:
                    salt = f"{caller.name}:{operation.label}:{round_}"
                    cases = _draw(operation, quota, known, salt)
                    drawn += len(cases)
                    if len(cases) >= quota:
                        full.append(operation)
                    token = await run.send(caller, token, cases)
                open_ops = full
            assert drawn >= budget, f"{caller.name}: only {drawn} of {budget} cases generated"
    assert not run.failures, _report(run.failures, run.sent)


class TestTheHarness:
    """The checks above would see a server error, an undocumented status and a wrong body."""

    async def test_it_reports_what_breaks_the_schema(self) -> None:
        broken = FastAPI()

        class Thing(BaseModel):
            n: int

        @broken.get("/things/{thing_id}", response_model=Thing)
        async def thing(thing_id: int) -> Any:
            if thing_id % 3 == 0:
                raise RuntimeError("boom")
            return JSONResponse({"n": "many"}, status_code=200 if thing_id % 3 == 1 else 418)

        operation = next(
            r.ok() for r in schemathesis.openapi.from_dict(broken.openapi()).get_all_operations()
        )
        cases = [operation.Case(path_parameters={"thing_id": n}) for n in (3, 4, 5)]
        transport = httpx.ASGITransport(app=broken, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            run = Run(Apps(broken, broken, broken), "none", client)
            await run.send(Caller("anonymous", None), None, cases)
        titles = [set(f.titles) for f in run.failures]
        assert titles == [
            {"Server error", "Undocumented status code"},
            {"Response violates schema"},
            {"Undocumented status code"},
        ]


class TestFormsSentToJsonRoutes:
    """Found by the generated requests: a multipart body sent to a route that reads JSON had
    its files spooled by the NUL check and never closed (a leak per request)."""

    async def test_refused_without_leaving_files_open(self, apps: Apps) -> None:
        token = await staff_token(apps, "dispatcher", Role.dispatcher, (DONGYING_UNIT,))
        async with client_for(apps.notify, token) as dispatcher:
            for _ in range(3):
                sent = await dispatcher.post(
                    "/subscribers", files={"file": ("a.csv", b"x" * 2048, "text/csv")}
                )
                assert sent.status_code == 422, sent.text
        gc.collect()  # a file left open would warn here, and warnings are errors
