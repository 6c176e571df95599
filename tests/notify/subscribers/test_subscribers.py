import io
from datetime import datetime

import pytest
from openpyxl import Workbook

from services.notify.subscribers import importing
from shared.auth import Role
from shared.outbound import OutboundPolicy
from shared.timeutil import beijing_date
from tests.conftest import FROZEN_AT, add_user, client_for, sign_in
from tests.shared.test_outbound import resolver

CUSTOMER = {
    "account_number": "0531000001",
    "name": "张三",
    "mobile": "138 1234 5678",
    "email": "zhang@example.cn",
    "feeder": "10kV东城线",
    "transformer_area": "东城1号台区",
    "area_class": "urban",
}


@pytest.fixture
async def dispatcher(apps):
    await add_user(apps, "diaodu", Role.dispatcher)
    async with client_for(apps.notify, await sign_in(apps, "diaodu")) as client:
        yield client


class TestCrud:
    async def test_create_read_change_delete(self, dispatcher):
        created = await dispatcher.post("/subscribers", json=CUSTOMER)
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["mobile"] == "13812345678"
        assert body["opt_outs"] == []
        assert body["source"] == "api"
        sid = body["id"]

        changed = await dispatcher.patch(
            f"/subscribers/{sid}", json={"feeder": "10kV西城线", "email": None}
        )
        assert changed.status_code == 200, changed.text
        assert (changed.json()["feeder"], changed.json()["email"]) == ("10kV西城线", None)

        found = await dispatcher.get("/subscribers", params={"feeder": "10kV西城线"})
        assert [s["id"] for s in found.json()["items"]] == [sid]
        assert (await dispatcher.get("/subscribers", params={"q": "张"})).json()["total"] == 1

        assert (await dispatcher.delete(f"/subscribers/{sid}")).status_code == 204
        assert (await dispatcher.get(f"/subscribers/{sid}")).status_code == 404

    async def test_account_numbers_are_unique(self, dispatcher):
        await dispatcher.post("/subscribers", json=CUSTOMER)
        again = await dispatcher.post("/subscribers", json=CUSTOMER)
        assert again.status_code == 409
        assert again.json()["code"] == "subscriber_exists"

    async def test_codes_in_and_labels_beside_them_out(self, dispatcher):
        labelled = await dispatcher.post("/subscribers", json={**CUSTOMER, "area_class": "市区"})
        assert labelled.status_code == 422
        assert [e["field"] for e in labelled.json()["errors"]] == ["area_class"]
        created = await dispatcher.post(
            "/subscribers", json={**CUSTOMER, "mobile": "+86 138-0013-8000"}
        )
        body = created.json()
        assert (body["area_class"], body["area_class_label"]) == ("urban", "市区")
        assert body["mobile"] == "13800138000"

    async def test_a_mobile_is_refused_as_intake_refuses_it(self, dispatcher):
        refused = await dispatcher.post("/subscribers", json={**CUSTOMER, "mobile": "12345678901"})
        assert refused.status_code == 422
        assert [(e["field"], e["code"], e["message"]) for e in refused.json()["errors"]] == [
            ("mobile", "invalid_mobile", "手机号码应为以13-19开头的11位数字")
        ]

    async def test_bad_input_names_the_fields(self, dispatcher):
        bad = {**CUSTOMER, "mobile": "12345", "area_class": "郊区"}
        refused = await dispatcher.post("/subscribers", json=bad)
        assert refused.status_code == 422
        assert {e["field"] for e in refused.json()["errors"]} == {"mobile", "area_class"}
        unreachable = {k: v for k, v in CUSTOMER.items() if k not in ("mobile", "email")}
        assert (await dispatcher.post("/subscribers", json=unreachable)).status_code == 422
        created = (await dispatcher.post("/subscribers", json=CUSTOMER)).json()
        emptied = await dispatcher.patch(
            f"/subscribers/{created['id']}", json={"mobile": None, "email": None}
        )
        assert emptied.status_code == 422

    async def test_preferences(self, dispatcher):
        sid = (await dispatcher.post("/subscribers", json=CUSTOMER)).json()["id"]
        put = await dispatcher.put(
            f"/subscribers/{sid}/preferences",
            json={"opt_outs": ["outage.progress", "outage.etr_changed", "outage.progress"]},
        )
        assert put.json()["opt_outs"] == ["outage.etr_changed", "outage.progress"]
        unknown = await dispatcher.put(
            f"/subscribers/{sid}/preferences", json={"opt_outs": ["marketing"]}
        )
        assert unknown.status_code == 422
        assert unknown.json()["code"] == "unknown_message_type"

    async def test_customers_and_clerks_may_not(self, apps):
        await add_user(apps, "clerk1", Role.clerk)
        async with client_for(apps.notify, await sign_in(apps, "clerk1")) as clerk:
            refused = await clerk.get("/subscribers")
        assert refused.status_code == 403
        assert refused.json()["code"] == "dispatcher_required"


