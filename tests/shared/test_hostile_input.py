"""Hostile input is a 4xx, never a 500 (恶意输入): a fixed corpus from the security review.

The id, offset and date cases are generated from the route table of all three services, so a
route added later is covered without a new test. They run on SQLite and on PostgreSQL (whose
``integer`` stops at 2³¹−1 and whose ``text`` refuses NUL).
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from enum import Enum
from typing import Annotated, Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from openpyxl import load_workbook
from pydantic import AwareDatetime, BaseModel, TypeAdapter, ValidationError

from shared.auth import Role
from shared.errors import PROBLEM_JSON, install_error_handlers
from tests.conftest import PASSWORD, add_user, client_for, sign_in
from tests.intake.conftest import staff_token
from tests.ledger.ledgers.test_items_api import item_id

SERVICES = ["intake", "ledger", "notify"]
HUGE_INTS = [2**31, 2**63]
FAR_DAYS = ["0001-01-01", "9999-12-31"]


def _routes(app: FastAPI) -> list[tuple[str, APIRoute]]:
    return [
        (ctx.path, ctx.original_route)
        for ctx in iter_route_contexts(app.routes)
        if isinstance(ctx.original_route, APIRoute)
    ]


def _params(route: APIRoute, kind: str) -> list[Any]:
    """The route's path or query parameters, its dependencies' included."""

    def walk(dependant: Dependant) -> list[Any]:
        found = list(getattr(dependant, f"{kind}_params"))
        for sub in dependant.dependencies:
            found += walk(sub)
        return found

    return walk(route.dependant)


def _plain_value(annotation: Any) -> str:
    """A value a path parameter of this type accepts."""
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return str(next(iter(annotation)).value)
    return "1"


def _fill(path: str, route: APIRoute, **values: object) -> str:
    for param in _params(route, "path"):
        value = values.get(param.name, _plain_value(param.field_info.annotation))
        path = path.replace("{" + param.name + "}", str(value))
    return path


def _types_in(annotation: Any) -> set[Any]:
    found = {annotation}
    for arg in getattr(annotation, "__args__", ()):
        found |= _types_in(arg)
    return found


def _fields(response: httpx.Response) -> set[str]:
    return {e["field"] for e in response.json().get("errors", [])}


@pytest.fixture
async def signed_in(apps, settings) -> AsyncIterator[dict[str, list[httpx.AsyncClient]]]:
    """Clients of several roles, so that one gets past each route's authorisation to the data.

    Every one is a user ledger knows (intake and notify check tokens against its list); the
    intake roles bound to units hold tokens naming those units, as ledger would issue them.
    """
    tokens = []
    for role, units in [(Role.admin, None), (Role.dispatcher, ["营销部"])]:
        await add_user(apps, role.value, role, units)
        tokens.append(await sign_in(apps, role.value))
    for role, unit in [(Role.clerk, "国网东营供电公司"), (Role.supervisor, "市发展改革委")]:
        tokens.append(await staff_token(apps, role.value, role, (unit,)))
    clients = {s: [client_for(apps.app(s), token) for token in tokens] for s in SERVICES}
    yield clients
    for client in (c for group in clients.values() for c in group):
        await client.aclose()


async def _send(
    clients: list[httpx.AsyncClient], method: str, url: str, **kwargs: Any
) -> httpx.Response:
    """The answer to the first client the route lets in (the last one's if none is let in)."""
    for client in clients:
        response = await client.request(method, url, **kwargs)
        if response.status_code not in (401, 403):
            break
    return response


@pytest.mark.parametrize("service", SERVICES)
class TestHugeNumbers:
    async def test_every_int_path_parameter(self, apps, signed_in, service):
        """An id is refused as such (422 naming it); any other number (a year) is a 4xx."""
        failures = {}
        for path, route in _routes(apps.app(service)):
            for param in _params(route, "path"):
                if int not in _types_in(param.field_info.annotation):
                    continue
                for huge in HUGE_INTS:
                    url = _fill(path, route, **{param.name: huge})
                    for method in sorted(route.methods):
                        response = await _send(signed_in[service], method, url)
                        refused = response.status_code == 422 and param.name in _fields(response)
                        is_id = param.name.endswith("_id")
                        if response.status_code >= 500 or (is_id and not refused):
                            failures[f"{method} {url}"] = response.text[:200]
        assert failures == {}

    async def test_every_id_and_offset_query_parameter(self, apps, signed_in, service):
        failures = {}
        checked = 0
        for path, route in _routes(apps.app(service)):
            url = _fill(path, route)
            for param in _params(route, "query"):
                if not (param.name.endswith("_id") or param.name == "offset"):
                    continue
                for huge in HUGE_INTS:
                    for method in sorted(route.methods):
                        checked += 1
                        response = await _send(
                            signed_in[service], method, url, params={param.alias: huge}
                        )
                        if response.status_code != 422 or param.alias not in _fields(response):
                            failures[f"{method} {url}?{param.alias}={huge}"] = response.text[:200]
        assert checked
        assert failures == {}


@pytest.mark.parametrize("service", SERVICES)
async def test_every_date_query_parameter_outside_the_supported_range(apps, signed_in, service):
    failures = {}
    checked = 0
    for path, route in _routes(apps.app(service)):
        url = _fill(path, route)
        for param in _params(route, "query"):
            if date not in _types_in(param.field_info.annotation):
                continue
            for day in FAR_DAYS:
                for method in sorted(route.methods):
                    checked += 1
                    response = await _send(
                        signed_in[service], method, url, params={param.alias: day}
                    )
                    if response.status_code != 422 or param.alias not in _fields(response):
                        failures[f"{method} {url}?{param.alias}={day}"] = response.text[:200]
    assert checked
    assert failures == {}


async def test_message_filter_ids(signed_in):
    for name in ("outage_id", "subscriber_id"):
        response = await _send(signed_in["notify"], "GET", "/messages", params={name: 2**31})
        assert response.status_code == 422
        assert name in _fields(response)


def _moment_fields(model: type[BaseModel], seen: set[type]) -> list[tuple[str, Any, set[Any]]]:
    """Every date or datetime field of a body model and the models nested in it."""
    found = []
    seen.add(model)
    for name, field in model.model_fields.items():
        types = _types_in(field.annotation)
        for nested in types:
            if isinstance(nested, type) and issubclass(nested, BaseModel) and nested not in seen:
                found += _moment_fields(nested, seen)
        if types & {date, datetime, AwareDatetime}:
            annotated = (
                Annotated[field.annotation, *field.metadata] if field.metadata else field.annotation
            )
            found.append((f"{model.__name__}.{name}", annotated, types))
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_every_date_in_a_body_is_bounded(apps, service):
    """A body's dates and moments refuse year 1 and year 9999 (date arithmetic overflows)."""
    failures = []
    routes = [route for _, route in _routes(apps.app(service)) if route.body_field is not None]
    bodies = [route.body_field.field_info.annotation for route in routes]
    models = {b for b in bodies if isinstance(b, type) and issubclass(b, BaseModel)}
    fields = [f for m in models for f in _moment_fields(m, set())]
    for name, annotated, types in fields:
        if types & {datetime, AwareDatetime}:
            far: list[Any] = [datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)]
        else:
            far = [date.min, date.max]
        for value in far:
            try:
                TypeAdapter(annotated).validate_python([value] if list in types else value)
            except ValidationError:
                continue
            failures.append(f"{name} accepts {value}")
    assert fields
    assert failures == []


