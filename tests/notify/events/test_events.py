from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest

from services.notify.events.models import ReceivedEvent
from services.notify.messages.models import Message
from shared.auth import Role
from shared.db import session_scope
from shared.events import seal_query_code
from tests.conftest import add_user, service_client

STAGE = {
    "application_number": "DY2025030001",
    "stage": "供电方案答复",
    "unit": "各供电企业",
    "customer_type": "low_voltage",
    "due_date": "2025-03-10",
    "clerk": "li.clerk",
    "supervising_unit": "各电力主管部门",
}
CONNECTED = {
    "application_number": "DY2025030002",
    "name": "东营某超市",
    "mobile": "13812345678",
    "feeder": "10kV东城线",
    "transformer_area": "东城1号台区",
    "area_class": "urban",
}


def event(type_: str, data: dict, id_=None) -> dict:
    return {
        "id": str(id_ or uuid4()),
        "type": type_,
        "source": "intake",
        "occurred_at": datetime(2025, 3, 4, 2, 0, tzinfo=UTC).isoformat(),
        "subject": data["application_number"],
        "data": data,
    }


@pytest.fixture
async def intake(apps, settings):
    async with service_client(apps, settings, "notify", "intake") as client:
        yield client


class TestExactlyOnce:
    async def test_a_repeat_is_a_duplicate_and_changes_nothing(self, intake, notify_admin):
        sent = event("intake.application.connected", CONNECTED)
        first = await intake.post("/events", json=sent)
        assert first.status_code == 200, first.text
        assert first.json()["duplicate"] is False
        again = await intake.post("/events", json=sent)
        assert again.status_code == 200
        assert again.json()["duplicate"] is True
        assert again.json()["received_at"] == first.json()["received_at"]
        listed = (await notify_admin.get("/subscribers")).json()
        assert listed["total"] == 1

    async def test_only_the_intake_service_may_post(self, apps, settings, notify_admin):
        async with service_client(apps, settings, "notify", "ledger") as ledger:
            refused = await ledger.post("/events", json=event("intake.stage.overdue", STAGE))
        assert refused.status_code == 403
        user = await notify_admin.post("/events", json=event("intake.stage.overdue", STAGE))
        assert user.status_code == 403

    async def test_unknown_types_and_bad_data_are_refused_unrecorded(self, intake):
        unknown = await intake.post("/events", json=event("intake.stage.started", STAGE))
        assert unknown.status_code == 422
        assert unknown.json()["code"] == "unknown_event_type"
        bad = event("intake.stage.overdue", {**STAGE, "due_date": "soon"})
        refused = await intake.post("/events", json=bad)
        assert refused.status_code == 422
        assert refused.json()["code"] == "event_data_invalid"
        assert refused.json()["errors"][0]["field"] == "data.due_date"
        # Not recorded: the same id is handled once the data is right.
        bad["data"] = STAGE
        assert (await intake.post("/events", json=bad)).json()["duplicate"] is False


