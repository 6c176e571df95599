"""Stage transitions across the 2025 National Day holiday and the 2026 Spring Festival: stamped by
the server, in order, never re-run or skipped; pauses for the customer move the due date."""

from tests.intake.conftest import create, create_rural_home

CONNECTION_POINT = {"feeder": "10kV 府前线", "transformer_area": "府前1号台区"}


async def complete(client, number, stage, **body):
    """Complete a stage as a clerk does: first take at the counter what it still needs (a stage
    never completes without its documents, see tests/intake/documents/test_stage_gate.py)."""
    view = await client.get(f"/applications/{number}/documents")
    if view.status_code == 200 and view.json()["stage"] == stage:
        for item in view.json()["required"]:
            if item["state"] == "needed":
                taken = await client.post(
                    f"/applications/{number}/documents", json={"kind": item["code"]}
                )
                assert taken.status_code == 201, taken.text
    return await complete_only(client, number, stage, **body)


async def complete_only(client, number, stage, **body):
    """Complete a stage with whatever is on file."""
    return await client.post(f"/applications/{number}/stages/{stage}/complete", json=body)


def stage(application, label):
    return next(s for s in application["stages"] if s["label"] == label)


class TestAcrossNationalDay:
    async def test_a_10kv_single_supply_application_from_acceptance_to_connection(
        self, clerk, clock
    ):
        clock.set("2025-09-30 10:00")
        number = (await create(clerk))["application"]["number"]

        clock.set("2025-10-09 15:00")  # the first working day after the holiday
        response = await complete(clerk, number, "acceptance", note="资料齐全")
        assert response.status_code == 200, response.text
        application = response.json()
        accepted = stage(application, "业务受理")
        assert accepted["state"] == "done"
        assert accepted["completed_at"] == "2025-10-09T15:00:00+08:00"
        assert accepted["completed_by"] == "clerk-wang"
        assert accepted["time"] == {
            "limit_days": 1,
            "elapsed_days": 1,
            "paused_days": 0,
            "grid_days": 1,
            "within_limit": True,
            "provisional": False,
        }
        # 5 working days from 10-09: 10-10, Saturday 10-11 (make-up day), 10-13, 10-14, 10-15.
        assert application["current_stage"] == "supply_plan"
        assert application["clock"]["due_date"] == "2025-10-15"
        assert application["clock"]["at_risk_from"] == "2025-10-14"

        clock.set("2025-10-16 11:00")  # a day late
        application = (await complete(clerk, number, "supply_plan")).json()
        assert stage(application, "供电方案答复")["time"]["grid_days"] == 6
        assert stage(application, "供电方案答复")["time"]["within_limit"] is False

        clock.set("2025-10-17 09:00")
        application = (await complete(clerk, number, "completion_inspection")).json()
        assert application["clock"]["due_date"] == "2025-10-20"

        clock.set("2025-10-17 16:00")
        refused = await complete(clerk, number, "connection")
        assert refused.status_code == 422
        assert refused.json()["code"] == "connection_point_required"
        application = (await complete(clerk, number, "connection", **CONNECTION_POINT)).json()
        assert application["status"] == "connected"
        assert application["current_stage"] is None
        assert application["clock"] is None
        assert application["site"]["feeder"] == "10kV 府前线"
        # 09-30 → 10-17: 10-09, 10-10, 10-11, 10-13..10-17 = 8 working days, limit 8.
        assert application["total"] == {
            "limit_days": 8,
            "elapsed_days": 8,
            "paused_days": 0,
            "grid_days": 8,
            "within_limit": True,
            "provisional": False,
        }

    async def test_no_skipping_no_rerunning(self, clerk, clock):
        number = (await create(clerk))["application"]["number"]
        skipped = await complete(clerk, number, "completion_inspection")
        assert skipped.status_code == 409
        assert skipped.json()["code"] == "stage_not_reached"
        foreign = await complete(clerk, number, "design_review")
        assert foreign.json()["code"] == "stage_not_in_process"
        clock.set("2025-10-09 09:00")
        assert (await complete(clerk, number, "acceptance")).status_code == 200
        rerun = await complete(clerk, number, "acceptance")
        assert rerun.status_code == 409
        assert rerun.json()["code"] == "stage_already_completed"
        unknown = await complete(clerk, number, "inspection")
        assert unknown.status_code == 422

    async def test_the_server_clock_cannot_go_back(self, clerk, clock):
        number = (await create(clerk))["application"]["number"]
        clock.set("2025-09-29 10:00")
        response = await complete(clerk, number, "acceptance")
        assert response.status_code == 409
        assert response.json()["code"] == "server_clock_behind"

    async def test_the_caller_cannot_stamp_a_completion(self, clerk, clock):
        number = (await create(clerk))["application"]["number"]
        response = await complete(
            clerk, number, "acceptance", completed_at="2025-09-30T11:00:00+08:00"
        )
        assert response.status_code == 422

    async def test_after_connection_nothing_moves(self, clerk, clock):
        number = (
            await create(clerk, site={"address": "x", "area_class": "rural", **CONNECTION_POINT})
        )["application"]["number"]
        for name in ("acceptance", "supply_plan", "completion_inspection", "connection"):
            assert (await complete(clerk, number, name)).status_code == 200
        again = await clerk.post(f"/applications/{number}/pause", json={"reason": "customer_works"})
        assert again.status_code == 409
        assert again.json()["code"] == "application_ended"

    async def test_another_units_clerk_cannot_operate(self, clerk, other_clerk, clock):
        number = (await create(clerk))["application"]["number"]
        response = await complete(other_clerk, number, "acceptance")
        assert response.status_code == 403
        assert response.json()["code"] == "not_your_unit"
        assert (await other_clerk.get(f"/applications/{number}")).status_code == 403