class TestFarDays:
    @pytest.mark.parametrize("day", FAR_DAYS)
    async def test_ledger_as_of(self, viewer, seeded, day):
        for url in ("/items", "/ranking", "/feed/deadlines", "/ledgers/dongying-2021/export.xlsx"):
            response = await viewer.get(url, params={"as_of": day})
            assert response.status_code == 422, url
            assert response.json()["errors"][0]["field"] == "as_of"

    @pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+08:00", "9999-12-31T23:59:59Z"])
    async def test_outage_times(self, signed_in, moment):
        dispatcher = signed_in["notify"][1]
        outage = {
            "kind": "planned",
            "cause": "10kV线路检修",
            "feeders": ["F1"],
            "planned_start": "2026-12-10T08:00:00+08:00",
            "etr": moment,
        }
        response = await dispatcher.post("/outages", json=outage)
        assert response.status_code == 422
        assert _fields(response) == {"etr"}
        outage["etr"] = "2026-12-10T16:00:00+08:00"
        created = (await dispatcher.post("/outages", json=outage)).json()
        for action, body in (("etr", {"etr": moment}), ("start", {"at": moment})):
            response = await dispatcher.post(f"/outages/{created['id']}/{action}", json=body)
            assert response.status_code == 422, response.text

    async def test_the_edges_of_the_range_are_served(self, viewer, seeded):
        for day in ("2000-01-01", "2100-12-31"):
            response = await viewer.get("/items", params={"as_of": day})
            assert response.status_code == 200


