"""One error catalogue (错误码目录): each code has one status and a Chinese message, every raise
site is in it, and OpenAPI lists what each operation can answer."""

import json
import re
from collections import defaultdict

import parse
import pytest

from shared.errors import (
    ROUTE_ERRORS_FILE,
    Conflict,
    NotFound,
    catalogue,
    chinese_detail,
    validation_message,
)
from tests.conftest import client_for
from tests.shared.error_scan import route_errors, scan

SCAN = scan()
CJK = re.compile(r"[\u4e00-\u9fff]")


def test_the_scan_finds_the_raise_sites():
    assert len(SCAN.sites) > 200
    assert len({site.code for site in SCAN.sites}) > 150
    assert all(site.code is not None for site in SCAN.sites)


def test_each_code_has_exactly_one_status():
    statuses: dict[str | None, set[int | None]] = defaultdict(set)
    for site in SCAN.sites:
        statuses[site.code].add(site.status)
    several = {code: found for code, found in statuses.items() if len(found) != 1}
    assert several == {}


@pytest.mark.parametrize("site", SCAN.sites, ids=lambda s: f"{s.module}:{s.line}:{s.code}")
def test_each_raise_site_is_catalogued(site):
    entry = catalogue().get(site.code or "")
    assert entry is not None, f"{site.code} has no entry in shared/error_codes.json"
    assert entry["status"] == site.status, f"{site.code} is catalogued as {entry['status']}"
    assert CJK.search(entry["title"])
    assert CJK.search(entry["message"])
    if site.pattern is not None:
        assert site.pattern in entry["patterns"], f"add {site.pattern!r} to {site.code}"
        template = entry["patterns"][site.pattern]
        assert CJK.search(template)
        fields = len(parse.compile(site.pattern).parse(site.pattern.replace("{}", "X")).fixed)
        filled = template.format(*[f"<{i}>" for i in range(fields)])
        # every value of the English reaches the Chinese
        assert all(f"<{i}>" in filled for i in range(fields)), template


def test_route_errors_is_up_to_date():
    stored = json.loads(ROUTE_ERRORS_FILE.read_text(encoding="utf-8"))
    assert stored == route_errors(SCAN), (
        "regenerate: python -m tests.shared.error_scan > shared/route_errors.json"
    )


def test_detail_is_chinese_with_the_same_facts():
    error = Conflict(
        "预约 is completed; a stage is never run again (不得重走流程)",
        code="stage_already_completed",
    )
    assert error.detail == "预约 已完成，环节不得重走（不得重走流程）"
    assert error.english.startswith("预约 is completed")
    assert error.title == "冲突"


def test_the_status_follows_the_code():
    # raised through the wrong class, the code still answers with its catalogued status
    assert NotFound("year 3000 is out of range", code="bad_year").status == 422
    assert NotFound("x", code="bad_year").problem().detail == "年份 … 超出范围：x"


def test_an_unparsed_detail_keeps_its_facts():
    message = catalogue()["header_not_found"]["message"]
    assert chinese_detail("header_not_found", "row 3 lacks x") == f"{message}：row 3 lacks x"
    assert chinese_detail("header_not_found", "缺少列 x") == "缺少列 x"
    assert chinese_detail("header_not_found", "") == message


def test_validation_messages_are_chinese():
    assert validation_message("greater_than_equal", {"ge": 1}, "Input should be >= 1") == (
        "应大于或等于 1"
    )
    assert validation_message("missing", None, "Field required") == "缺少必填字段"
    assert validation_message("value_error", None, "Value error, 号码无效") == "号码无效"
    assert CJK.search(validation_message("something_new", None, "?"))


async def test_validation_error_keeps_the_field(apps):
    async with client_for(apps.intake) as client:
        response = await client.get("/calendar/years/abc")
    assert response.status_code in (401, 422)
    if response.status_code == 422:
        body = response.json()
        assert body["title"] == "校验失败"
        assert body["errors"][0]["field"] == "year"
        assert CJK.search(body["errors"][0]["message"])


async def test_not_found_is_chinese(apps):
    async with client_for(apps.ledger) as client:
        body = (await client.get("/no/such/thing")).json()
    assert body["code"] == "not_found"
    assert body["detail"] == "请求的资源不存在"


@pytest.mark.parametrize("service", ["intake", "ledger", "notify"])
async def test_openapi_lists_the_codes_of_each_operation(apps, service):
    async with client_for(apps.app(service)) as client:
        spec = (await client.get("/openapi.json")).json()
    documented = [
        (status, response["description"])
        for path in spec["paths"].values()
        for operation in path.values()
        for status, response in operation["responses"].items()
        if "`" in response.get("description", "")
    ]
    assert len(documented) > 20
    for status, description in documented:
        for code in re.findall(r"`([a-z0-9_]+)`", description):
            assert str(catalogue()[code]["status"]) == status


@pytest.mark.parametrize(
    ("english", "chinese"),
    [
        ("too many sign-in attempts from this address; wait", "该地址登录尝试次数过多，请稍后再试"),
        ("too many wrong query codes; wait before trying again", "查询码错误次数过多，请稍后再试"),
    ],
)
def test_rate_limits_through_refuse_are_chinese(english, chinese):
    # shared.ratelimit.refuse(limit, now, detail) hands the detail on: the scan sees no class
    assert chinese_detail("rate_limited", english) == chinese
