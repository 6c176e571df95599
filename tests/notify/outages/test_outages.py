from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import pytest
from sqlalchemy import event

from services.notify.messages.models import DeliveryWindow
from services.notify.subscribers.models import SubscriberSource
from services.notify.subscribers.service import upsert
from shared.auth import Role
from shared.db import session_scope
from shared.timeutil import BEIJING
from tests.conftest import FROZEN_AT, add_user, client_for, sign_in

DINGTALK = "http://127.0.0.1:9/robot/send?access_token=T"
CUSTOMERS = [
    # account, name, mobile, email, wecom, feeder, area, class
    ("C1", "甲", "13800000001", "c1@example.cn", None, "F1", "T1", "urban"),
    ("C2", "乙", "13800000002", None, None, "F1", "T2", "town"),
    ("C3", "丙", None, None, "http://127.0.0.1:9/wecom", "F1", "T2", "town"),
    ("C8", "辛", None, None, None, "F1", "T2", "town"),  # a DingTalk robot, set below
    ("C4", "丁", "13800000004", None, None, "F2", "T3", "rural"),  # other feeder
    ("C5", "戊", "13800000005", None, None, "F2", "T9", "rural"),  # reached by its area
]


@pytest.fixture
async def customers(apps):
    fields = (
        "account_number",
        "name",
        "mobile",
        "email",
        "wecom_webhook",
        "feeder",
        "transformer_area",
        "area_class",
    )
    async with session_scope(apps.notify.state.engine) as session:
        await upsert(
            session,
            [
                {
                    **dict(zip(fields, c, strict=True)),
                    "dingtalk_webhook": DINGTALK if c[0] == "C8" else None,
                }
                for c in CUSTOMERS
            ],
            SubscriberSource.api,
            now=FROZEN_AT,
        )


@pytest.fixture
async def dispatcher(apps):
    await add_user(apps, "diaodu", Role.dispatcher, ["营销部"])
    async with client_for(apps.notify, await sign_in(apps, "diaodu")) as client:
        yield client


# A customer who joins feeder F1 during a test.
NEWCOMER = {
    "account_number": "C6",
    "name": "己",
    "mobile": "13800000006",
    "feeder": "F1",
    "transformer_area": "T1",
    "area_class": "urban",
}


def planned(days_ahead: float, **extra) -> dict:
    start = FROZEN_AT + timedelta(days=days_ahead)
    return {
        "kind": "planned",
        "cause": "10kV线路检修",
        "feeders": ["F1"],
        "transformer_areas": ["T9"],
        "planned_start": start.isoformat(),
        "etr": (start + timedelta(hours=8)).isoformat(),
        **extra,
    }


async def messages_of(client, outage_id: int, **params) -> list[dict]:
    page = await client.get(f"/outages/{outage_id}/messages", params={"limit": 500, **params})
    assert page.status_code == 200, page.text
    result: list[dict] = page.json()["items"]
    return result


