"""Intake's page (报装网页): the open applications by stage, for whoever signed in at ledger."""

from __future__ import annotations

import re
from html import unescape

import pytest
from sqlalchemy import update

from services.intake.applications.models import Application, ApplicationStage
from services.ledger.accounts.models import User
from shared.auth import Role
from shared.db import session_scope
from shared.web.session import COOKIE
from tests.conftest import client_for
from tests.intake.applications.test_stages_api import CONNECTION_POINT
from tests.intake.applications.test_stages_api import complete as complete_stage
from tests.intake.applications.test_why_api import complete
from tests.intake.conftest import DONGYING_UNIT, JINGYU_UNIT, create, staff_token


async def page_with(intake, token: str | None):
    async with client_for(intake) as browser:
        if token:
            browser.cookies.set(COOKIE, token)
        return await browser.get("/ui/")


def stage_rows(html: str) -> list[tuple[str, ...]]:
    body = html.split('<table id="stages">')[1].split("</table>")[0]
    return [
        tuple(re.findall(r"<td[^>]*>([^<]*)</td>", row))
        for row in re.findall(r"<tr>(.*?)</tr>", body.split("<tbody>")[1], re.S)
    ]


class TestApplicationsPage:
    async def test_each_sees_the_open_applications_they_may_see_by_stage(
        self, intake, apps, clerk, other_clerk, intake_admin
    ):
        await create(clerk)
        await create(clerk)
        await create(other_clerk, unit=JINGYU_UNIT)
        await create(clerk, customer_type="residential")

        mine = await page_with(
            intake, await staff_token(apps, "clerk-wang", Role.clerk, (DONGYING_UNIT,))
        )
        assert mine.status_code == 200, mine.text
        assert "本单位受理的申请" in mine.text
        assert stage_rows(mine.text) == [("业务受理", "2", "0"), ("受理签约", "1", "0")]

        everyone = await page_with(intake, await staff_token(apps, "admin", Role.admin))
        assert stage_rows(everyone.text) == [("业务受理", "3", "0"), ("受理签约", "1", "0")]
        assert "办理中 4 件" in everyone.text
        # The shared layout: the stylesheet, and the pages an administrator may use.
        assert 'href="/ui/static/huodian.css"' in everyone.text
        assert 'href="http://ledger.test/ui/"' in everyone.text
        assert 'href="/ui/" aria-current="page"' in everyone.text

    async def test_none_open_says_so(self, intake, apps):
        page = await page_with(intake, await staff_token(apps, "viewer", Role.viewer))
        assert page.status_code == 200
        assert "目前没有在办的申请。" in page.text

    async def test_signed_out_goes_to_the_one_sign_in_and_back(self, intake):
        page = await page_with(intake, None)
        assert page.status_code == 303
        assert page.headers["location"] == (
            "http://ledger.test/ui/login?next=http%3A%2F%2Fintake.test%2Fui%2F"
        )

    async def test_a_dispatcher_is_told_in_chinese(self, intake, apps):
        page = await page_with(
            intake, await staff_token(apps, "disp", Role.dispatcher, ("营销部",))
        )
        assert page.status_code == 403
        assert "不能使用此页面" in page.text

    async def test_a_revoked_sign_in_no_longer_opens_the_page(self, intake, apps):
        token = await staff_token(apps, "viewer", Role.viewer)
        assert (await page_with(intake, token)).status_code == 200
        async with session_scope(apps.ledger.state.engine) as session:
            await session.exec(  # type: ignore[call-overload]
                update(User)
                .where(User.username == "viewer")
                .values(token_version=User.token_version + 1)
            )
        intake.state.token_versions.forget()
        assert (await page_with(intake, token)).status_code == 303


