"""The pages' shared layout, navigation and sign-in (shared.web)."""

from __future__ import annotations

import re

import httpx
import pytest

from shared.auth import Role
from shared.web.navigation import pages_for, ui_base
from shared.web.session import COOKIE, csrf_token
from tests.conftest import PASSWORD, add_user, client_for, sign_in
from tests.shared.test_revocation import LATER


def _links(html: str) -> list[str]:
    nav = html.split('<nav class="site"')[1].split("</nav>")[0]
    return re.findall(r'href="([^"]+)"', nav)


@pytest.mark.parametrize("service", ["intake", "ledger", "notify"])
class TestEveryService:
    async def test_root_leads_to_the_start_page(self, apps, service):
        async with client_for(apps.app(service)) as client:
            response = await client.get("/")
        assert response.status_code == 303
        start = "/ui/start" if service == "ledger" else "http://ledger.test/ui/start"
        assert response.headers["location"] == start

    async def test_a_browser_asking_for_a_page_that_is_not_there_gets_a_page(self, apps, service):
        html = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
        async with client_for(apps.app(service)) as client:
            page = await client.get("/ui/no-such-page", headers=html)
            api = await client.get("/ui/no-such-page")
            not_ui = await client.get("/no-such-thing", headers=html)
        assert page.status_code == 404
        assert page.headers["content-type"].startswith("text/html")
        assert "页面不存在" in page.text
        assert "返回工作台" in page.text
        assert page.headers["cache-control"] == "no-store"
        # A script under /ui, and every path of the API, still get problem+json.
        assert api.headers["content-type"] == "application/problem+json"
        assert api.json()["code"] == "not_found"
        assert not_ui.headers["content-type"] == "application/problem+json"

    @pytest.mark.parametrize("root", ["", "/notify"])
    async def test_the_stylesheet_is_served_under_the_root_path(self, apps, service, root):
        transport = httpx.ASGITransport(app=apps.app(service), root_path=root)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get(f"{root}/ui/static/huodian.css")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/css")
        assert "header" in response.text


class TestSignIn:
    async def test_one_cookie_for_every_path_and_back_where_one_came_from(self, apps):
        await add_user(apps, "clerk", Role.clerk, ["国网东营供电公司"])
        back = "http://intake.test/ui/"
        async with client_for(apps.ledger) as browser:
            form = await browser.get("/ui/login", params={"next": back})
            assert f'name="next" value="{back}"' in form.text
            response = await browser.post(
                "/ui/login", data={"username": "clerk", "password": PASSWORD, "next": back}
            )
        assert response.status_code == 303
        assert response.headers["location"] == back
        cookie = response.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE}=")
        assert "Path=/;" in cookie
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie

    @pytest.mark.parametrize(
        "target",
        ["https://evil.example/ui/", "//evil.example/ui/", "http://ledger.test.evil/ui/", "/x"],
    )
    async def test_a_sign_in_never_sends_one_elsewhere(self, apps, target):
        await add_user(apps, "clerk", Role.clerk, ["国网东营供电公司"])
        async with client_for(apps.ledger) as browser:
            form = await browser.get("/ui/login", params={"next": target})
            assert 'name="next"' not in form.text
            response = await browser.post(
                "/ui/login", data={"username": "clerk", "password": PASSWORD, "next": target}
            )
        assert response.headers["location"] == "/ui/start"

    async def test_signed_out_goes_to_sign_in_and_comes_back(self, apps):
        async with client_for(apps.ledger) as browser:
            response = await browser.get("/ui/start")
        assert response.status_code == 303
        assert response.headers["location"] == "/ui/login?next=%2Fui%2Fstart"