@pytest.fixture
def strict(apps):
    """notify with the default policy (no allow-list) and a resolver that asks no DNS server."""
    kept = apps.notify.state.outbound
    apps.notify.state.outbound = OutboundPolicy(
        resolver=resolver({"qyapi.weixin.qq.com": ["101.226.4.6"], "localhost": ["127.0.0.1"]})
    )
    yield apps.notify.state.outbound
    apps.notify.state.outbound = kept


class TestWebhookUrls:
    @pytest.mark.parametrize(
        "url",
        [
            "http://127.0.0.1:8102/users",
            "http://10.0.0.1/hook",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]:8103/messages",
            "http://[::ffff:127.0.0.1]/",
            "http://localhost:8101/portal/clients",
        ],
    )
    @pytest.mark.parametrize("field", ["wecom_webhook", "dingtalk_webhook", "app_webhook"])
    async def test_internal_ones_are_refused(self, dispatcher, strict, field, url):
        refused = await dispatcher.post("/subscribers", json={**CUSTOMER, field: url})
        assert refused.status_code == 422
        problem = refused.json()
        assert problem["code"] == "url_not_allowed"
        assert [e["field"] for e in problem["errors"]] == [field]

    async def test_a_change_to_an_internal_one_is_refused(self, dispatcher, strict):
        robot = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=K"
        sid = await dispatcher.post("/subscribers", json={**CUSTOMER, "wecom_webhook": robot})
        assert sid.status_code == 201, sid.text
        changed = await dispatcher.patch(
            f"/subscribers/{sid.json()['id']}", json={"wecom_webhook": "http://127.0.0.1:8103/"}
        )
        assert changed.status_code == 422
        assert changed.json()["code"] == "url_not_allowed"

    async def test_the_allow_list_lets_local_ones_through(self, dispatcher):
        # The suite's settings allow 127.0.0.1 (HUODIAN_OUTBOUND_ALLOW), for its local sinks.
        url = "http://127.0.0.1:9/push"
        created = await dispatcher.post("/subscribers", json={**CUSTOMER, "app_webhook": url})
        assert created.status_code == 201, created.text
        assert created.json()["app_webhook"] == url

    async def test_an_import_reports_them_as_row_errors(self, dispatcher, strict):
        lines = [
            "户号,户名,手机,线路,台区,区域类别,回调地址",
            "A1,甲,13812340001,线1,台区1,城镇,http://10.0.0.1/hook",
            "A2,乙,13812340002,线1,台区1,城镇,https://qyapi.weixin.qq.com/x",
        ]
        job = await run(dispatcher, "hooks.csv", ("\n".join(lines) + "\n").encode())
        assert (job["state"], job["rows_imported"], job["rows_failed"]) == ("done", 1, 1)
        assert [(e["row"], e["field"]) for e in job["errors"]] == [(2, "app_webhook")]


def csv_file(rows: int, *, bad_every: int = 0, encoding: str = "utf-8") -> bytes:
    lines = ["户号,户名,手机,邮箱,线路,台区,区域类别"]
    for i in range(rows):
        mobile = "1381234" + f"{i % 10000:04d}"
        area = "农村" if i % 2 else "城镇"
        if bad_every and i % bad_every == 0:
            mobile = "12"
        lines.append(f"A{i:07d},客户{i},{mobile},,10kV线{i % 7},台区{i % 50},{area}")
    return ("\n".join(lines) + "\n").encode(encoding)


async def run(dispatcher, name: str, content: bytes) -> dict:
    posted = await dispatcher.post("/subscribers/imports", files={"file": (name, content)})
    assert posted.status_code == 202, posted.text
    # ASGITransport returns once background tasks are done; a real server answers at once.
    progress = await dispatcher.get(f"/subscribers/imports/{posted.json()['id']}")
    result: dict = progress.json()
    return result


