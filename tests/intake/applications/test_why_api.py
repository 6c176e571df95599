"""A deadline explains itself (期限说明): every due date and every time spent can be asked "why",
and the days the answer counts add up to the figure the clock gives."""

from tests.intake.applications.test_stages_api import complete as complete_with_documents
from tests.intake.conftest import create, create_rural_home

CONNECTION_POINT = {"feeder": "10kV 府前线", "transformer_area": "府前1号台区"}


async def complete(client, number, stage, **body):
    response = await complete_with_documents(client, number, stage, **body)
    assert response.status_code == 200, response.text
    return response.json()


def stage_of(application, code):
    return next(s for s in application["stages"] if s["stage"] == code)


def day(span, iso):
    return next(d for d in span["days"] if d["day"] == iso)


def assert_adds_up(why):
    """The explanation's own days give back the clock's figures."""
    elapsed = why["elapsed"]
    assert sum(d["working"] for d in elapsed["days"]) == why["elapsed_days"]
    assert sum(d["counted"] for d in elapsed["days"]) == why["grid_days"]
    assert elapsed["working_days"] - elapsed["counted_days"] == why["paused_days"]
    if why["due"] is not None:
        due = why["due"]
        assert due["days"][-1]["day"] == why["due_date"]
        assert due["days"][-1]["working"] is True
        assert sum(d["counted"] for d in due["days"]) == why["limit_days"]


class TestNationalDay2025:
    async def test_the_supply_plan_due_date_skips_the_holiday_and_counts_the_make_up_day(
        self, clerk, clock
    ):
        clock.set("2025-09-30 10:00")
        number = (await create(clerk))["application"]["number"]
        acceptance = (await clerk.get(f"/applications/{number}/stages/acceptance/why")).json()
        detail = (await clerk.get(f"/applications/{number}")).json()
        assert acceptance["due_date"] == detail["clock"]["due_date"] == "2025-10-09"
        assert_adds_up(acceptance)
        assert day(acceptance["due"], "2025-10-01")["holiday_name"] == "国庆节"
        assert day(acceptance["due"], "2025-10-06")["kind"] == "holiday"
        assert acceptance["due"]["skipped_holiday_days"] == 8  # 10-01..10-08
        assert acceptance["policy"]["code"] == detail["policy_code"]
        assert acceptance["calendar"] == [
            {"year": 2025, "confirmed": True, "source": acceptance["calendar"][0]["source"]}
        ]
        assert acceptance["calendar"][0]["source"].startswith("chinesecalendar")
        assert any("国庆节放假" in line for line in acceptance["lines"])

        clock.set("2025-10-09 15:00")
        await complete(clerk, number, "acceptance")
        clock.set("2025-10-13 09:00")
        supply = (await clerk.get(f"/applications/{number}/stages/supply_plan/why")).json()
        detail = (await clerk.get(f"/applications/{number}")).json()
        assert supply["due_date"] == detail["clock"]["due_date"] == "2025-10-15"
        assert supply["start_day"] == "2025-10-09"
        assert day(supply["due"], "2025-10-11") == {
            "day": "2025-10-11",
            "weekday": "周六",
            "kind": "makeup_workday",
            "counted": True,
            "working": True,
            "holiday_name": "国庆节",
            "provisional": False,
        }
        assert day(supply["due"], "2025-10-12")["kind"] == "weekend"
        assert supply["due"]["makeup_workdays"] == 1
        # Elapsed so far (10-10, 10-11, 10-13) is what the stage's time says.
        so_far = stage_of(detail, "supply_plan")["time"]
        assert supply["elapsed_days"] == so_far["elapsed_days"] == 3
        assert supply["end_reason"] == "today"
        assert_adds_up(supply)
        assert "2025-10-11（周六）：国庆节调休上班日，计入1个工作日" in supply["lines"]

    async def test_the_total_of_a_connected_application(self, clerk, clock):
        clock.set("2025-09-30 10:00")
        number = (await create(clerk))["application"]["number"]
        clock.set("2025-10-09 15:00")
        await complete(clerk, number, "acceptance")
        clock.set("2025-10-16 11:00")
        await complete(clerk, number, "supply_plan")
        late = (await clerk.get(f"/applications/{number}/stages/supply_plan/why")).json()
        assert late["within_limit"] is False
        assert late["grid_days"] == 6
        assert late["end_reason"] == "completed"
        assert_adds_up(late)
        clock.set("2025-10-17 09:00")
        await complete(clerk, number, "completion_inspection")
        clock.set("2025-10-17 16:00")
        done = await complete(clerk, number, "connection", **CONNECTION_POINT)
        clock.set("2025-11-03 10:00")  # asked later: the figures stay those of the connection
        total = (await clerk.get(f"/applications/{number}/why")).json()
        assert total["subject"] == "total"
        assert total["end_reason"] == "connected"
        assert total["end_day"] == "2025-10-17"
        assert total["elapsed_days"] == done["total"]["elapsed_days"] == 8
        assert total["grid_days"] == done["total"]["grid_days"]
        assert total["within_limit"] is done["total"]["within_limit"] is True
        assert total["due"] is None  # staged: watched stage by stage
        assert_adds_up(total)