class TestWarnings:
    async def test_clerk_and_supervisors_are_told(self, apps, seeded, intake, notify_admin):
        await add_user(apps, "li.clerk", Role.clerk, email="li@example.cn")
        await add_user(apps, "zhao", Role.supervisor, ["各电力主管部门"], "zhao@example.cn")
        await add_user(apps, "qian", Role.supervisor, ["各电力主管部门"], "qian@example.cn")
        await add_user(apps, "sun", Role.supervisor, ["各供电企业"], "sun@example.cn")

        posted = await intake.post("/events", json=event("intake.stage.overdue", STAGE))
        assert posted.status_code == 200, posted.text

        queued = (await notify_admin.get("/messages", params={"kind": "intake.overdue"})).json()
        by_recipient = {m["recipient"]: m for m in queued["items"]}
        assert set(by_recipient) == {"li@example.cn", "zhao@example.cn", "qian@example.cn"}
        assert {m["state"] for m in queued["items"]} == {"queued"}
        clerk = by_recipient["li@example.cn"]
        assert clerk["subject"] == "【超时告警】报装DY2025030001「供电方案答复」已超过时限"
        assert "请立即办理" in clerk["body"]
        assert "客户类型：未实行“三零”服务的低压非居民用户" in clerk["body"]  # the code's label
        assert "请督促责任单位" in by_recipient["zhao@example.cn"]["body"]
        assert clerk["window"] == "working_hours"

    async def test_a_customer_type_label_is_refused(self, intake):
        labelled = {**STAGE, "customer_type": "低压非居民"}
        refused = await intake.post("/events", json=event("intake.stage.overdue", labelled))
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["field"] == "data.customer_type"

    async def test_nobody_to_tell_is_a_visible_error(self, apps, seeded, intake, notify_admin):
        await add_user(apps, "li.clerk", Role.clerk)  # no email
        escalated = event("intake.escalation.opened", STAGE)
        assert (await intake.post("/events", json=escalated)).status_code == 200
        dead = (await notify_admin.get("/messages/dead")).json()["items"]
        assert {(m["recipient"], m["last_error"]) for m in dead} == {
            ("user:li.clerk", "clerk 'li.clerk' has no email"),
            (
                "unit:各电力主管部门",
                "no active supervisor with an email is bound to unit '各电力主管部门'",
            ),
        }
        assert all(m["kind"] == "intake.escalation" for m in dead)

    async def test_a_supervising_unit_with_nobody_goes_up(self, apps, seeded, intake, notify_admin):
        # 东营区发展改革局 has no supervisor; its group's group 各电力主管部门 has (the nearer
        # 各县区发展改革局 has none). A supervisor of the county bureau beside it is not asked.
        await add_user(apps, "li.clerk", Role.clerk, email="li@example.cn")
        await add_user(apps, "zhao", Role.supervisor, ["各电力主管部门"], "zhao@example.cn")
        await add_user(apps, "gr", Role.supervisor, ["广饶县发展改革局"], "gr@example.cn")
        data = {**STAGE, "supervising_unit": "东营区发展改革局"}
        posted = await intake.post("/events", json=event("intake.stage.overdue", data))
        assert posted.status_code == 200, posted.text
        queued = (await notify_admin.get("/messages", params={"kind": "intake.overdue"})).json()
        by_recipient = {m["recipient"]: m for m in queued["items"]}
        assert set(by_recipient) == {"li@example.cn", "zhao@example.cn"}
        assert (
            "（东营区发展改革局无人可通知，转其上级单位各电力主管部门）"
            in (by_recipient["zhao@example.cn"]["body"])
        )
        assert "无人可通知" not in by_recipient["li@example.cn"]["body"]
        assert (await notify_admin.get("/messages/dead")).json()["items"] == []

    async def test_a_ledger_outage_is_answered_502_so_intake_retries(
        self, apps, intake, notify_admin, monkeypatch
    ):
        from shared.errors import UpstreamUnavailable

        async def down(*_args, **_kwargs):
            raise UpstreamUnavailable("ledger could not be reached")

        monkeypatch.setattr(apps.notify.state.client, "get_json", down)
        sent = event("intake.stage.at_risk", STAGE)
        assert (await intake.post("/events", json=sent)).status_code == 502
        monkeypatch.undo()
        retried = await intake.post("/events", json=sent)
        assert retried.json()["duplicate"] is False


class TestConnected:
    async def test_the_customer_becomes_a_subscriber(self, intake, notify_admin):
        await intake.post("/events", json=event("intake.application.connected", CONNECTED))
        (subscriber,) = (await notify_admin.get("/subscribers")).json()["items"]
        assert subscriber["account_number"] == "DY2025030002"
        assert subscriber["source"] == "intake"
        assert (subscriber["area_class"], subscriber["area_class_label"]) == ("urban", "市区")
        assert subscriber["mobile"] == "13812345678"

    async def test_an_unknown_area_class_is_refused(self, intake):
        bad = event("intake.application.connected", {**CONNECTED, "area_class": "郊区"})
        refused = await intake.post("/events", json=bad)
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["field"] == "data.area_class"