class TestPlannedOutage:
    async def test_each_change_reaches_every_affected_contact_once(self, dispatcher, customers):
        created = await dispatcher.post("/outages", json=planned(10))
        assert created.status_code == 201, created.text
        outage = created.json()
        assert outage["state"] == "draft"
        assert outage["customers_affected"] == 5
        assert await messages_of(dispatcher, outage["id"]) == []

        c2 = (await dispatcher.get("/subscribers", params={"q": "C2"})).json()["items"][0]
        await dispatcher.put(
            f"/subscribers/{c2['id']}/preferences", json={"opt_outs": ["outage.progress"]}
        )

        announced = await dispatcher.post(f"/outages/{outage['id']}/announce", json={})
        assert announced.status_code == 200, announced.text
        assert announced.json()["state"] == "announced"
        sent = await messages_of(dispatcher, outage["id"])
        assert sorted((m["channel"], m["recipient"]) for m in sent) == [
            ("dingtalk", DINGTALK),
            ("email", "c1@example.cn"),
            ("sms", "13800000001"),
            ("sms", "13800000002"),
            ("sms", "13800000005"),
            ("wecom", "http://127.0.0.1:9/wecom"),
        ]
        assert {m["kind"] for m in sent} == {"outage.announced"}
        assert {m["window"] for m in sent} == {DeliveryWindow.waking_hours.value}
        sms = next(m for m in sent if m["recipient"] == "13800000005")
        assert sms["body"].startswith("【计划停电】因10kV线路检修，F1；台区 T9将于")
        mail = next(m for m in sent if m["channel"] == "email")
        assert mail["subject"].startswith("【计划停电通知】F1；台区 T9 ")

        oid = outage["id"]
        assert (await dispatcher.post(f"/outages/{oid}/start", json={})).status_code == 200
        new_etr = (FROZEN_AT + timedelta(days=11)).isoformat()
        etr = await dispatcher.post(
            f"/outages/{oid}/etr", json={"etr": new_etr, "note": "增加作业"}
        )
        assert etr.status_code == 200, etr.text
        progress = await dispatcher.post(f"/outages/{oid}/progress", json={"note": "已完成一半"})
        assert progress.status_code == 200
        restored = await dispatcher.post(f"/outages/{oid}/restore", json={})
        assert restored.status_code == 200

        detail = restored.json()
        assert detail["state"] == "restored"
        assert [(u["change"], u["messages_queued"]) for u in detail["updates"]] == [
            ("announced", 6),
            ("started", 6),
            ("etr_changed", 6),
            ("progress", 5),  # C2 opted out of progress notes
            ("restored", 6),
        ]
        # Nothing went out meanwhile: the restoration replaced every earlier notice.
        assert detail["deliveries"] == {"queued": 6, "superseded": 23}
        etr_sms = next(
            m for m in await messages_of(dispatcher, oid) if m["kind"] == "outage.etr_changed"
        )
        assert "预计复电时间调整为" in etr_sms["body"]

        log = await dispatcher.get(f"/subscribers/{c2['id']}/messages")
        assert [m["kind"] for m in log.json()["items"]] == [
            "outage.announced",
            "outage.started",
            "outage.etr_changed",
            "outage.restored",
        ]

    async def test_impact_is_counted_when_power_goes_off(self, dispatcher, customers):
        oid = (await dispatcher.post("/outages", json=planned(8))).json()["id"]
        await dispatcher.post(f"/outages/{oid}/announce", json={})
        await dispatcher.post(
            "/subscribers",
            json=NEWCOMER,
        )
        started = (await dispatcher.post(f"/outages/{oid}/start", json={})).json()
        assert started["customers_affected"] == 6
        await dispatcher.post(
            "/subscribers",
            json={
                "account_number": "C7",
                "name": "庚",
                "mobile": "13800000007",
                "feeder": "F1",
                "transformer_area": "T1",
                "area_class": "urban",
            },
        )
        assert (await dispatcher.get(f"/outages/{oid}")).json()["customers_affected"] == 6


class TestNoticeRule:
    async def test_a_late_planned_outage_is_refused_or_flagged(self, dispatcher, customers):
        oid = (await dispatcher.post("/outages", json=planned(3))).json()["id"]
        refused = await dispatcher.post(f"/outages/{oid}/announce", json={})
        assert refused.status_code == 409
        assert refused.json()["code"] == "late_announcement"
        assert "须提前 7 天公告" in refused.json()["detail"]
        assert await messages_of(dispatcher, oid) == []

        flagged = await dispatcher.post(
            f"/outages/{oid}/announce", json={"late_reason": "设备缺陷需紧急处理"}
        )
        assert flagged.status_code == 200
        assert flagged.json()["late_notice"] is True
        assert flagged.json()["late_reason"] == "设备缺陷需紧急处理"

    async def test_temporary_outages_need_no_week(self, dispatcher, customers):
        oid = (await dispatcher.post("/outages", json=planned(1, kind="temporary"))).json()["id"]
        done = await dispatcher.post(f"/outages/{oid}/announce", json={})
        assert done.status_code == 200
        assert done.json()["late_notice"] is False

    async def test_a_start_in_the_past_cannot_be_announced(self, dispatcher, customers):
        oid = (await dispatcher.post("/outages", json=planned(-1, kind="temporary"))).json()["id"]
        refused = await dispatcher.post(f"/outages/{oid}/announce", json={})
        assert refused.json()["code"] == "start_passed"