class TestAcrossSpringFestival:
    async def test_a_residential_connection(self, clerk, clock):
        clock.set("2026-02-13 10:00")  # Friday before the 2026 Spring Festival
        number = await create_rural_home(clerk, **CONNECTION_POINT)
        detail = (await clerk.get(f"/applications/{number}")).json()
        assert detail["clock"]["due_date"] == "2026-02-14"  # Saturday, a make-up working day
        clock.set("2026-02-14 11:00")
        application = (await complete(clerk, number, "signing")).json()
        # 施工接电 2 days: 02-15..23 is the holiday, so 02-24 and 02-25.
        assert application["clock"]["due_date"] == "2026-02-25"
        clock.set("2026-02-25 17:00")
        application = (await complete(clerk, number, "construction_connection")).json()
        assert application["total"]["grid_days"] == 3
        assert application["total"]["within_limit"] is True


class TestPauses:
    async def test_a_pause_for_missing_material_moves_the_due_date(self, clerk, clock):
        clock.set("2025-09-30 10:00")
        number = (await create(clerk))["application"]["number"]
        clock.set("2025-10-09 09:00")
        await complete(clerk, number, "acceptance")
        clock.set("2025-10-10 09:00")
        paused = await clerk.post(
            f"/applications/{number}/pause",
            json={"reason": "missing_material", "note": "请补充用电设备清单"},
        )
        assert paused.status_code == 200, paused.text
        assert paused.json()["status"] == "paused"
        assert paused.json()["clock"] is None
        blocked = await complete(clerk, number, "supply_plan")
        assert blocked.json()["code"] == "application_paused"
        twice = await clerk.post(f"/applications/{number}/pause", json={"reason": "customer_works"})
        assert twice.json()["code"] == "application_paused"

        clock.set("2025-10-14 10:00")  # 10-11 (make-up Saturday), 10-13, 10-14: 3 days paused
        resumed = (await clerk.post(f"/applications/{number}/resume", json={})).json()
        assert resumed["status"] == "open"
        assert resumed["pauses"][0]["days"] == 3
        assert resumed["pauses"][0]["reason_label"] == "等待客户补充资料"
        # 10-15 was the due date; three paused working days later: 10-16, 10-17, 10-20.
        assert resumed["clock"]["due_date"] == "2025-10-20"
        clock.set("2025-10-20 16:00")
        done = (await complete(clerk, number, "supply_plan")).json()
        assert stage(done, "供电方案答复")["time"] == {
            "limit_days": 5,
            "elapsed_days": 8,
            "paused_days": 3,
            "grid_days": 5,
            "within_limit": True,
            "provisional": False,
        }
        assert done["total"]["paused_days"] == 3

    async def test_resume_needs_a_pause(self, clerk, clock):
        number = (await create(clerk))["application"]["number"]
        response = await clerk.post(f"/applications/{number}/resume", json={})
        assert response.json()["code"] == "application_not_paused"

    async def test_closing_while_paused_keeps_the_paused_days(self, clerk, clock):
        clock.set("2025-09-30 10:00")
        number = (await create(clerk))["application"]["number"]
        await clerk.post(f"/applications/{number}/pause", json={"reason": "customer_postponed"})
        clock.set("2025-10-10 10:00")
        closed = await clerk.post(f"/applications/{number}/close", json={"reason": "客户撤回申请"})
        assert closed.status_code == 200, closed.text
        body = closed.json()
        assert body["status"] == "closed"
        assert body["pauses"][0]["days"] == 2  # 10-09 and 10-10
        assert body["pauses"][0]["ended_by"] == "clerk-wang"
        assert body["total"]["paused_days"] == 2
        assert body["total"]["grid_days"] == 0
        again = await clerk.post(f"/applications/{number}/close", json={"reason": "再次"})
        assert again.json()["code"] == "application_ended"

    async def test_an_open_pause_is_counted_up_to_today(self, clerk, clock):
        clock.set("2025-09-30 10:00")
        number = (await create(clerk))["application"]["number"]
        await clerk.post(f"/applications/{number}/pause", json={"reason": "customer_works"})
        clock.set("2025-10-13 10:00")
        detail = (await clerk.get(f"/applications/{number}")).json()
        assert detail["pauses"][0]["days"] == 4  # 10-09, 10-10, 10-11, 10-13
        assert detail["total"]["paused_days"] == 4
        assert detail["total"]["grid_days"] == 0
        assert stage(detail, "业务受理")["time"]["paused_days"] == 4
