"""Who may call what (访问控制矩阵): every route of every service × every kind of caller.

The expectations are data, in ``tests/access_matrix.yaml``: for each route (``METHOD /path`` as
the route table names it) the callers let in (``allow``) and those refused with the status they
must get (``401``, ``403``, ``404``; web pages send a signed-out browser to the sign-in page,
``303``). The test reads the route table (``fastapi.routing.iter_route_contexts`` reaches the
routes of included routers too), so a new route without a declaration fails here, and so does a
declaration of a route that is gone.

Each cell is a real request, against rows owned by unit A (甲) seeded once per service: a
department head of unit B on unit A's item, a dispatcher of unit B on unit A's outage. A caller
let in must get past every access check: a 2xx or 3xx, or a 409 or 422 of the business rules
(a state conflict, not a malformed request). Refused callers go first on each route, so an
allowed caller's change cannot hide a refusal. All wrong cells of a service are listed at once.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from sqlmodel import col, select
from starlette.routing import Route

from services.intake.applications.models import Application
from services.intake.monitoring.models import Escalation, EscalationState
from services.intake.policies.models import Stage
from services.intake.portal.models import PortalScope
from services.intake.portal.service import add_portal_client
from services.intake.rules.signing import PortalAuth
from services.intake.standins.elicense import ELicenseClient, create_standin_app
from services.intake.web.routes import live_ticket, rating_ticket
from services.ledger.accounts.service import get_user_by_name
from services.ledger.reference.seed import seed_reference_ledgers
from services.notify.subscribers.models import SubscriberSource
from services.notify.subscribers.service import upsert
from shared.auth import Role
from shared.clock import SYSTEM_CLOCK, FixedClock
from shared.db import session_scope
from shared.settings import SERVICES
from shared.web.session import COOKIE, csrf_token
from tests.conftest import FROZEN_AT, PASSWORD, Apps, add_user, sign_in
from tests.intake.conftest import application_body
from tests.intake.portal.conftest import (
    PROJECT_CODE,
    portal_application_body,
    project_body,
)
from tests.ledger.ledgers.test_items_api import item_id

MATRIX = Path(__file__).parents[1] / "access_matrix.yaml"
ROLES = (
    "admin",
    "head_a",
    "head_b",
    "clerk",
    "supervisor",
    "dispatcher_a",
    "dispatcher_b",
    "viewer",
    "portal",
    "anonymous",
)
REFUSALS = {"401", "403", "404", "303"}
UNIT_A, UNIT_B = "各供电企业", "各电力主管部门"  # ledger's units of the two department heads
# Who each signed-in caller is: role and units. Unit A's rows: ledger item 7 of Dongying's
# ledger (各供电企业), an outage of 营销部, an application of 国网东营供电公司.
USERS: dict[str, tuple[Role, list[str]]] = {
    "admin": (Role.admin, []),
    "head_a": (Role.dept_head, [UNIT_A]),
    "head_b": (Role.dept_head, [UNIT_B]),
    "clerk": (Role.clerk, ["国网东营供电公司"]),
    "supervisor": (Role.supervisor, ["市发展改革委"]),
    "dispatcher_a": (Role.dispatcher, ["营销部"]),
    "dispatcher_b": (Role.dispatcher, ["供电分公司"]),
    "viewer": (Role.viewer, []),
}


# ---- the declarations ------------------------------------------------------------------------


@dataclass
class Declaration:
    """One route's cells and the request that tests them."""

    expected: dict[str, str]  # role -> "allow" or a refusal status
    path: dict[str, str] = field(default_factory=dict)  # path parameter -> fact name
    query: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    form: dict[str, Any] | None = None
    files: dict[str, str] | None = None  # form field -> fact holding (name, bytes, type)
    headers: dict[str, str] = field(default_factory=dict)
    # Statuses an allowed caller may get from the business rules besides 2xx, 3xx and a 409 or
    # 422 of the rules: a 404 of a row that an earlier allowed caller removed, say.
    also: list[int] = field(default_factory=list)
    web: bool = False  # a page of ledger's web UI: callers send their token as the cookie


