"""Every page form of the three services (shared.web.pages.submit_form): posted empty, without
its CSRF token, or with nothing but the token, it is answered with a page (or a redirect),
never FastAPI's 422 JSON nor a 500; and every page is sent ``Cache-Control: no-store``."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from starlette.routing import Route

from shared.auth import Role
from shared.web.session import COOKIE, csrf_token
from tests.conftest import add_user, client_for, sign_in

# A value for each path parameter of a page form's route.
PATH_VALUES = {
    "item_id": "1",
    "code": "no-such-ledger",
    "username": "nobody",
    "outage_id": "1",
    "action": "announce",
    "escalation_id": "1",
}
# Who posts a route's form: its own role where only one may, else an administrator.
CLERK_FORMS = {"/ui/accept"}


def page_forms(app: FastAPI) -> list[str]:
    """The paths of the routes that take a page's form (a POST below ``/ui``)."""
    return sorted(
        context.path
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, Route)
        and context.path.startswith("/ui")
        and "POST" in (context.original_route.methods or set())
    )


def _filled(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES[m[1]], path)


@pytest.fixture
async def tokens(apps, seeded):
    await add_user(apps, "forms-admin", Role.admin)
    await add_user(apps, "forms-clerk", Role.clerk, ["国网东营供电公司"])
    return {
        "admin": await sign_in(apps, "forms-admin"),
        "clerk": await sign_in(apps, "forms-clerk"),
    }


def _browser(app: FastAPI, token: str) -> httpx.AsyncClient:
    browser = client_for(app)
    browser.cookies.set(COOKIE, token)
    return browser


def _answered_with_a_page(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    if response.is_redirect:
        return
    assert 400 <= response.status_code < 500 or response.status_code in (200, 201)
    assert response.headers["content-type"].startswith("text/html"), response.text
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("service", ["intake", "ledger", "notify"])
class TestEveryPageForm:
    def test_there_are_forms_to_check(self, apps, service):
        assert page_forms(apps.app(service))

    async def test_an_empty_or_tokenless_post_is_answered_with_a_page(self, apps, tokens, service):
        app = apps.app(service)
        for path in page_forms(app):
            token = tokens["clerk" if path in CLERK_FORMS else "admin"]
            async with _browser(app, token) as browser:
                for data in ({}, {"note": "x"}, {"csrf": csrf_token(app.state.settings, token)}):
                    response = await browser.post(_filled(path), data=data)
                    _answered_with_a_page(response)

    async def test_a_post_without_the_file_is_a_page(self, apps, tokens, service):
        if service != "ledger":
            pytest.skip("the import is ledger's")
        token = tokens["admin"]
        csrf = csrf_token(apps.ledger.state.settings, token)
        async with _browser(apps.ledger, token) as browser:
            response = await browser.post(
                "/ui/admin/ledgers/import", data={"csrf": csrf, "code": "x", "name": "某台账"}
            )
        assert response.status_code == 422
        assert "请填写表单中的必填项后再提交。" in response.text
        assert 'value="x"' in response.text


class TestNoStore:
    @pytest.mark.parametrize(
        ("service", "path"),
        [
            ("intake", "/ui/progress"),
            ("intake", "/ui/info"),
            ("ledger", "/ui/login"),
            ("ledger", "/ui/start"),
            ("notify", "/ui/"),
        ],
    )
    async def test_pages_are_not_kept(self, apps, service, path):
        async with client_for(apps.app(service)) as browser:
            response = await browser.get(path)
        assert response.headers["cache-control"] == "no-store"
        # Nor framed by another site (a framed ticketed or signed-in form could be clicked).
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["content-security-policy"] == "frame-ancestors 'none'"

    async def test_the_progress_and_rating_answers_are_not_kept(self, apps):
        async with client_for(apps.intake) as browser:
            shown = await browser.post("/ui/progress", data={"number": "x", "code": "y"})
            rated = await browser.post("/ui/progress/rating", data={"number": "x"})
        assert shown.headers["cache-control"] == "no-store"
        assert rated.headers["cache-control"] == "no-store"

    async def test_the_stylesheet_may_be_kept(self, apps):
        async with client_for(apps.ledger) as browser:
            response = await browser.get("/ui/static/huodian.css")
        assert response.status_code == 200
        assert "no-store" not in response.headers.get("cache-control", "")