class TestNulCharacters:
    """NUL in any text is a 422 ``nul_character`` before anything reaches the database."""

    @staticmethod
    def assert_refused(response: httpx.Response) -> None:
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == PROBLEM_JSON
        assert response.json()["code"] == "nul_character"

    async def test_json_field_on_anonymous_sign_in(self, apps):
        await add_user(apps, "admin", Role.admin)
        async with client_for(apps.ledger) as anonymous:
            for username in ("ad\x00min", "\x00"):
                response = await anonymous.post(
                    "/auth/token", json={"username": username, "password": PASSWORD}
                )
                self.assert_refused(response)

    async def test_json_key_and_nested_value(self, admin):
        response = await admin.post("/users", json={"username": "li", "units": ["各供电\x00企业"]})
        self.assert_refused(response)
        response = await admin.post("/users", json={"user\x00name": "li"})
        self.assert_refused(response)

    async def test_an_escaped_backslash_is_not_nul(self, apps):
        async with client_for(apps.ledger) as anonymous:
            response = await anonymous.post(
                "/auth/token", json={"username": "\\u0000", "password": PASSWORD}
            )
        assert response.status_code == 401

    async def test_query_parameter(self, viewer, seeded):
        self.assert_refused(await viewer.get("/items", params={"ledger": "dongying\x00"}))
        self.assert_refused(await viewer.get("/items", params={"cate\x00gory": "x"}))

    async def test_anonymous_public_routes(self, apps):
        async with client_for(apps.intake) as anonymous:
            response = await anonymous.get("/public/disclosure", params={"jurisdiction": "dy\x00"})
            self.assert_refused(response)
            self.assert_refused(await anonymous.get("/public/capacity", params={"unit": "\x00"}))
            self.assert_refused(await anonymous.get("/public/applications/A%00B/progress"))
            response = await anonymous.post(
                "/public/applications/A1/rating", json={"comment": "好\x00", "score": 5}
            )
            self.assert_refused(response)

    async def test_form_field_on_anonymous_sign_in_page(self, apps):
        await add_user(apps, "admin", Role.admin)
        async with client_for(apps.ledger) as anonymous:
            response = await anonymous.post(
                "/ui/login", data={"username": "admin\x00", "password": PASSWORD}
            )
        self.assert_refused(response)

    async def test_multipart_field_and_file_name(self, power_head, seeded):
        target = await item_id(power_head, "dongying-2021", 7)
        form = {"status": "in_progress", "progress": "40", "narrative": "方案\x00编制"}
        self.assert_refused(await power_head.post(f"/items/{target}/updates", data=form))
        form["narrative"] = "方案编制"
        # httpx would escape NUL in a file name; a hostile client sends it raw.
        body = (
            b"--b\r\n"
            b'Content-Disposition: form-data; name="status"\r\n\r\nin_progress\r\n--b\r\n'
            b'Content-Disposition: form-data; name="progress"\r\n\r\n40\r\n--b\r\n'
            b'Content-Disposition: form-data; name="narrative"\r\n\r\nok\r\n--b\r\n'
            b'Content-Disposition: form-data; name="files"; filename="evi\x00dence.pdf"\r\n'
            b"Content-Type: application/pdf\r\n\r\n%PDF-1.4\r\n--b--\r\n"
        )
        headers = {"content-type": "multipart/form-data; boundary=b"}
        response = await power_head.post(f"/items/{target}/updates", content=body, headers=headers)
        self.assert_refused(response)
        listed = await power_head.get(f"/items/{target}/updates")
        assert listed.json() == []

    async def test_nul_inside_an_uploaded_file_is_its_business(self, power_head, seeded):
        target = await item_id(power_head, "dongying-2021", 7)
        form = {"status": "in_progress", "progress": "40", "narrative": "方案编制"}
        files = {"files": ("evidence.bin", b"\x00\x01\x00binary", "application/octet-stream")}
        response = await power_head.post(f"/items/{target}/updates", data=form, files=files)
        assert response.status_code == 201, response.text


