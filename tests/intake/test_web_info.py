"""The public information pages (信息公开页面): no sign-in, each one the same facts as
``GET /public/disclosure`` and ``GET /public/capacity`` answer, linked from the progress page."""

from __future__ import annotations

import re
from html import unescape

import pytest

from tests.conftest import client_for

TOPICS = ["process", "limits", "documents", "fees"]


async def page(intake, path: str, **params: str):
    async with client_for(intake) as browser:
        return await browser.get(path, params=params)


async def disclosure(intake, jurisdiction: str = "dongying") -> dict:
    async with client_for(intake) as api:
        answer = await api.get("/public/disclosure", params={"jurisdiction": jurisdiction})
    assert answer.status_code == 200, answer.text
    return answer.json()


def section(html: str, customer_type: str) -> str:
    return html.split(f'data-customer-type="{customer_type}">')[1].split("</section>")[0]


class TestInformationPages:
    @pytest.mark.parametrize("topic", [*TOPICS, "capacity"])
    async def test_anyone_reads_them_without_signing_in(self, intake, topic):
        shown = await page(intake, f"/ui/info/{topic}")
        assert shown.status_code == 200, shown.text
        assert '<nav class="site"' not in shown.text  # nobody is signed in
        assert 'lang="zh-CN"' in shown.text
        # Every topic is one tap from every other, and from the progress page.
        for other in [*TOPICS, "capacity"]:
            assert f'href="/ui/info/{other}' in shown.text
        assert 'href="/ui/progress"' in shown.text

    async def test_the_progress_page_links_them(self, intake):
        form = await page(intake, "/ui/progress")
        for topic in [*TOPICS, "capacity"]:
            assert f'href="/ui/info/{topic}' in form.text

    async def test_the_index_lists_the_topics_and_jurisdictions(self, intake):
        index = await page(intake, "/ui/info")
        assert index.status_code == 200
        assert "东营市" in index.text
        assert 'href="/ui/info?jurisdiction=jingyu"' in index.text
        for topic in TOPICS:
            assert f'href="/ui/info/{topic}?jurisdiction=dongying"' in index.text

    async def test_the_process_has_the_stages_of_each_customer_type(self, intake):
        api = await disclosure(intake)
        shown = await page(intake, "/ui/info/process", jurisdiction="dongying")
        for process in api["processes"]:
            body = section(shown.text, process["customer_type"])
            assert f"{process['name']}：{process['stage_count']}个环节" in body
            assert re.findall(r'<li data-stage="(\w+)">', body) == [
                s["stage"] for s in process["stages"]
            ]
        assert "95598" in shown.text
        assert "12398" in shown.text

    async def test_the_limits_are_the_policy_in_force(self, intake):
        api = await disclosure(intake)
        shown = await page(intake, "/ui/info/limits", jurisdiction="dongying")
        for process in api["processes"]:
            body = section(shown.text, process["customer_type"])
            for stage in process["stages"]:
                row = body.split(f'data-stage="{stage["stage"]}">')[1].split("</tr>")[0]
                assert f"<td>{stage['limit_text']}</td>" in row
            assert f'data-total="{process["total_days"]}"' in body
        assert api["three_zero"] is not None
        table = shown.text.split('<table id="three-zero">')[1].split("</table>")[0]
        for limit in api["three_zero"]["limits"]:
            row = table.split(f'data-category="{limit["category"]}">')[1].split("</tr>")[0]
            assert re.findall(r'<td class="num">([^<]*)</td>', row) == [
                limit["urban_kw"],
                limit["rural_kw"],
            ]

    async def test_another_jurisdiction_shows_its_own_limits(self, intake):
        dongying = await page(intake, "/ui/info/limits", jurisdiction="dongying")
        jingyu = await page(intake, "/ui/info/limits", jurisdiction="jingyu")
        assert jingyu.status_code == 200, jingyu.text
        api = await disclosure(intake, "jingyu")
        heading = f'<p class="note">{api["jurisdiction_name"]} · 依据'
        assert heading in jingyu.text
        assert heading not in dongying.text
        # Its own stages' limits, not Dongying's.
        for process in api["processes"]:
            body = section(jingyu.text, process["customer_type"])
            assert f'data-total="{process["total_days"]}"' in body

    async def test_the_documents_of_each_stage(self, intake):
        api = await disclosure(intake)
        shown = await page(intake, "/ui/info/documents", jurisdiction="dongying")
        for process in api["processes"]:
            body = unescape(section(shown.text, process["customer_type"]))
            for stage in process["stages"]:
                for document in stage["documents"]:
                    assert document["name"] in body

    async def test_the_fees_with_their_legal_basis_and_the_banned_ones(self, intake):
        fees = (await disclosure(intake))["fees"]
        shown = await page(intake, "/ui/info/fees", jurisdiction="dongying")
        table = unescape(shown.text.split('<table id="statutory">')[1].split("</table>")[0])
        assert fees["statutory"]
        for fee in fees["statutory"]:
            row = table.split(f'data-code="{fee["code"]}">')[1].split("</tr>")[0]
            assert f"<td>{fee['name']}</td><td>{fee['basis']}</td>" in row
        banned = unescape(shown.text.split('<ul id="banned">')[1].split("</ul>")[0])
        assert re.findall(r"<li>([^<]*)</li>", banned) == fees["banned"]

    @pytest.mark.parametrize(
        ("path", "params"),
        [
            ("/ui/info/limits", {"jurisdiction": "atlantis"}),
            ("/ui/info/limits", {"jurisdiction": "x" * 500}),
            ("/ui/info", {"jurisdiction": "atlantis"}),
            ("/ui/info/nothing", {}),
        ],
    )
    async def test_an_unknown_page_or_jurisdiction_is_a_404_page(self, intake, path, params):
        shown = await page(intake, path, **params)
        assert shown.status_code == 404
        assert shown.headers["content-type"].startswith("text/html")
        assert 'role="alert"' in shown.text
        assert '?jurisdiction=dongying"' in shown.text  # where to go instead


class TestCapacityPage:
    async def test_nothing_kept_says_plainly_it_is_not_published(self, intake):
        shown = await page(intake, "/ui/info/capacity")
        assert shown.status_code == 200
        assert "配电网可开放容量信息尚未公布" in shown.text
        assert '<table id="capacity">' not in shown.text

    async def test_the_areas_staff_keep_are_shown(self, intake, clerk):
        added = await clerk.post(
            "/grid-areas",
            json={"unit": "国网东营供电公司", "name": "府前1号台区", "available_kva": "500"},
        )
        assert added.status_code == 201, added.text
        shown = await page(intake, "/ui/info/capacity")
        assert "尚未公布" not in shown.text
        row = shown.text.split('data-area="府前1号台区">')[1].split("</tr>")[0]
        assert "<td>国网东营供电公司</td>" in row
        assert '<td class="num">500' in row