class TestFault:
    async def test_a_fault_is_pushed_at_once_at_any_hour(self, dispatcher, customers):
        fault = {**planned(0), "kind": "fault", "cause": "线路跳闸", "transformer_areas": []}
        created = await dispatcher.post("/outages", json=fault)
        assert created.status_code == 201
        assert created.json()["state"] == "started"
        sent = await messages_of(dispatcher, created.json()["id"])
        assert len(sent) == 5
        assert {m["window"] for m in sent} == {"anytime"}
        sms = next(m for m in sent if m["channel"] == "sms")
        assert sms["body"].startswith("【故障停电】F1因线路跳闸停电，正在抢修")


class TestRepeatedOutageWarning:
    async def test_dispatcher_is_warned_before_confirming(self, dispatcher, customers):
        past = {
            **planned(-20),
            "kind": "fault",
            "cause": "树线矛盾",
            "feeders": [],
            "transformer_areas": ["T2"],
        }
        earlier = (await dispatcher.post("/outages", json=past)).json()
        await dispatcher.post(f"/outages/{earlier['id']}/restore", json={})

        oid = (await dispatcher.post("/outages", json=planned(10))).json()["id"]
        warning = (await dispatcher.get(f"/outages/{oid}/repeat-warning")).json()
        assert warning["window_days"] == 60
        assert warning["customers_affected"] == 5
        assert warning["customers_recently_cut"] == 3
        assert [(o["number"], o["customers"]) for o in warning["outages"]] == [
            (earlier["number"], 3)
        ]

        refused = await dispatcher.post(f"/outages/{oid}/announce", json={})
        assert refused.status_code == 409
        assert refused.json()["code"] == "repeated_outage"
        assert earlier["number"] in refused.json()["detail"]
        confirmed = await dispatcher.post(
            f"/outages/{oid}/announce", json={"acknowledge_overlap": True}
        )
        assert confirmed.json()["overlap_acknowledged"] is True

    async def test_outside_the_window_there_is_no_warning(self, dispatcher, customers):
        old = {**planned(-100), "kind": "fault", "cause": "雷击"}
        await dispatcher.post("/outages", json=old)
        oid = (await dispatcher.post("/outages", json=planned(10))).json()["id"]
        assert (await dispatcher.post(f"/outages/{oid}/announce", json={})).status_code == 200