DUE_CHANGED = {
    "application_number": "DY2026100800001",
    "unit": "国网东营供电公司",
    "clerk": "li.clerk",
    "customer_type": "hv10_single",
    "applicant_name": "东营市某某化工有限公司",
    "mobile": "13800138000",
    "email": "contact@example.cn",
    "stage": "业务受理",
    "stage_code": "acceptance",
    "basis": "stage",
    "old_due": "2026-10-09",
    "new_due": "2026-10-12",
    "old_due_text": "2026年10月9日",
    "new_due_text": "2026年10月12日",
    "provisional": False,
    "calendar_year": 2026,
    "calendar_source": "国办发明电〔2025〕7号（更正）",
    "cleared": ["超期", "督办"],
}


class TestDueChanged:
    async def test_clerk_unit_heads_and_applicant_are_told_once(
        self, apps, seeded, intake, notify_admin
    ):
        await add_user(apps, "li.clerk", Role.clerk, ["国网东营供电公司"], "li@example.cn")
        await add_user(apps, "he.head", Role.dept_head, ["国网东营供电公司"], "he@example.cn")
        sent = event("intake.application.due_changed", DUE_CHANGED)
        assert (await intake.post("/events", json=sent)).json()["duplicate"] is False
        assert (await intake.post("/events", json=sent)).json()["duplicate"] is True

        listed = (await notify_admin.get("/messages", params={"kind": "intake.due_changed"})).json()
        by_recipient = {(m["recipient"], m["channel"]): m for m in listed["items"]}
        assert set(by_recipient) == {
            ("li@example.cn", "email"),
            ("he@example.cn", "email"),
            ("13800138000", "sms"),
            ("contact@example.cn", "email"),
        }
        clerk = by_recipient[("li@example.cn", "email")]
        assert (
            clerk["subject"] == "【时限调整】报装DY2026100800001「业务受理」时限改为2026年10月12日"
        )
        assert "原时限：2026年10月9日" in clerk["body"]
        assert "客户类型：10千伏单电源用户" in clerk["body"]
        assert "已撤销不再适用的：超期、督办。" in clerk["body"]
        assert clerk["window"] == "working_hours"
        assert "请掌握本单位" in by_recipient[("he@example.cn", "email")]["body"]
        sms = by_recipient[("13800138000", "sms")]
        assert sms["body"] == (
            "【办电时限调整】因节假日安排调整，您的报装DY2026100800001「业务受理」时限由"
            "2026年10月9日调整为2026年10月12日。"
        )
        assert sms["window"] == "waking_hours"
        applicant = by_recipient[("contact@example.cn", "email")]
        assert applicant["body"].startswith("东营市某某化工有限公司：")

    async def test_a_unit_without_heads_is_a_visible_error(
        self, apps, seeded, intake, notify_admin
    ):
        await add_user(apps, "li.clerk", Role.clerk, ["国网东营供电公司"], "li@example.cn")
        data = {**DUE_CHANGED, "email": None, "mobile": None}
        assert (
            await intake.post("/events", json=event("intake.application.due_changed", data))
        ).status_code == 200
        dead = (await notify_admin.get("/messages/dead")).json()["items"]
        assert [(m["recipient"], m["last_error"]) for m in dead] == [
            (
                "unit:国网东营供电公司",
                "no active dept_head with an email is bound to unit '国网东营供电公司'",
            )
        ]

    async def test_a_county_company_without_heads_goes_up(self, apps, seeded, intake, notify_admin):
        await add_user(apps, "li.clerk", Role.clerk, ["国网广饶县供电公司"], "li@example.cn")
        await add_user(apps, "he", Role.dept_head, ["国网东营供电公司"], "he@example.cn")
        await add_user(apps, "top", Role.dept_head, ["各供电企业"], "top@example.cn")
        data = {**DUE_CHANGED, "unit": "国网广饶县供电公司", "email": None, "mobile": None}
        assert (
            await intake.post("/events", json=event("intake.application.due_changed", data))
        ).status_code == 200
        listed = (await notify_admin.get("/messages", params={"kind": "intake.due_changed"})).json()
        by_recipient = {m["recipient"]: m for m in listed["items"]}
        # The nearest ancestor with a head: the city company, not the group above it.
        assert set(by_recipient) == {"li@example.cn", "he@example.cn"}
        assert (
            "（国网广饶县供电公司无人可通知，转其上级单位国网东营供电公司）"
            in (by_recipient["he@example.cn"]["body"])
        )
        assert (await notify_admin.get("/messages/dead")).json()["items"] == []

    async def test_bad_dates_are_refused(self, intake):
        bad = event("intake.application.due_changed", {**DUE_CHANGED, "new_due": "later"})
        refused = await intake.post("/events", json=bad)
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["field"] == "data.new_due"