class TestProgressPage:
    """The applicant's own page (办电进度查询): no account, the number and query code posted."""

    async def test_the_number_and_code_show_the_stages_and_what_is_awaited(
        self, intake, clerk, clock
    ):
        created = await create(clerk)
        number, code = created["application"]["number"], created["query_code"]
        paused = await clerk.post(
            f"/applications/{number}/pause",
            json={"reason": "customer_works", "note": "请完成用户侧配电房土建"},
        )
        assert paused.status_code == 200, paused.text
        async with client_for(intake) as browser:
            form = await browser.get("/ui/progress")
            assert form.status_code == 200
            assert 'action="/ui/progress"' in form.text
            assert '<nav class="site"' not in form.text  # nobody is signed in
            page = await browser.post("/ui/progress", data={"number": number, "code": code.lower()})
        assert page.status_code == 200, page.text
        assert f"申请编号 <strong>{number}</strong>" in page.text
        awaited = page.text.split('<div class="notice" id="awaiting">')[1].split("</div>")[0]
        assert "等待客户完成自有工程：请完成用户侧配电房土建" in awaited
        stages = page.text.split('<table id="stages">')[1].split("</table>")[0]
        assert re.findall(r'<tr data-stage="(\w+)">', stages)[:2] == ["acceptance", "supply_plan"]
        assert "办理中" in stages.split('data-stage="acceptance"')[1].split("</tr>")[0]
        # The same facts as the applicant's API gives.
        async with client_for(intake) as api:
            shown = await api.get(
                f"/public/applications/{number}/progress", headers={"X-Query-Code": code}
            )
        assert any(s["due_date"] for s in shown.json()["stages"])
        for stage in shown.json()["stages"]:
            row = stages.split(f'data-stage="{stage["stage"]}">')[1].split("</tr>")[0]
            assert f"<td>{stage['due_date'] or ''}" in row
        if shown.json()["due_date"]:
            assert f"承诺办结日期：<strong>{shown.json()['due_date']}</strong>" in page.text
        assert code not in page.text  # the code is never echoed back

    async def test_a_wrong_code_is_told_in_chinese_and_counted(self, intake, clerk, apps):
        created = await create(clerk)
        number = created["application"]["number"]
        async with client_for(intake) as browser:
            for _ in range(10):
                wrong = await browser.post("/ui/progress", data={"number": number, "code": "WRONG"})
                assert wrong.status_code == 404
            assert "申请编号或查询码不正确" in wrong.text
            locked = await browser.post(
                "/ui/progress", data={"number": number, "code": created["query_code"]}
            )
        assert locked.status_code == 429  # the tenth wrong try locked the number, as the API does
        assert "尝试次数过多" in locked.text

    @pytest.mark.parametrize(
        "data", [{}, {"number": "A", "code": ""}, {"number": "1" * 41, "code": "X"}]
    )
    async def test_missing_or_overlong_input_is_a_422_page(self, intake, data):
        async with client_for(intake) as browser:
            page = await browser.post("/ui/progress", data=data)
        assert page.status_code == 422
        assert "请填写申请编号和查询码。" in page.text

    async def test_a_provisional_due_date_says_so(self, intake, clerk):
        created = await create(clerk)
        number, code = created["application"]["number"], created["query_code"]
        # As when the deadline runs into a year whose holidays are not published yet.
        async with session_scope(intake.state.engine) as session:
            await session.exec(  # type: ignore[call-overload]
                update(Application).where(Application.number == number).values(due_provisional=True)
            )
            await session.exec(  # type: ignore[call-overload]
                update(ApplicationStage)
                .where(ApplicationStage.stage == "acceptance")
                .values(provisional=True)
            )
        async with client_for(intake) as browser:
            page = await browser.post("/ui/progress", data={"number": number, "code": code})
        assert '<span class="soon">（暂定）</span>' in page.text
        assert "节假日安排尚未公布" in page.text
        row = page.text.split('data-stage="acceptance">')[1].split("</tr>")[0]
        assert "（暂定）" in row


def why_sections(html: str) -> dict[str, list[str]]:
    """Each ``<details>`` of the page's 期限说明, by its stage (``total`` for the whole process),
    with its lines unescaped as the applicant reads them."""
    body = html.split('<div id="why">')[1].split("</div>")[0]
    sections = {}
    for head, items in re.findall(r"<details([^>]*)>(.*?)</details>", body, re.S):
        stage = re.search(r'data-stage="(\w+)"', head)
        lines = re.findall(r"<li>(.*?)</li>", items, re.S)
        sections[stage.group(1) if stage else "total"] = [unescape(line) for line in lines]
    return sections