class TestRules:
    async def test_changes_out_of_order_are_refused(self, dispatcher, customers):
        oid = (await dispatcher.post("/outages", json=planned(9))).json()["id"]
        early = await dispatcher.post(f"/outages/{oid}/progress", json={"note": "x"})
        assert early.status_code == 409
        assert early.json()["code"] == "outage_state"
        bad_etr = await dispatcher.post(f"/outages/{oid}/etr", json={"etr": FROZEN_AT.isoformat()})
        assert bad_etr.status_code == 409  # a draft's ETR is edited before announcing
        await dispatcher.post(f"/outages/{oid}/announce", json={})
        before_start = await dispatcher.post(
            f"/outages/{oid}/etr", json={"etr": FROZEN_AT.isoformat()}
        )
        assert before_start.json()["code"] == "etr_invalid"

    async def test_bad_outages_are_refused(self, dispatcher):
        no_scope = await dispatcher.post(
            "/outages", json=planned(9, feeders=[], transformer_areas=[])
        )
        assert no_scope.status_code == 422
        backwards = planned(9)
        backwards["etr"] = backwards["planned_start"]
        assert (await dispatcher.post("/outages", json=backwards)).status_code == 422
        assert (await dispatcher.get("/outages/999")).json()["code"] == "outage_not_found"

    async def test_cancelling_tells_only_those_who_heard(
        self, dispatcher, customers, make_kit, smtp
    ):
        oid = (await dispatcher.post("/outages", json=planned(9))).json()["id"]
        await dispatcher.post(f"/outages/{oid}/announce", json={})
        # Only the email has gone out when the outage is cancelled (no SMS gateway here).
        kit = make_kit(smtp_host="127.0.0.1", smtp_port=smtp.port)
        await kit.deliver(FROZEN_AT)
        cancelled = await dispatcher.post(f"/outages/{oid}/cancel", json={"reason": "计划调整"})
        assert cancelled.json()["state"] == "cancelled"
        assert cancelled.json()["updates"][-1]["messages_queued"] == 1
        log = await messages_of(dispatcher, oid)
        assert sorted((m["kind"], m["channel"], m["state"]) for m in log if m["channel"] != "sms")[
            :2
        ] == [("outage.announced", "dingtalk", "superseded"), ("outage.announced", "email", "sent")]
        assert [(m["channel"], m["recipient"]) for m in log if m["kind"] == "outage.cancelled"] == [
            ("email", "c1@example.cn")
        ]
        assert {m["state"] for m in log if m["channel"] == "sms"} == {"superseded"}
        await kit.deliver(FROZEN_AT)
        assert [m["Subject"][:6] for _, m in smtp.mails()] == ["【计划停电通", "【停电取消】"]

    async def test_only_dispatchers_and_administrators(self, apps):
        await add_user(apps, "viewer", Role.viewer)
        async with client_for(apps.notify, await sign_in(apps, "viewer")) as viewer:
            refused = await viewer.post("/outages", json=planned(9))
        assert refused.status_code == 403
        assert refused.json()["code"] == "dispatcher_required"


class TestDelivery:
    async def test_an_announcement_arrives_by_email(self, dispatcher, customers, make_kit, smtp):
        oid = (await dispatcher.post("/outages", json=planned(10))).json()["id"]
        await dispatcher.post(f"/outages/{oid}/announce", json={})
        kit = make_kit(smtp_host="127.0.0.1", smtp_port=smtp.port)
        when = kit.hours.earliest(DeliveryWindow.waking_hours, FROZEN_AT)
        await kit.deliver(when)
        ((to, mail),) = smtp.mails()
        assert to == ["c1@example.cn"]
        assert mail["Subject"].startswith("【计划停电通知】")
        emailed = await messages_of(dispatcher, oid, channel="email")
        assert emailed[0]["state"] == "sent"


BEIJING_NIGHT = datetime(2026, 11, 27, 4, 47, tzinfo=BEIJING)


def at_beijing(hour: int, minute: int = 0, day: int = 27) -> str:
    return datetime(2026, 11, day, hour, minute, tzinfo=BEIJING).isoformat()