def receipt(settings, **changes) -> dict:
    data = {
        "application_number": "BZ20250304000007",
        "unit": "国网东营供电公司",
        "customer_type": "residential",
        "channel": "portal",
        "applicant_name": "张三",
        "mobile": "13800138000",
        "accepted_on_text": "2025年3月4日",
        "staged": True,
        "stage": "业务受理",
        "due_date": "2025-03-05",
        "due_text": "2025年3月5日",
        "due_provisional": False,
        "query_code_sealed": seal_query_code(settings.keyring(), "BZ20250304000007", "K7QW2MZP"),
        "clerks_told_apart": True,  # as intake sends it: the clerks by intake.portal.submitted
    }
    return {**data, **changes}


class TestReceived:
    async def test_the_applicant_is_texted_once_with_number_code_and_due_date(
        self, intake, settings, notify_admin, apps
    ):
        sent = event("intake.application.received", receipt(settings))
        assert (await intake.post("/events", json=sent)).json()["duplicate"] is False
        assert (await intake.post("/events", json=sent)).json()["duplicate"] is True

        listed = (await notify_admin.get("/messages", params={"kind": "intake.received"})).json()
        (sms,) = listed["items"]
        assert (sms["channel"], sms["recipient"], sms["window"]) == (
            "sms",
            "13800138000",
            "waking_hours",
        )
        assert sms["dedup_key"] == f"event:{sent['id']}:13800138000:sms"
        assert sms["body"] == (
            "【受理回执】您的用电报装申请已于2025年3月4日受理，申请编号BZ20250304000007，"
            "查询码********（凭申请编号和查询码查询办理进度，请妥善保管）。"
            "当前环节「业务受理」应于2025年3月5日前办结。受理单位：国网东营供电公司。"
        )
        # An administrator sees the code masked (shared.masking); the worker sends it whole.
        # What notify keeps of the event itself holds it only sealed.
        async with session_scope(apps.notify.state.engine) as session:
            row = await session.get(Message, sms["id"])
            kept = await session.get(ReceivedEvent, UUID(sent["id"]))
        assert row is not None
        assert "，查询码K7QW2MZP（凭申请编号" in row.body
        assert kept is not None
        assert "K7QW2MZP" not in kept.outcome

    async def test_a_provisional_total_deadline_is_marked_as_a_forecast(
        self, intake, settings, notify_admin
    ):
        data = receipt(settings, staged=False, stage=None, due_provisional=True)
        assert (
            await intake.post("/events", json=event("intake.application.received", data))
        ).status_code == 200
        (sms,) = (await notify_admin.get("/messages", params={"kind": "intake.received"})).json()[
            "items"
        ]
        assert (
            "全流程应于2025年3月5日前办结（预测：该年度节假日安排尚未公布，以公布后为准）。"
            in sms["body"]
        )

    async def test_a_code_sealed_for_another_application_is_left_out(
        self, intake, settings, notify_admin
    ):
        other = seal_query_code(settings.keyring(), "BZ20250304000008", "K7QW2MZP")
        data = receipt(settings, query_code_sealed=other)
        assert (
            await intake.post("/events", json=event("intake.application.received", data))
        ).status_code == 200
        (sms,) = (await notify_admin.get("/messages", params={"kind": "intake.received"})).json()[
            "items"
        ]
        assert "查询码" not in sms["body"]
        assert "申请编号BZ20250304000007。当前环节" in sms["body"]

    async def test_no_mobile_no_message_and_a_bad_mobile_is_refused(
        self, intake, settings, notify_admin
    ):
        quiet = event("intake.application.received", receipt(settings, mobile=None))
        answered = await intake.post("/events", json=quiet)
        assert answered.status_code == 200
        listed = await notify_admin.get("/messages", params={"kind": "intake.received"})
        assert listed.json()["total"] == 0
        bad = event("intake.application.received", receipt(settings, mobile="12345"))
        refused = await intake.post("/events", json=bad)
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["field"] == "data.mobile"