class TestNulInImportedFiles:
    """A file's contents are parsed by the service, so its rows are checked there."""

    async def test_ledger_csv(self, admin, seeded):
        content = "序号,分类,工作目标任务,责任单位,完成时间\n"
        content += "1,工作目标,三零\x00服务,县供电公司,持续推进\n"
        response = await admin.post(
            "/ledgers/import",
            data={"code": "county-2023", "name": "某县任务台账"},
            files={"file": ("台账.csv", content.encode(), "text/csv")},
        )
        assert response.status_code == 422, response.text
        assert "nul_character" in {e["code"] for e in response.json()["errors"]}
        assert (await admin.get("/ledgers/county-2023")).status_code == 404

    async def test_subscriber_csv(self, apps, signed_in):
        content = "户号,户名,手机,邮箱,线路,台区,区域类别\nA1,客户\x00甲,13812340001,,F1,T1,城镇\n"
        content += "A2,客户乙,13812340002,,F1,T1,城镇\n"
        dispatcher = signed_in["notify"][1]
        posted = await dispatcher.post("/subscribers/imports", files={"file": ("c.csv", content)})
        assert posted.status_code == 202, posted.text
        job = (await dispatcher.get(f"/subscribers/imports/{posted.json()['id']}")).json()
        assert job["state"] == "done", job
        assert (job["rows_imported"], job["rows_failed"]) == (1, 1)


class TestControlCharactersInSpreadsheets:
    async def test_narrative_with_a_control_character(self, power_head, viewer, seeded):
        target = await item_id(power_head, "dongying-2021", 7)
        narrative = "全面推广\x1a=SUM(1,2)"
        response = await power_head.post(
            f"/items/{target}/updates",
            data={"status": "in_progress", "progress": "50", "narrative": narrative},
        )
        assert response.status_code == 201

        export = await viewer.get("/ledgers/dongying-2021/export.xlsx")
        assert export.status_code == 200
        sheet = load_workbook(io.BytesIO(export.content))["任务台账"]
        narratives = [row[7] for row in sheet.iter_rows(min_row=2, values_only=True)]
        assert "全面推广\ufffd=SUM(1,2)" in narratives

        report = await viewer.get(
            "/ledgers/dongying-2021/reports/annual", params={"year": 2026, "format": "xlsx"}
        )
        assert report.status_code == 200
        workbook = load_workbook(io.BytesIO(report.content))
        cells = [c for row in workbook["任务进展"].iter_rows() for c in row]
        assert any(c.value == "全面推广\ufffd=SUM(1,2)" and c.data_type == "s" for c in cells)

    async def test_text_starting_with_equals_stays_text(self, power_head, viewer, seeded):
        target = await item_id(power_head, "dongying-2021", 7)
        await power_head.post(
            f"/items/{target}/updates",
            data={"status": "in_progress", "progress": "50", "narrative": "=HYPERLINK(1)"},
        )
        export = await viewer.get("/ledgers/dongying-2021/export.xlsx")
        sheet = load_workbook(io.BytesIO(export.content))["任务台账"]
        cell = next(c for row in sheet.iter_rows() for c in row if c.value == "=HYPERLINK(1)")
        assert cell.data_type == "s"


async def test_an_unexpected_error_ends_the_request_cleanly():
    """The 500 is answered and the exception does not reach the server, which would otherwise
    close the kept-alive connection and reset the client's next request on it."""
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["code"] == "internal_error"


@pytest.mark.parametrize("service", SERVICES)
async def test_openapi_documents_errors_as_problem_json(apps, service):
    async with client_for(apps.app(service)) as client:
        spec = (await client.get("/openapi.json")).json()
    documented = {}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status[0] in "45":
                    documented[f"{method} {path} {status}"] = sorted(response.get("content", {}))
    assert documented
    assert {k: v for k, v in documented.items() if v != [PROBLEM_JSON]} == {}