def _expected(route: str, entry: dict[str, Any]) -> dict[str, str]:
    cells: dict[str, str] = {}
    rest = None
    for key, roles in entry.items():
        outcome = str(key)
        if outcome not in ({"allow"} | REFUSALS):
            continue
        if roles == "rest":
            rest = outcome
            continue
        for role in ROLES if roles == "all" else roles:
            assert role in ROLES, f"{route}: unknown caller {role!r}"
            assert role not in cells, f"{route}: {role} is declared twice"
            cells[role] = outcome
    for role in ROLES:
        if role not in cells:
            assert rest is not None, f"{route}: no expectation for {role} (add it, or 'rest')"
            cells[role] = rest
    return cells


def load_matrix() -> dict[str, dict[str, Declaration]]:
    raw = yaml.safe_load(MATRIX.read_text(encoding="utf-8"))
    matrix: dict[str, dict[str, Declaration]] = {}
    for service, routes in raw.items():
        matrix[service] = {}
        for route, entry in routes.items():
            matrix[service][route] = Declaration(
                expected=_expected(f"{service} {route}", entry),
                path=entry.get("path", {}),
                query=entry.get("query", {}),
                json=entry.get("json"),
                form=entry.get("form"),
                files=entry.get("files"),
                headers=entry.get("headers", {}),
                also=entry.get("also", []),
                web=route.split(" ")[1].startswith("/ui"),
            )
    return matrix


def route_table(app: FastAPI) -> list[str]:
    """``METHOD /path`` of every route the app answers (HEAD left out: it goes with GET)."""
    found = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, Route):
            for method in sorted((route.methods or set()) - {"HEAD"}):
                found.append(f"{method} {context.path}")
    return found


def coverage_problems(service: str, routes: list[str], declared: dict[str, Any]) -> list[str]:
    """What is wrong with the declarations of ``service`` against its route table."""
    problems = [
        f"{service} {route}: no access declaration; add it under '{service}:' in "
        f"{MATRIX.name} with 'allow:' and the refusal (401/403/404) of every other caller"
        for route in routes
        if route not in declared
    ]
    problems += [
        f"{service} {route}: declared in {MATRIX.name}, but the route no longer exists; remove it"
        for route in declared
        if route not in routes
    ]
    return problems


@pytest.mark.parametrize("service", SERVICES)
def test_every_route_is_declared_and_every_declaration_is_a_route(apps, service):
    problems = coverage_problems(service, route_table(apps.app(service)), load_matrix()[service])
    assert not problems, "\n".join(problems)


def test_an_undeclared_route_and_a_stale_declaration_are_named():
    app = FastAPI()

    @app.get("/new/{thing_id}")
    async def new(thing_id: int) -> int:
        return thing_id

    declared = {"GET /healthz": {"allow": "all"}}
    problems = coverage_problems("demo", route_table(app), declared)
    assert "demo GET /new/{thing_id}: no access declaration; add it under 'demo:'" in problems[-2]
    assert problems[-1] == (
        f"demo GET /healthz: declared in {MATRIX.name}, but the route no longer exists; remove it"
    )
    assert "demo GET /openapi.json: no access declaration" in problems[0]


def test_a_route_missing_a_caller_is_named():
    with pytest.raises(AssertionError, match="demo GET /x: no expectation for viewer"):
        _expected("demo GET /x", {"allow": [r for r in ROLES if r != "viewer"]})
    with pytest.raises(AssertionError, match="demo GET /x: admin is declared twice"):
        _expected("demo GET /x", {"allow": ["admin"], "403": ["admin"], "401": "rest"})


# ---- the callers -----------------------------------------------------------------------------


@dataclass
class Callers:
    app: FastAPI
    tokens: dict[str, str]
    portal_auth: httpx.Auth | None

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://t")

    async def send(
        self,
        client: httpx.AsyncClient,
        role: str,
        method: str,
        url: str,
        d: Declaration,
        facts: dict[str, Any],
    ) -> httpx.Response:
        headers = {k: str(fill(v, facts)) for k, v in d.headers.items()}
        cookies: dict[str, str] = {}
        token = self.tokens.get(role)
        if token and d.web:
            cookies[COOKIE] = token
        elif token:
            headers["Authorization"] = f"Bearer {token}"
        auth: httpx.Auth | None = None
        if role == "portal":
            auth = self.portal_auth
            headers["Idempotency-Key"] = str(uuid.uuid4())
        form = None
        if d.form is not None:
            csrf = csrf_token(self.app.state.settings, token) if token else "none"
            form = {k: fill(v, {**facts, "csrf": csrf}) for k, v in d.form.items()}
        files = None
        if d.files:
            files = {name: facts[fact] for name, fact in d.files.items()}
        client.cookies.clear()
        request = client.build_request(
            method,
            url,
            params={k: fill(v, facts) for k, v in d.query.items()} or None,
            json=fill(d.json, facts) if d.json is not None else None,
            data=form,
            files=files,
            headers=headers,
            cookies=cookies,
        )
        return await client.send(request, auth=auth or httpx.USE_CLIENT_DEFAULT)