class TestImport:
    async def test_csv_in_batches_with_row_errors(self, dispatcher):
        job = await run(dispatcher, "customers.csv", csv_file(2500, bad_every=1000))
        assert job["state"] == "done", job
        assert (job["rows_read"], job["rows_imported"], job["rows_failed"]) == (2500, 2497, 3)
        assert job["errors"] == [
            {"row": 2, "field": "mobile", "message": pytest.approx(job["errors"][0]["message"])},
            {"row": 1002, "field": "mobile", "message": job["errors"][1]["message"]},
            {"row": 2002, "field": "mobile", "message": job["errors"][2]["message"]},
        ]
        assert "手机号码" in job["errors"][0]["message"]
        rural = await dispatcher.get("/subscribers", params={"area_class": "rural", "limit": 1})
        assert rural.json()["total"] == 1250

    async def test_gb18030_csv_from_excel(self, dispatcher):
        job = await run(dispatcher, "excel.csv", csv_file(3, encoding="gb18030"))
        assert (job["state"], job["rows_imported"]) == ("done", 3)
        found = (await dispatcher.get("/subscribers", params={"q": "客户2"})).json()
        assert found["items"][0]["transformer_area"] == "台区2"

    async def test_xlsx_with_numeric_cells_and_reimport_updates(self, dispatcher):
        book = Workbook()
        sheet = book.active
        sheet.append(
            ["account_number", "name", "mobile", "feeder", "transformer_area", "area_class"]
        )
        sheet.append([531001, "甲", 13812345678, "10kV东城线", "T1", "中心区"])
        sheet.append([531002, "乙", None, "10kV东城线", "T1", "中心区"])  # no contact point
        sheet.append([None, None, None, None, None, None])
        buffer = io.BytesIO()
        book.save(buffer)
        job = await run(dispatcher, "list.xlsx", buffer.getvalue())
        assert (job["rows_read"], job["rows_imported"], job["rows_failed"]) == (2, 1, 1)
        assert job["errors"][0]["row"] == 3
        (first,) = (await dispatcher.get("/subscribers")).json()["items"]
        assert (first["account_number"], first["mobile"]) == ("531001", "13812345678")

        again = await run(
            dispatcher,
            "fix.csv",
            "户号,户名,手机,线路,台区,区域类别\n531001,甲,13900000000,10kV西城线,T2,中心区\n".encode(),
        )
        assert again["rows_imported"] == 1
        (updated,) = (await dispatcher.get("/subscribers")).json()["items"]
        assert (updated["id"], updated["feeder"]) == (first["id"], "10kV西城线")

    async def test_connection_dates_from_xlsx_date_cells_and_csv_text(self, dispatcher):
        book = Workbook()
        sheet = book.active
        sheet.append(["户号", "户名", "手机", "线路", "台区", "区域类别", "接电日期"])
        sheet.append(["D1", "甲", "13812345678", "F", "T", "城镇", datetime(2019, 6, 30)])
        sheet.append(["D2", "乙", "13812345678", "F", "T", "城镇", None])  # today
        sheet.append(["D3", "丙", "13812345678", "F", "T", "城镇", "去年"])
        buffer = io.BytesIO()
        book.save(buffer)
        job = await run(dispatcher, "dated.xlsx", buffer.getvalue())
        assert (job["rows_imported"], job["rows_failed"]) == (2, 1)
        assert (job["errors"][0]["row"], job["errors"][0]["field"]) == (4, "served_since")
        listed = (await dispatcher.get("/subscribers")).json()["items"]
        since = {s["account_number"]: s["served_since"] for s in listed}
        assert since == {"D1": "2019-06-30", "D2": beijing_date(FROZEN_AT).isoformat()}

        csv = "户号,户名,手机,线路,台区,区域类别,通电日期\nD2,乙,13812345678,F,T,城镇,2020-02-29\n"
        assert (await run(dispatcher, "dated.csv", csv.encode()))["rows_imported"] == 1
        listed = (await dispatcher.get("/subscribers", params={"q": "D2"})).json()
        assert listed["items"][0]["served_since"] == "2020-02-29"

    async def test_a_failing_batch_leaves_whole_batches_only(self, dispatcher, monkeypatch):
        real = importing.upsert
        calls = 0

        async def fail_second(*args, **kwargs):
            nonlocal calls
            calls += 1
            if calls == 2:
                raise RuntimeError("database went away")
            return await real(*args, **kwargs)

        monkeypatch.setattr(importing, "upsert", fail_second)
        job = await run(dispatcher, "big.csv", csv_file(2500))
        assert job["state"] == "failed"
        assert "database went away" in job["error"]
        assert (job["rows_read"], job["rows_imported"]) == (1000, 1000)
        assert (await dispatcher.get("/subscribers", params={"limit": 1})).json()["total"] == 1000

    async def test_files_refused_up_front(self, dispatcher):
        wrong = await dispatcher.post("/subscribers/imports", files={"file": ("a.txt", b"x")})
        assert wrong.json()["code"] == "unsupported_file_type"
        header = await dispatcher.post(
            "/subscribers/imports", files={"file": ("a.csv", "户号,户名\n1,甲\n".encode())}
        )
        assert header.status_code == 422
        assert header.json()["code"] == "import_columns_missing"
        assert "feeder (线路)" in header.json()["detail"]
        empty = await dispatcher.post("/subscribers/imports", files={"file": ("a.csv", b"")})
        assert empty.json()["code"] == "import_empty"