class TestStartPage:
    @pytest.mark.parametrize("role", list(Role))
    async def test_each_role_sees_its_own_work_and_the_pages_it_may_use(self, apps, role):
        bound = role in (Role.dept_head, Role.clerk, Role.supervisor, Role.dispatcher)
        await add_user(apps, f"u-{role.value}", role, ["市发展改革委"] if bound else [])
        async with client_for(apps.ledger) as browser:
            browser.cookies.set(COOKIE, await sign_in(apps, f"u-{role.value}"))
            page = await browser.get("/ui/start")
        assert page.status_code == 200, page.text
        expected = pages_for(role)
        urls = [
            f"/ui{p.path}" if p.service == "ledger" else f"http://{p.service}.test/ui{p.path}"
            for p in expected
        ]
        assert _links(page.text) == urls
        own = page.text.split("<h2>您的工作</h2>")[1].split("</ul>")[0]
        assert all(p.label in own for p in expected if role in p.own_work_of)
        assert f"u-{role.value}（" in page.text  # the display name in the header

    async def test_a_department_head_sees_how_their_items_stand(self, apps, seeded):
        await add_user(apps, "power", Role.dept_head, ["各供电企业"])
        async with client_for(apps.ledger) as browser:
            browser.cookies.set(COOKIE, await sign_in(apps, "power"))
            page = await browser.get("/ui/start")
        figures = page.text.split('<p id="figures">')[1].split("</p>")[0]
        assert re.search(r'本单位事项 <span class="figure">52</span> 项', figures)

    async def test_an_admin_sees_how_every_item_stands(self, apps, seeded):
        await add_user(apps, "root", Role.admin)
        async with client_for(apps.ledger) as browser:
            browser.cookies.set(COOKIE, await sign_in(apps, "root"))
            page = await browser.get("/ui/start")
        figures = page.text.split('<p id="figures">')[1].split("</p>")[0]
        shown = re.search(r'全部台账事项 <span class="figure">(\d+)</span> 项', figures)
        assert shown is not None
        assert int(shown.group(1)) > 52  # more than one unit's share

    @pytest.mark.parametrize(
        "role", [r for r in Role if r not in (Role.dept_head, Role.admin)], ids=str
    )
    async def test_other_roles_get_their_links_and_no_figures(self, apps, seeded, role):
        await add_user(apps, "other", role, ["各供电企业"] if role is not Role.viewer else [])
        async with client_for(apps.ledger) as browser:
            browser.cookies.set(COOKIE, await sign_in(apps, "other"))
            page = await browser.get("/ui/start")
        assert page.status_code == 200, page.text
        assert 'id="figures"' not in page.text
        assert "<h2>您的工作</h2>" in page.text


class TestSignOut:
    """退出 revokes the session's token on the server: a copy of the old cookie is refused."""

    async def _signed_in_browser(self, apps) -> tuple[httpx.AsyncClient, str]:
        await add_user(apps, "clerk", Role.clerk, ["国网东营供电公司"])
        token = await sign_in(apps, "clerk")
        browser = client_for(apps.ledger)
        browser.cookies.set(COOKIE, token)
        return browser, token

    async def test_the_old_token_is_refused_after_sign_out(self, apps, frozen):
        browser, token = await self._signed_in_browser(apps)
        async with browser, client_for(apps.intake, token) as intake:
            assert (await browser.get("/ui/start")).status_code == 200
            assert (await intake.get("/applications")).status_code == 200
            csrf = csrf_token(apps.ledger.state.settings, token)
            out = await browser.post("/ui/logout", data={"csrf": csrf})
            assert out.status_code == 303
            assert out.headers["location"] == "/ui/login"
            assert f'{COOKIE}=""' in out.headers["set-cookie"]
            # The old cookie, kept by someone: the pages send it to sign in again ...
            browser.cookies.set(COOKIE, token)
            assert (await browser.get("/ui/start")).headers["location"].startswith("/ui/login")
            # ... ledger's API refuses it as a bearer token at once ...
            async with client_for(apps.ledger, token) as api:
                refused = await api.get("/units")
            assert (refused.status_code, refused.json()["code"]) == (401, "token_revoked")
            # ... and intake once its list of valid sign-ins is fetched again.
            frozen.shift(LATER)
            refused = await intake.get("/applications")
        assert (refused.status_code, refused.json()["code"]) == (401, "token_revoked")
        fresh = await sign_in(apps, "clerk")
        async with client_for(apps.intake, fresh) as intake:
            assert (await intake.get("/applications")).status_code == 200

    async def test_signing_out_ends_this_sign_in_only(self, apps, frozen):
        browser, token = await self._signed_in_browser(apps)
        other = await sign_in(apps, "clerk")  # the same account on another device
        assert other != token
        async with browser, client_for(apps.intake, other) as intake:
            assert (await intake.get("/applications")).status_code == 200
            csrf = csrf_token(apps.ledger.state.settings, token)
            assert (await browser.post("/ui/logout", data={"csrf": csrf})).status_code == 303
            frozen.shift(LATER)
            assert (await intake.get("/applications")).status_code == 200
            async with client_for(apps.ledger, other) as api:
                assert (await api.get("/units")).status_code == 200
            async with (
                client_for(apps.intake, token) as ended,
                client_for(apps.notify, token) as ended_notify,
            ):
                for response in (
                    await ended.get("/applications"),
                    await ended_notify.get("/outages"),
                ):
                    assert (response.status_code, response.json()["code"]) == (
                        401,
                        "token_revoked",
                    )

    async def test_signing_out_everywhere_ends_every_sign_in(self, apps, frozen):
        browser, token = await self._signed_in_browser(apps)
        other = await sign_in(apps, "clerk")
        async with browser:
            page = await browser.get("/ui/start")
            assert '<input type="hidden" name="everywhere" value="1">' in page.text
            assert "退出所有设备" in page.text
            csrf = csrf_token(apps.ledger.state.settings, token)
            out = await browser.post("/ui/logout", data={"csrf": csrf, "everywhere": "1"})
            assert out.status_code == 303
        async with client_for(apps.ledger, other) as api:
            refused = await api.get("/units")
        assert (refused.status_code, refused.json()["code"]) == (401, "token_revoked")
        frozen.shift(LATER)
        async with client_for(apps.intake, other) as intake:
            refused = await intake.get("/applications")
        assert (refused.status_code, refused.json()["code"]) == (401, "token_revoked")

    async def test_a_sign_out_without_the_pages_token_only_drops_the_cookie(self, apps):
        browser, token = await self._signed_in_browser(apps)
        async with browser:
            out = await browser.post("/ui/logout", data={"csrf": "forged"})
            assert out.status_code == 303
            assert f'{COOKIE}=""' in out.headers["set-cookie"]
            browser.cookies.set(COOKIE, token)
            assert (await browser.get("/ui/start")).status_code == 200