def fill(value: Any, facts: dict[str, Any]) -> Any:
    """``value`` with every ``{fact}`` in its strings replaced by the seeded fact."""
    if isinstance(value, str):
        whole = re.fullmatch(r"\{(\w+)\}", value)
        if whole:
            return facts[whole.group(1)]
        return re.sub(r"\{(\w+)\}", lambda m: str(facts[m.group(1)]), value)
    if isinstance(value, dict):
        return {k: fill(v, facts) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, facts) for v in value]
    return value


async def signed_in_callers(apps: Apps, app: FastAPI) -> Callers:
    tokens = {}
    for name, (role, units) in USERS.items():
        await add_user(apps, f"m-{name}", role, units, f"{name}@example.cn")
        tokens[name] = await sign_in(apps, f"m-{name}")
    async with session_scope(apps.intake.state.engine) as session:
        client, secret = await add_portal_client(
            session,
            "矩阵平台",
            tuple(PortalScope),
            now=FROZEN_AT,
            keyring=apps.intake.state.settings.keyring(),
        )
    return Callers(app, tokens, PortalAuth(client.key_id, secret))


# ---- the rows of unit A, seeded once per service ----------------------------------------------


async def ok(response: httpx.Response) -> Any:
    assert response.status_code < 300, f"{response.request.url}: {response.text}"
    return response.json() if response.headers.get("content-type", "").endswith("json") else None


async def intake_facts(apps: Apps, callers: Callers) -> dict[str, Any]:
    app = apps.intake
    standin = create_standin_app(clock=FixedClock(FROZEN_AT))
    app.state.elicense = ELicenseClient(
        "http://elicense.test", httpx.AsyncClient(transport=httpx.ASGITransport(app=standin))
    )
    facts: dict[str, Any] = {"project_code": PROJECT_CODE}
    async with callers.client() as http:
        http.headers["Authorization"] = f"Bearer {callers.tokens['clerk']}"
        for name in ("number", "closable_number", "portal_number"):
            created = await ok(await http.post("/applications", json=application_body()))
            facts[name] = created["application"]["number"]
            facts[f"{name}_code"] = created["query_code"]
        await ok(
            await http.put(
                f"/applications/{facts['number']}/external-line",
                json={"length_m": "180", "crossings": ["other_urban_road"]},
            )
        )
        fees = await ok(
            await http.post(
                f"/applications/{facts['number']}/fees",
                json={
                    "items": [
                        {
                            "kind": "statutory",
                            "name": "高可靠性供电费",
                            "amount": "24000.00",
                            "basis": "鲁发改价格〔2017〕XX号",
                        }
                    ]
                },
            )
        )
        facts["fee_id"] = fees["items"][0]["id"] if fees else 1
        area = await ok(
            await http.post(
                "/grid-areas",
                json={"unit": "国网东营供电公司", "name": "矩阵台区", "available_kva": "500"},
            )
        )
        facts["area_id"] = area["id"]
        http.headers["Authorization"] = f"Bearer {callers.tokens['admin']}"
        policies = await ok(await http.get("/policies"))
        facts["policy_code"] = policies[0]["code"]
        shown = {
            k: v for k, v in policies[0].items() if k not in ("origin", "created_at", "created_by")
        }
        facts["policy_body"] = {**shown, "code": "matrix-2027", "effective_from": "2027-01-01"}
        year = await ok(await http.get("/calendar/years/2026"))
        facts["calendar_year_number"] = 2026
        facts["calendar_year_body"] = {
            k: year[k] for k in ("holidays", "makeup_workdays", "source")
        }
    async with session_scope(app.state.engine) as session:
        spare, _ = await add_portal_client(
            session,
            "矩阵备用",
            tuple(PortalScope),
            now=FROZEN_AT,
            keyring=app.state.settings.keyring(),
        )
        # As if the matrix's portal had submitted it (its 期限说明 is the portal's to read).
        assert isinstance(callers.portal_auth, PortalAuth)
        submitted = (
            await session.exec(
                select(Application).where(col(Application.number) == facts["portal_number"])
            )
        ).one()
        submitted.portal_client = callers.portal_auth.key_id
        session.add(submitted)
        application = (
            await session.exec(
                select(Application).where(col(Application.number) == facts["number"])
            )
        ).one()
        facts["number_rating_ticket"] = rating_ticket(app.state.settings, application)
        facts["number_live_ticket"] = live_ticket(app.state.settings, application)
        escalation = Escalation(
            application_id=application.id,
            stage_seq=1,
            stage=Stage.acceptance,
            unit=application.unit,
            supervising_unit=application.supervising_unit,
            customer_type=application.customer_type,
            clerk="m-clerk",
            due_date=FROZEN_AT.date(),
            opened_at=FROZEN_AT,
            state=EscalationState.open,
        )
        session.add(escalation)
        await session.flush()
        facts["escalation_id"] = escalation.id
    facts["key_id"] = spare.key_id
    facts["project"] = project_body()
    facts["portal_application"] = portal_application_body()
    facts["application_body"] = application_body()
    facts["acceptance_stage"] = "acceptance"
    facts["info_topic"] = "limits"
    facts["new_area_name"] = "矩阵新台区"
    return facts