class TestSpringFestival2026WithAPause:
    async def test_make_up_days_count_and_a_pause_does_not(self, clerk, clock):
        clock.set("2026-02-10 10:00")
        number = (await create(clerk))["application"]["number"]
        clock.set("2026-02-11 10:00")
        await complete(clerk, number, "acceptance")
        clock.set("2026-02-12 09:00")
        paused = await clerk.post(
            f"/applications/{number}/pause",
            json={"reason": "missing_material", "note": "请补充用电设备清单"},
        )
        assert paused.status_code == 200, paused.text
        while_paused = (await clerk.get(f"/applications/{number}/stages/supply_plan/why")).json()
        assert while_paused["pauses"][0]["running"] is True
        assert any("暂停计时中" in line for line in while_paused["lines"])
        assert_adds_up(while_paused)

        clock.set("2026-02-24 10:00")  # 02-13, the make-up 02-14 and 02-24 were paused
        await clerk.post(f"/applications/{number}/resume", json={})
        why = (await clerk.get(f"/applications/{number}/stages/supply_plan/why")).json()
        detail = (await clerk.get(f"/applications/{number}")).json()
        assert why["due_date"] == detail["clock"]["due_date"]
        assert why["due"]["working_days"] == 5 + 3
        assert day(why["due"], "2026-02-14")["kind"] == "paused"
        assert day(why["due"], "2026-02-14")["holiday_name"] == "春节"
        assert day(why["due"], "2026-02-17")["holiday_name"] == "春节"
        assert day(why["due"], "2026-02-28")["kind"] == "makeup_workday"
        assert [p["working_days"] for p in why["pauses"]] == [3]
        pause = why["pauses"][0]
        assert (pause["from_day"], pause["to_day"]) == ("2026-02-12", "2026-02-24")
        assert (pause["started_by"], pause["ended_by"]) == ("clerk-wang", "clerk-wang")
        assert pause["reason_label"] == "等待客户补充资料"
        assert pause["note"] == "请补充用电设备清单"
        assert_adds_up(why)

        clock.set("2026-03-02 16:00")
        done = await complete(clerk, number, "supply_plan")
        finished = (await clerk.get(f"/applications/{number}/stages/supply_plan/why")).json()
        time = stage_of(done, "supply_plan")["time"]
        assert (finished["elapsed_days"], finished["paused_days"], finished["grid_days"]) == (
            time["elapsed_days"],
            time["paused_days"],
            time["grid_days"],
        )
        assert_adds_up(finished)
        total = (await clerk.get(f"/applications/{number}/why")).json()
        assert total["grid_days"] == detail["total"]["grid_days"] + (
            total["elapsed_days"] - detail["total"]["elapsed_days"]
        )
        assert_adds_up(total)