class TestProgressPageWhy:
    """期限说明 on the applicant's page: the total's and each begun stage's why, line for line
    the staff's answer, as a readable list."""

    async def test_the_page_explains_the_total_and_each_begun_stage(self, intake, clerk):
        created = await create(clerk)
        number, code = created["application"]["number"], created["query_code"]
        paused = await clerk.post(
            f"/applications/{number}/pause",
            json={"reason": "customer_works", "note": "请完成用户侧配电房土建"},
        )
        assert paused.status_code == 200, paused.text
        async with client_for(intake) as browser:
            page = await browser.post("/ui/progress", data={"number": number, "code": code})
        assert page.status_code == 200, page.text
        assert "<h2>期限说明</h2>" in page.text
        sections = why_sections(page.text)
        # Only the stage whose clock runs; the stages not begun have nothing to explain yet.
        assert list(sections) == ["total", "acceptance"]
        total = await clerk.get(f"/applications/{number}/why")
        stage = await clerk.get(f"/applications/{number}/stages/acceptance/why")
        assert total.status_code == stage.status_code == 200, (total.text, stage.text)
        assert sections["total"] == total.json()["lines"]
        assert sections["acceptance"] == stage.json()["lines"]
        lines = "\n".join(sections["acceptance"])
        assert "起算：北京时间" in lines
        assert "当日不计入" in lines
        assert "目前暂停计时中" in lines
        assert "暂停计时：" in lines
        assert "工作日历：" in lines
        assert "依据" in sections["acceptance"][0]

    async def test_a_provisional_why_is_marked(self, intake, clerk, clock):
        clock.set("2026-12-30 10:00")
        created = await create(clerk)
        number, code = created["application"]["number"], created["query_code"]
        clock.set("2026-12-31 10:00")
        await complete(clerk, number, "acceptance")
        async with client_for(intake) as browser:
            page = await browser.post("/ui/progress", data={"number": number, "code": code})
        assert page.status_code == 200, page.text
        sections = why_sections(page.text)
        assert list(sections) == ["total", "acceptance", "supply_plan"]
        assert any(line.startswith("注意：") for line in sections["supply_plan"])
        assert "2027年：尚未公布" in sections["supply_plan"][-2]
        why = page.text.split('<div id="why">')[1]
        head = why.split('data-stage="supply_plan"')[1].split("</summary>")[0]
        assert '<span class="soon">（暂定）</span>' in head
        done = why.split('data-stage="acceptance"')[1].split("</summary>")[0]
        assert "（暂定）" not in done


async def connected(clerk) -> tuple[str, str]:
    """An application taken through to connection (已通电): its number and query code."""
    created = await create(
        clerk, site={"address": "东营区", "area_class": "central", **CONNECTION_POINT}
    )
    number, code = created["application"]["number"], created["query_code"]
    for name in ("acceptance", "supply_plan", "completion_inspection", "connection"):
        await complete_stage(clerk, number, name)
    return number, code


def rating_form(html: str) -> dict[str, str]:
    """The hidden fields of the page's rating form (评价表单)."""
    form = html.split('<form method="post" action="/ui/progress/rating"')[1].split("</form>")[0]
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', form))


def refresh_form(html: str) -> dict[str, str]:
    """The hidden fields of the page's refresh form (刷新)."""
    form = html.split('<form method="post" action="/ui/progress/refresh"')[1].split("</form>")[0]
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', form))


class TestLiveProgress:
    """The page's live part (实时进度): what changes, fetched by its ticket every few seconds
    (static/live.js), and the refresh form for a browser without JavaScript."""

    async def test_the_fragment_follows_the_stages(self, intake, clerk):
        created = await create(clerk)
        number, code = created["application"]["number"], created["query_code"]
        async with client_for(intake) as browser:
            page = await browser.post("/ui/progress", data={"number": number, "code": code})
            assert 'data-live="/ui/progress/refresh?part=live"' in page.text
            assert '<script src="/ui/static/live.js" defer></script>' in page.text
            fields = refresh_form(page.text)
            assert fields["number"] == number
            assert code not in fields["ticket"]
            live = await browser.post("/ui/progress/refresh?part=live", data=fields)
            assert live.status_code == 200, live.text
            assert "<html" not in live.text  # the part alone
            assert '<tr data-stage="acceptance">' in live.text
            assert "办理中" in live.text.split('data-stage="acceptance"')[1].split("</tr>")[0]
            await complete_stage(clerk, number, "acceptance")
            live = await browser.post("/ui/progress/refresh?part=live", data=fields)
            assert "已完成" in live.text.split('data-stage="acceptance"')[1].split("</tr>")[0]
            whole = await browser.post("/ui/progress/refresh", data=fields)
            assert whole.status_code == 200
            assert f"申请编号 <strong>{number}</strong>" in whole.text
            assert refresh_form(whole.text) == fields
            odd = await browser.post("/ui/progress/refresh?part=%E9%A1%B5x", data=fields)
            assert odd.status_code == 200  # an unknown part: the whole page, never JSON
            assert f"申请编号 <strong>{number}</strong>" in odd.text

    async def test_a_forged_ticket_gets_nothing(self, intake, clerk):
        created = await create(clerk)
        number = created["application"]["number"]
        async with client_for(intake) as browser:
            for data in ({"number": number, "ticket": "forged"}, {"number": "X", "ticket": ""}):
                live = await browser.post("/ui/progress/refresh?part=live", data=data)
                assert (live.status_code, live.text) == (403, "")
                whole = await browser.post("/ui/progress/refresh", data=data)
                assert whole.status_code == 403
                assert "申请编号 <strong>" not in whole.text
            # An unknown part is the whole page: refused as a page, never the API's JSON.
            wrong = await browser.post("/ui/progress/refresh?part=all", data=data)
            assert wrong.status_code == 403
            assert wrong.headers["content-type"].startswith("text/html")