def submitted(settings, **changes) -> dict:
    """``data`` of intake.portal.submitted: the receipt's, without the applicant."""
    data = receipt(settings, **changes)
    for applicant_field in ("applicant_name", "mobile", "query_code_sealed", "clerks_told_apart"):
        del data[applicant_field]
    return data


async def portal_notices(intake, notify_admin, data: dict) -> list[dict]:
    """Post a portal submission event; the clerks' notices it queued."""
    posted = await intake.post("/events", json=event("intake.portal.submitted", data))
    assert posted.status_code == 200, posted.text
    listed = await notify_admin.get("/messages", params={"kind": "intake.portal_submitted"})
    return listed.json()["items"]


class TestPortalSubmitted:
    """A portal application tells the accepting unit's clerks (新的网上申请待受理), by an event of
    its own: the applicant's receipt never waits for ledger's directory."""

    async def test_the_units_clerks_are_told_once(
        self, apps, seeded, intake, settings, notify_admin
    ):
        await add_user(apps, "li.clerk", Role.clerk, ["国网东营供电公司"], "li@example.cn")
        await add_user(apps, "wu.clerk", Role.clerk, ["国网东营供电公司"], "wu@example.cn")
        await add_user(apps, "far.clerk", Role.clerk, ["国网胜利供电公司"], "far@example.cn")
        sent = event("intake.portal.submitted", submitted(settings))
        assert (await intake.post("/events", json=sent)).json()["duplicate"] is False
        assert (await intake.post("/events", json=sent)).json()["duplicate"] is True

        listed = await notify_admin.get("/messages", params={"kind": "intake.portal_submitted"})
        by_recipient = {m["recipient"]: m for m in listed.json()["items"]}
        assert set(by_recipient) == {"li@example.cn", "wu@example.cn"}
        notice = by_recipient["li@example.cn"]
        assert (notice["channel"], notice["state"], notice["window"]) == (
            "email",
            "queued",
            "working_hours",
        )
        assert notice["subject"] == "【新的网上申请待受理】报装BZ20250304000007"
        assert "客户类型：居民用户" in notice["body"]
        assert "请及时受理" in notice["body"]
        assert "13800138000" not in notice["body"]
        assert "张三" not in notice["body"]

    async def test_a_county_company_without_clerks_goes_up(
        self, apps, seeded, intake, settings, notify_admin
    ):
        await add_user(apps, "li.clerk", Role.clerk, ["国网东营供电公司"], "li@example.cn")
        data = submitted(settings, unit="国网广饶县供电公司")
        (notice,) = await portal_notices(intake, notify_admin, data)
        assert notice["recipient"] == "li@example.cn"
        assert (
            "（国网广饶县供电公司无受理人员可通知，转其上级单位国网东营供电公司）"
            in (notice["body"])
        )

    async def test_a_unit_without_a_clerk_is_a_visible_error(
        self, apps, seeded, intake, settings, notify_admin
    ):
        await add_user(apps, "li.clerk", Role.clerk, ["国网胜利供电公司"])  # no email, elsewhere
        sent = event("intake.portal.submitted", submitted(settings))
        assert (await intake.post("/events", json=sent)).status_code == 200
        dead = (await notify_admin.get("/messages/dead")).json()["items"]
        assert [(m["kind"], m["recipient"], m["last_error"]) for m in dead] == [
            (
                "intake.portal_submitted",
                "unit:国网东营供电公司",
                "no active clerk with an email is bound to unit '国网东营供电公司'",
            )
        ]
        async with session_scope(apps.notify.state.engine) as session:
            kept = await session.get(ReceivedEvent, UUID(sent["id"]))
        assert kept is not None
        assert '"unresolved":["unit:国网东营供电公司"]' in kept.outcome.replace(" ", "")

    async def test_the_receipt_does_not_wait_for_ledger(
        self, apps, seeded, intake, settings, notify_admin, monkeypatch
    ):
        """Ledger down: the clerks' notice is answered 502 (intake's outbox retries it), while
        the applicant's receipt of the same application is queued at once."""
        from shared.errors import UpstreamUnavailable

        await add_user(apps, "li.clerk", Role.clerk, ["国网东营供电公司"], "li@example.cn")

        async def down(*_args, **_kwargs):
            raise UpstreamUnavailable("ledger could not be reached")

        monkeypatch.setattr(apps.notify.state.client, "get_json", down)
        notice = event("intake.portal.submitted", submitted(settings))
        assert (await intake.post("/events", json=notice)).status_code == 502
        answered = await intake.post(
            "/events", json=event("intake.application.received", receipt(settings))
        )
        assert answered.status_code == 200
        monkeypatch.undo()  # (an admin's listing asks ledger too: whether the token is revoked)
        texted = await notify_admin.get("/messages", params={"kind": "intake.received"})
        assert texted.json()["total"] == 1
        assert (await intake.post("/events", json=notice)).json()["duplicate"] is False
        listed = await notify_admin.get("/messages", params={"kind": "intake.portal_submitted"})
        assert [m["recipient"] for m in listed.json()["items"]] == ["li@example.cn"]

    async def test_a_receipt_tells_no_clerk(self, apps, seeded, intake, settings, notify_admin):
        await add_user(apps, "li.clerk", Role.clerk, ["国网东营供电公司"], "li@example.cn")
        sent = event("intake.application.received", receipt(settings))
        assert (await intake.post("/events", json=sent)).status_code == 200
        listed = await notify_admin.get("/messages", params={"kind": "intake.portal_submitted"})
        assert listed.json()["items"] == []
        assert (await notify_admin.get("/messages/dead")).json()["items"] == []

    async def test_a_receipt_from_an_older_intake_tells_the_clerks_itself(
        self, apps, seeded, intake, settings, notify_admin
    ):
        """An intake from before intake.portal.submitted (or a receipt queued before its
        upgrade) sends no ``clerks_told_apart``: the clerks are told with the receipt, once,
        without the applicant's name or mobile."""
        await add_user(apps, "li.clerk", Role.clerk, ["国网东营供电公司"], "li@example.cn")
        old = receipt(settings)
        del old["clerks_told_apart"]
        sent = event("intake.application.received", old)
        assert (await intake.post("/events", json=sent)).status_code == 200
        assert (await intake.post("/events", json=sent)).json()["duplicate"] is True
        listed = await notify_admin.get("/messages", params={"kind": "intake.portal_submitted"})
        (notice,) = listed.json()["items"]
        assert notice["recipient"] == "li@example.cn"
        assert "13800138000" not in notice["body"]
        assert "张三" not in notice["body"]
        texted = await notify_admin.get("/messages", params={"kind": "intake.received"})
        assert texted.json()["total"] == 1

    async def test_applicant_data_is_refused_nowhere_and_kept_nowhere(
        self, apps, seeded, intake, settings, notify_admin
    ):
        """A submission names no applicant: extra fields are ignored, never mailed to a clerk."""
        await add_user(apps, "li.clerk", Role.clerk, ["国网东营供电公司"], "li@example.cn")
        (notice,) = await portal_notices(intake, notify_admin, receipt(settings))
        assert "13800138000" not in notice["body"]
        assert "张三" not in notice["body"]