async def ledger_facts(apps: Apps, callers: Callers) -> dict[str, Any]:
    async with session_scope(apps.ledger.state.engine) as session:
        await seed_reference_ledgers(session, now=SYSTEM_CLOCK.now())
    facts: dict[str, Any] = {}
    async with callers.client() as http:
        http.headers["Authorization"] = f"Bearer {callers.tokens['head_a']}"
        facts["item_id"] = await item_id(http, "dongying-2021", 7)
        posted = await ok(
            await http.post(
                f"/items/{facts['item_id']}/updates",
                data={"status": "in_progress", "progress": "10", "narrative": "开始"},
                files=[("files", ("e.pdf", b"%PDF-1.4 e", "application/pdf"))],
            )
        )
        facts["evidence_id"] = posted["evidence"][0]["id"]
        units = await ok(await http.get("/units"))
        facts["unit_id"] = next(u["id"] for u in units if u["name"] == UNIT_A)
        export = await http.get("/ledgers/dongying-2021/export.xlsx")
        facts["workbook"] = ("台账.xlsx", export.content, "application/octet-stream")
        facts["evidence_file"] = ("e.pdf", b"%PDF-1.4 e", "application/pdf")
    await add_user(apps, "m-target", Role.viewer)
    await add_user(apps, "m-edited", Role.viewer)
    async with session_scope(apps.ledger.state.engine) as session:
        # Twenty sign-ins (API and web page, one per caller): a cheap argon2 hash keeps them fast.
        target = await get_user_by_name(session, "m-target")
        assert target is not None
        target.password_hash = PasswordHasher(time_cost=1, memory_cost=1024).hash(PASSWORD)
        session.add(target)
    facts.update(
        password=PASSWORD,
        target="m-target",
        edited="m-edited",
        ledger_code="dongying-2021",
        xlsx_format="xlsx",
        report_kind="half_year",
    )
    return facts