class TestRatingForm:
    """服务线上评价 from the progress page: once connected, once, and only from that page."""

    async def test_once_connected_the_page_rates_once(self, intake, clerk):
        number, code = await connected(clerk)
        async with client_for(intake) as browser:
            page = await browser.post("/ui/progress", data={"number": number, "code": code})
            assert page.status_code == 200, page.text
            hidden = rating_form(page.text)
            assert hidden["number"] == number
            assert code not in page.text  # the form carries a ticket, not the query code
            assert 'name="score" value="5" required' in page.text
            rated = await browser.post(
                "/ui/progress/rating", data={**hidden, "score": "4", "comment": "办电很快"}
            )
            assert rated.status_code == 200, rated.text
            assert "感谢您的评价！" in rated.text
            assert "您的评价：<strong>4 星（满意）</strong>" in rated.text
            assert 'action="/ui/progress/rating"' not in rated.text
            again = await browser.post("/ui/progress/rating", data={**hidden, "score": "1"})
        assert again.status_code == 409
        assert "已评价" in again.text
        stored = (await clerk.get(f"/applications/{number}")).json()
        assert stored["rating"] == 4
        log = (await clerk.get(f"/applications/{number}/log")).json()
        assert [e["kind"] for e in log].count("rated") == 1
        assert (log[-1]["actor"], log[-1]["reason"]) == ("applicant", "办电很快")

    async def test_no_form_before_connection_and_a_post_is_refused(self, intake, clerk):
        created = await create(clerk)
        number, code = created["application"]["number"], created["query_code"]
        async with client_for(intake) as browser:
            page = await browser.post("/ui/progress", data={"number": number, "code": code})
            assert "rating-form" not in page.text
        assert (await clerk.get(f"/applications/{number}")).json()["rating"] is None

    @pytest.mark.parametrize(
        "forged",
        [
            {"csrf": "forged"},  # another site's form
            {"csrf": ""},
            {"number": "BZ20990101000001"},  # an unknown number: told apart from none
        ],
    )
    async def test_a_forged_form_is_refused_and_writes_nothing(self, intake, clerk, forged):
        number, code = await connected(clerk)
        async with client_for(intake) as browser:
            page = await browser.post("/ui/progress", data={"number": number, "code": code})
            hidden = rating_form(page.text)
            refused = await browser.post(
                "/ui/progress/rating", data={**hidden, "score": "5", **forged}
            )
        assert refused.status_code == 403
        assert "页面已过期，请刷新页面后重试。" in refused.text
        assert (await clerk.get(f"/applications/{number}")).json()["rating"] is None

    async def test_a_ticket_of_another_application_does_not_rate_this_one(self, intake, clerk):
        mine, my_code = await connected(clerk)
        other, _ = await connected(clerk)
        async with client_for(intake) as browser:
            page = await browser.post("/ui/progress", data={"number": mine, "code": my_code})
            ticket = rating_form(page.text)["csrf"]
            refused = await browser.post(
                "/ui/progress/rating", data={"number": other, "csrf": ticket, "score": "1"}
            )
        assert refused.status_code == 403
        assert (await clerk.get(f"/applications/{other}")).json()["rating"] is None

    @pytest.mark.parametrize("score", ["", "0", "6", "好"])
    async def test_a_score_out_of_range_is_a_422_page(self, intake, clerk, score):
        number, code = await connected(clerk)
        async with client_for(intake) as browser:
            page = await browser.post("/ui/progress", data={"number": number, "code": code})
            refused = await browser.post(
                "/ui/progress/rating", data={**rating_form(page.text), "score": score}
            )
        assert refused.status_code == 422
        assert "请选择满意程度（1至5星）" in refused.text
        assert "rating-form" in refused.text  # the form again, to choose
        assert (await clerk.get(f"/applications/{number}")).json()["rating"] is None