class TestAcceptedLateInTheEvening:
    async def test_an_acceptance_at_23_30_beijing_starts_on_that_beijing_day(self, clerk, clock):
        clock.set("2025-12-31 23:30")  # 15:30 UTC; New Year's Day 2026 is the next day
        number = await create_rural_home(clerk, **CONNECTION_POINT)
        detail = (await clerk.get(f"/applications/{number}")).json()
        why = (await clerk.get(f"/applications/{number}/stages/signing/why")).json()
        assert why["started_at"] == "2025-12-31T23:30:00+08:00"
        assert why["start_day"] == "2025-12-31"
        assert why["due_date"] == detail["clock"]["due_date"]
        assert day(why["due"], "2026-01-01")["holiday_name"] == "元旦"
        assert [y["year"] for y in why["calendar"]] == [2025, 2026]
        assert why["lines"][1].startswith("起算：北京时间2025-12-31 23:30受理，起算日为2025-12-31")
        assert why["provisional"] is False
        assert_adds_up(why)


class TestWhoMayAsk:
    async def test_same_access_as_reading_the_application(
        self, clerk, other_clerk, supervisor, clock
    ):
        clock.set("2025-09-30 10:00")
        number = (await create(clerk))["application"]["number"]
        refused = await other_clerk.get(f"/applications/{number}/why")
        assert refused.status_code == 403
        assert refused.json()["code"] == "not_your_unit"
        assert (await supervisor.get(f"/applications/{number}/why")).status_code == 200
        missing = await clerk.get("/applications/DY000000000000/why")
        assert missing.status_code == 404

    async def test_a_stage_not_started_or_not_in_the_process(self, clerk, clock):
        clock.set("2025-09-30 10:00")
        number = (await create(clerk))["application"]["number"]
        pending = await clerk.get(f"/applications/{number}/stages/supply_plan/why")
        assert pending.status_code == 409
        assert pending.json()["code"] == "stage_not_started"
        foreign = await clerk.get(f"/applications/{number}/stages/design_review/why")
        assert foreign.json()["code"] == "stage_not_in_process"
        unknown = await clerk.get(f"/applications/{number}/stages/nonsense/why")
        assert unknown.status_code == 422

    async def test_pause_notes_are_masked_for_a_supervisor(self, clerk, supervisor, clock):
        clock.set("2025-10-09 10:00")
        number = (await create(clerk))["application"]["number"]
        await clerk.post(
            f"/applications/{number}/pause",
            json={"reason": "missing_material", "note": "请联系13812345678补充资料"},
        )
        seen = (await supervisor.get(f"/applications/{number}/why")).json()
        assert "13812345678" not in seen["pauses"][0]["note"]
        assert not any("13812345678" in line for line in seen["lines"])
        own = (await clerk.get(f"/applications/{number}/why")).json()
        assert "13812345678" in own["pauses"][0]["note"]


class TestAProvisionalYear:
    async def test_a_due_date_in_an_unpublished_year_says_it_is_provisional(self, clerk, clock):
        clock.set("2026-12-30 10:00")
        number = (await create(clerk))["application"]["number"]
        clock.set("2026-12-31 10:00")
        await complete(clerk, number, "acceptance")
        why = (await clerk.get(f"/applications/{number}/stages/supply_plan/why")).json()
        detail = (await clerk.get(f"/applications/{number}")).json()
        assert why["due_date"] == detail["clock"]["due_date"]
        assert why["provisional"] is detail["clock"]["provisional"] is True
        new_year = day(why["due"], "2027-01-01")
        assert (new_year["kind"], new_year["provisional"]) == ("holiday", True)
        assert [(y["year"], y["confirmed"]) for y in why["calendar"]] == [
            (2026, True),
            (2027, False),
        ]
        assert any(line.startswith("注意：") for line in why["lines"])
        assert_adds_up(why)