class TestOneCsrfCheck:
    """Every service's forms refuse a forged CSRF token with one code and one message."""

    MESSAGE = "页面已过期，请刷新页面后重试。"

    @pytest.mark.parametrize(
        ("service", "role", "path", "form"),
        [
            (
                "ledger",
                Role.admin,
                "/ui/admin/users",
                {
                    "username": "x",
                    "display_name": "x",
                    "role": "viewer",
                    "password": "password-123",
                },
            ),
            ("ledger", Role.admin, "/ui/admin/ledgers/dongying-2021/archive", {"reason": "误"}),
            ("intake", Role.supervisor, "/ui/escalations/1/acknowledge", {"note": "收到"}),
            ("intake", Role.clerk, "/ui/accept", {}),
            ("notify", Role.admin, "/ui/delivery/resend", {}),
        ],
    )
    @pytest.mark.parametrize("forged", ["forged", "页面已过期"])  # non-ASCII: no TypeError, a 403
    async def test_a_forged_form_is_refused_alike(
        self, apps, seeded, service, role, path, form, forged
    ):
        await add_user(apps, "someone", role, [] if role is Role.admin else ["国网东营供电公司"])
        async with client_for(apps.app(service)) as browser:
            browser.cookies.set(COOKIE, await sign_in(apps, "someone"))
            refused = await browser.post(path, data={"csrf": forged, **form})
        assert refused.status_code == 403, refused.text
        assert self.MESSAGE in refused.text


async def test_a_page_address_that_does_not_validate_is_a_page_naming_the_field(apps):
    """GET /ui/items/abc: the item id is not a number. A browser gets a 422 page in Chinese
    (it used to get the API's JSON); a client asking for JSON still gets problem+json."""
    async with client_for(apps.ledger) as client:
        page = await client.get("/ui/items/abc", headers={"Accept": "text/html"})
        api = await client.get("/ui/items/abc", headers={"Accept": "application/json"})
    assert page.status_code == 422
    assert page.headers["content-type"].startswith("text/html")
    assert "地址有误" in page.text
    assert "item_id" in page.text
    assert api.status_code == 422
    assert api.json()["code"] == "validation_failed"


def test_behind_one_host_name_the_pages_are_under_each_service(settings):
    public = settings.model_copy(update={"public_url": "https://huodian.example/"})
    assert ui_base(public, "intake") == "https://huodian.example/intake/ui"
    assert ui_base(settings, "notify") == "http://notify.test/ui"