class TestQuietHours:
    """Quiet hours (免打扰) hold back only news that can wait."""

    async def test_an_outage_starting_before_quiet_hours_end_is_told_now(
        self, apps, dispatcher, customers, frozen
    ):
        frozen.move_to(BEIJING_NIGHT)
        dispatcher.headers["Authorization"] = f"Bearer {await sign_in(apps, 'diaodu')}"
        soon = {
            **planned(0, kind="temporary"),
            "planned_start": at_beijing(6),
            "etr": at_beijing(6, 45),
        }
        oid = (await dispatcher.post("/outages", json=soon)).json()["id"]
        assert (await dispatcher.post(f"/outages/{oid}/announce", json={})).status_code == 200
        told = await messages_of(dispatcher, oid)
        assert {m["window"] for m in told} == {"anytime"}
        assert {datetime.fromisoformat(m["next_attempt_at"]) for m in told} == {BEIJING_NIGHT}

        # One that starts after 07:00 waits for the end of the quiet hours.
        later = {**soon, "planned_start": at_beijing(9), "etr": at_beijing(11)}
        other = (await dispatcher.post("/outages", json=later)).json()["id"]
        await dispatcher.post(f"/outages/{other}/announce", json={})
        waiting = await messages_of(dispatcher, other)
        assert {m["window"] for m in waiting} == {"waking_hours"}
        assert {datetime.fromisoformat(m["next_attempt_at"]) for m in waiting} == {
            datetime.fromisoformat(at_beijing(7))
        }

    async def test_a_notice_for_tomorrow_morning_is_not_held_by_tonight(
        self, dispatcher, customers
    ):
        # Announced at 10:00 for 06:00 tomorrow: if it cannot go out before 22:00 (a channel
        # down, say), it still must not wait for 07:00.
        early = {
            **planned(0, kind="temporary"),
            "planned_start": at_beijing(6),
            "etr": at_beijing(8),
        }
        oid = (await dispatcher.post("/outages", json=early)).json()["id"]
        await dispatcher.post(f"/outages/{oid}/announce", json={})
        assert {m["window"] for m in await messages_of(dispatcher, oid)} == {"anytime"}

    async def test_a_planned_outage_under_way_is_told_at_night(
        self, apps, dispatcher, customers, frozen
    ):
        oid = (await dispatcher.post("/outages", json=planned(10))).json()["id"]
        await dispatcher.post(f"/outages/{oid}/announce", json={})
        frozen.move_to(FROZEN_AT + timedelta(days=10, hours=13))  # 23:00 in Beijing
        dispatcher.headers["Authorization"] = f"Bearer {await sign_in(apps, 'diaodu')}"
        await dispatcher.post(f"/outages/{oid}/start", json={})
        started = await messages_of(dispatcher, oid)
        assert {m["window"] for m in started if m["kind"] == "outage.started"} == {"anytime"}


class TestLaterStates:
    async def test_a_start_replaces_an_unsent_announcement_where_it_goes(
        self, dispatcher, customers, apps
    ):
        oid = (await dispatcher.post("/outages", json=planned(10))).json()["id"]
        await dispatcher.post(f"/outages/{oid}/announce", json={})
        c1 = (await dispatcher.get("/subscribers", params={"q": "C1"})).json()["items"][0]
        await dispatcher.put(
            f"/subscribers/{c1['id']}/preferences", json={"opt_outs": ["outage.started"]}
        )
        await dispatcher.post(f"/outages/{oid}/start", json={})
        log = await messages_of(dispatcher, oid)
        announced = {
            (m["subscriber_id"], m["channel"]): m["state"]
            for m in log
            if m["kind"] == "outage.announced"
        }
        # C1 gets no start notice, so keeps the announcement; everybody else has it replaced.
        assert {s for (sid, _), s in announced.items() if sid == c1["id"]} == {"queued"}
        assert {s for (sid, _), s in announced.items() if sid != c1["id"]} == {"superseded"}


class TestHistory:
    async def test_a_past_fault_is_recorded_without_messages_and_with_its_times(
        self, dispatcher, customers
    ):
        past = {
            **planned(0, kind="fault"),
            "planned_start": "2025-06-01T08:00:00+08:00",
            "etr": "2025-06-01T12:00:00+08:00",
            "restored_at": "2025-06-01T11:30:00+08:00",
        }
        created = await dispatcher.post("/outages", json=past)
        assert created.status_code == 201, created.text
        outage = created.json()
        assert outage["state"] == "restored"
        assert outage["actual_start"] == "2025-06-01T08:00:00+08:00"
        assert outage["actual_end"] == "2025-06-01T11:30:00+08:00"
        assert [(u["change"], u["at"], u["messages_queued"]) for u in outage["updates"]] == [
            ("started", "2025-06-01T08:00:00+08:00", 0),
            ("restored", "2025-06-01T11:30:00+08:00", 0),
        ]
        assert outage["customers_affected"] == 5
        assert await messages_of(dispatcher, outage["id"]) == []

    async def test_a_restoration_in_the_future_is_refused(self, dispatcher, customers):
        ahead = {**planned(-1, kind="fault"), "restored_at": planned(1)["planned_start"]}
        refused = await dispatcher.post("/outages", json=ahead)
        assert refused.status_code == 422
        assert refused.json()["code"] == "restored_in_future"
        backwards = {**planned(-1, kind="fault"), "restored_at": planned(-2)["planned_start"]}
        assert (await dispatcher.post("/outages", json=backwards)).status_code == 422

    async def test_start_and_restore_keep_the_at_given(self, dispatcher, customers):
        fault = {**planned(-0.05), "kind": "fault"}  # began 72 minutes ago
        oid = (await dispatcher.post("/outages", json=fault)).json()["id"]
        at = (FROZEN_AT - timedelta(minutes=20)).isoformat()
        restored = (await dispatcher.post(f"/outages/{oid}/restore", json={"at": at})).json()
        assert datetime.fromisoformat(restored["updates"][-1]["at"]) == datetime.fromisoformat(at)
        assert datetime.fromisoformat(restored["actual_end"]) == datetime.fromisoformat(at)