async def notify_facts(apps: Apps, callers: Callers) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    async with session_scope(apps.notify.state.engine) as session:
        await upsert(
            session,
            [
                {
                    "account_number": "M1",
                    "name": "甲",
                    "mobile": "13800000001",
                    "feeder": "F1",
                    "transformer_area": "T1",
                    "area_class": "urban",
                }
            ],
            SubscriberSource.api,
            now=FROZEN_AT,
        )
    start = FROZEN_AT + timedelta(days=10)
    async with callers.client() as http:
        http.headers["Authorization"] = f"Bearer {callers.tokens['dispatcher_a']}"
        outage = await ok(
            await http.post(
                "/outages",
                json={
                    "kind": "planned",
                    "cause": "检修",
                    "feeders": ["F1"],
                    "planned_start": start.isoformat(),
                    "etr": (start + timedelta(hours=8)).isoformat(),
                },
            )
        )
        facts["outage_id"] = outage["id"]
        facts["later_etr"] = (start + timedelta(hours=9)).isoformat()
        subscribers = await ok(await http.get("/subscribers"))
        facts["subscriber_id"] = subscribers["items"][0]["id"]
        csv = (
            "account_number,name,mobile,feeder,transformer_area,area_class\n"
            "M2,乙,13800000002,F1,T1,市区\n"
        )
        facts["csv"] = ("s.csv", csv.encode(), "text/csv")
        imported = await ok(await http.post("/subscribers/imports", files={"file": facts["csv"]}))
        facts["import_id"] = imported["id"]
        await ok(await http.post(f"/outages/{facts['outage_id']}/announce", json={}))
        messages = await ok(await http.get(f"/outages/{facts['outage_id']}/messages"))
        facts["message_id"] = messages["items"][0]["id"]
        extra = await ok(
            await http.post(
                "/subscribers",
                json={
                    "account_number": "M9",
                    "name": "丁",
                    "mobile": "13800000009",
                    "feeder": "F9",
                    "transformer_area": "T9",
                    "area_class": "rural",
                },
            )
        )
        facts["removable_subscriber_id"] = extra["id"]
    facts.update(
        event_id=str(uuid.uuid4()),
        outage_start=(start + timedelta(days=1)).isoformat(),
        outage_etr=(start + timedelta(days=1, hours=4)).isoformat(),
        new_account="M3",
        count_year=2025,
        count_area="urban",
        template_kind="outage.announced",
        action="progress",  # the outage page's form; refused while the outage is announced
    )
    return facts


FACTS: dict[str, Callable[[Apps, Callers], Any]] = {
    "intake": intake_facts,
    "ledger": ledger_facts,
    "notify": notify_facts,
}


# ---- the cells -------------------------------------------------------------------------------


def _code(response: httpx.Response) -> str:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return ""
    return str(body.get("code", "")) if isinstance(body, dict) else ""


def judge(expected: str, response: httpx.Response, also: list[int]) -> str | None:
    """Why the answer is wrong for the cell, or None."""
    status, code = response.status_code, _code(response)
    if code == "validation_failed":
        fields = [e["field"] for e in response.json().get("errors", [])]
        code = f"validation_failed {fields}"
    if status >= 500:
        return f"got {status} {code}"
    if expected == "allow":
        refused_by_rules = status in (409, 422) and not code.startswith("validation_failed")
        if status < 400 or refused_by_rules or status in also:
            return None
        return f"expected to be let in, got {status} {code}"
    if expected == "303":
        # Ledger's own pages name the sign-in page relative to it, intake's and notify's name
        # ledger's (shared.web.navigation).
        location = urlsplit(response.headers.get("location", ""))
        if status == 303 and location.path == "/ui/login":
            return None
        return f"expected 303 to /ui/login, got {status} {code}"
    if str(status) != expected:
        return f"expected {expected}, got {status} {code}"
    return None


@pytest.mark.parametrize("service", SERVICES)
async def test_every_caller_gets_what_is_declared(apps, service):
    app = apps.app(service)
    matrix = load_matrix()[service]
    callers = await signed_in_callers(apps, app)
    elicense = apps.intake.state.elicense
    try:
        wrong = await run_cells(app, matrix, callers, await FACTS[service](apps, callers))
    finally:
        apps.intake.state.elicense = elicense
    assert not wrong, f"{len(wrong)} wrong cells in {service}:\n" + "\n".join(wrong)


def path_of(template: str, declaration: Declaration, facts: dict[str, Any]) -> str:
    def value(match: re.Match[str]) -> str:
        return str(facts[declaration.path.get(match.group(1), match.group(1))])

    return re.sub(r"\{(\w+)\}", value, template)


async def run_cells(
    app: FastAPI, matrix: dict[str, Declaration], callers: Callers, facts: dict[str, Any]
) -> list[str]:
    wrong: list[str] = []
    async with callers.client() as http:
        for route in route_table(app):
            declaration = matrix.get(route)
            if declaration is None:
                continue  # the other test names it
            method, template = route.split(" ", 1)
            url = path_of(template, declaration, facts)
            order = sorted(ROLES, key=lambda r: declaration.expected[r] == "allow")
            for role in order:
                expected = declaration.expected[role]
                response = await callers.send(http, role, method, url, declaration, facts)
                why = judge(expected, response, declaration.also)
                if why:
                    wrong.append(f"{route} as {role}: {why}")
    return wrong
