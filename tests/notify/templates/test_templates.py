import pytest

from services.notify.messages.models import Channel
from services.notify.templates.service import templates
from shared.auth import Role
from tests.conftest import add_user, client_for, sign_in

ENTRY = {
    "ledger_code": "dongying-2021",
    "seq": 32,
    "task": "建立健全相关机制",
    "due_text": "2021年3月底前",
    "due_date": "2021-03-31",
    "status_label": "未开始",
    "unit": "各供电企业",
    "reached_unit": "各供电企业",
}


class TestShippedTemplates:
    @pytest.mark.parametrize("kind", templates().kinds())
    @pytest.mark.parametrize("channel", list(Channel))
    def test_every_type_renders_its_sample_on_every_channel(self, kind, channel):
        shipped = templates()
        rendered = shipped.render(kind, channel, shipped.sample(kind))
        assert rendered.subject
        assert rendered.body
        assert "{{" not in rendered.body

    def test_the_types(self):
        assert templates().kinds() == [
            "intake.at_risk",
            "intake.due_changed",
            "intake.escalation",
            "intake.overdue",
            "intake.portal_submitted",
            "intake.received",
            "ledger_deadline",
            "outage.announced",
            "outage.cancelled",
            "outage.etr_changed",
            "outage.progress",
            "outage.restored",
            "outage.started",
            "report_reminder",
            "stale_escalation",
        ]

    @pytest.mark.parametrize("kind", [k for k in templates().kinds() if k.startswith("outage.")])
    def test_outage_sms_fits_two_segments(self, kind):
        shipped = templates()
        assert len(shipped.render(kind, Channel.sms, shipped.sample(kind)).body) <= 134

    def test_ledger_reminder_text(self):
        overdue = templates().render(
            "ledger_deadline", Channel.email, {**ENTRY, "overdue": True, "days_left": -84}
        )
        assert overdue.subject == "【逾期督办】dongying-2021 第32项已逾期84天"
        assert overdue.body == (
            "责任单位：各供电企业\n工作任务：建立健全相关机制\n完成时间：2021年3月底前（2021-03-31）"
            "\n当前状态：未开始\n请及时在获电任务台账填报进展。"
        )
        today = templates().render(
            "ledger_deadline", Channel.email, {**ENTRY, "overdue": False, "days_left": 0}
        )
        assert today.subject == "【到期提醒】dongying-2021 第32项今日到期"
        soon = templates().render(
            "ledger_deadline", Channel.email, {**ENTRY, "overdue": False, "days_left": 3}
        )
        assert soon.subject == "【临期提醒】dongying-2021 第32项将于2021-03-31到期"

    def test_a_reminder_sent_up_says_for_which_unit(self):
        for kind in ("ledger_deadline", "stale_escalation"):
            sent_up = templates().render(kind, Channel.email, templates().sample(kind))
            assert (
                "责任单位：国网广饶县供电公司\n（国网广饶县供电公司无人可通知，转其上级单位各供电企业）\n"
                in (sent_up.body)
            ), kind


class TestPreview:
    async def test_sample_and_given_data(self, notify_admin):
        sample = await notify_admin.post("/templates/outage.announced/preview", json={})
        assert sample.status_code == 200, sample.text
        assert sample.json()["template"] == "outage.announced/default.j2"
        assert sample.json()["subject"].startswith("【计划停电通知】")

        data = templates().sample("outage.restored")
        data["outage"]["scope"] = "10kV西城线"
        given = await notify_admin.post(
            "/templates/outage.restored/preview", json={"channel": "sms", "data": data}
        )
        assert given.json()["template"] == "outage.restored/sms.j2"
        assert given.json()["body"].startswith("【恢复供电】10kV西城线已于")

    async def test_missing_data_and_unknown_types(self, notify_admin):
        missing = await notify_admin.post(
            "/templates/ledger_deadline/preview", json={"data": {"seq": 1}}
        )
        assert missing.status_code == 422
        assert missing.json()["code"] == "template_data_missing"
        unknown = await notify_admin.post("/templates/nothing/preview", json={})
        assert unknown.status_code == 404
        assert unknown.json()["code"] == "template_not_found"
        listed = (await notify_admin.get("/templates")).json()
        assert {t["kind"] for t in listed} >= {"ledger_deadline", "outage.started"}

    async def test_only_administrators(self, apps):
        await add_user(apps, "viewer", Role.viewer)
        async with client_for(apps.notify, await sign_in(apps, "viewer")) as viewer:
            refused = await viewer.post("/templates/ledger_deadline/preview", json={})
        assert refused.status_code == 403