# The scopes of the outages listed and the current subscribers each reaches (this file's
# CUSTOMERS): F1 feeds C1 C2 C3 C8, F2 feeds C4 C5, area T9 holds C5 and T2 holds C2 C3 C8
# (all on F1 too, so counted once).
SCOPES = [
    (["F1"], ["T9"], 5),
    (["F1"], ["T2"], 4),
    (["F2"], ["T9"], 2),
    ([], ["T2"], 3),
]


@contextmanager
def counting_statements(engine) -> Iterator[list[str]]:
    """The SQL statements run on ``engine`` (an AsyncEngine) inside the block."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


async def create_outages(dispatcher, count: int) -> list[int]:
    ids = []
    for i in range(count):
        feeders, areas, _ = SCOPES[i % len(SCOPES)]
        body = planned(8 + i / 24, feeders=feeders, transformer_areas=areas)
        created = await dispatcher.post("/outages", json=body)
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    return ids


async def statements_for_page(apps, dispatcher, limit: int) -> int:
    with counting_statements(apps.notify.state.engine) as seen:
        page = await dispatcher.get("/outages", params={"limit": limit})
    assert page.status_code == 200, page.text
    assert len(page.json()["items"]) == limit
    return len(seen)


class TestOutageListStatements:
    async def test_a_page_of_20_takes_as_many_statements_as_a_page_of_2(
        self, apps, dispatcher, customers
    ):
        await create_outages(dispatcher, 20)
        of_two = await statements_for_page(apps, dispatcher, 2)
        of_twenty = await statements_for_page(apps, dispatcher, 20)
        assert of_twenty == of_two
        # The page and its total, then scopes, changes, impacts, deliveries, subscribers in scope.
        assert of_twenty <= 8

    async def test_each_outage_of_the_page_keeps_its_own_figures(self, apps, dispatcher, customers):
        ids = await create_outages(dispatcher, 8)
        for outage_id in ids[:2]:
            announced = await dispatcher.post(
                f"/outages/{outage_id}/announce", json={"acknowledge_overlap": True}
            )
            assert announced.status_code == 200, announced.text
        started = await dispatcher.post(f"/outages/{ids[1]}/start", json={})
        assert started.status_code == 200, started.text
        # A subscriber joins F1 after the start: only the outage not yet started counts them.
        joined = await dispatcher.post(
            "/subscribers",
            json=NEWCOMER,
        )
        assert joined.status_code == 201, joined.text
        page = (await dispatcher.get("/outages", params={"limit": 20})).json()
        by_id = {item["id"]: item for item in page["items"]}
        assert set(by_id) == set(ids)
        for i, outage_id in enumerate(ids):
            feeders, areas, reached = SCOPES[i % len(SCOPES)]
            item = by_id[outage_id]
            assert (item["feeders"], item["transformer_areas"]) == (feeders, areas)
            in_f1 = "F1" in feeders and i != 1
            assert item["customers_affected"] == reached + in_f1, i
            assert item == (await dispatcher.get(f"/outages/{outage_id}")).json()
        assert [u["change"] for u in by_id[ids[0]]["updates"]] == ["announced"]
        assert [u["change"] for u in by_id[ids[1]]["updates"]] == ["announced", "started"]
        assert by_id[ids[0]]["deliveries"]
        assert by_id[ids[2]]["deliveries"] == {}
        assert by_id[ids[2]]["updates"] == []
