"""Accepting applications (受理): channel, policy in force, the clock from the Beijing day."""

import pytest

from tests.intake.conftest import application_body, create, valid_resident_id


class TestAccepting:
    async def test_a_10kv_single_supply_application_before_national_day(self, clerk, clock):
        clock.set("2025-09-30 10:00")
        body = await create(clerk)
        application = body["application"]
        assert application["number"] == f"BZ20250930{application['number'][-6:]}"
        assert len(body["query_code"]) == 8
        assert application["policy_code"] == "dongying-2020"
        assert application["supervising_unit"] == "市发展改革委"
        assert application["clerk"] == "clerk-wang"
        assert application["channel"] == "counter"
        assert application["status"] == "open"
        assert application["accepted_at"] == "2025-09-30T10:00:00+08:00"
        assert [
            (s["label"], s["state"], s["time"] and s["time"]["limit_days"])
            for s in application["stages"]
        ] == [
            ("业务受理", "open", 1),
            ("供电方案答复", "pending", None),
            ("竣工检验", "pending", None),
            ("装表接电", "pending", None),
        ]
        # One working day after 09-30 is 10-09: 10-01..08 is the National Day holiday.
        assert application["clock"] == {
            "basis": "stage",
            "limit_days": 1,
            "due_date": "2025-10-09",
            "at_risk_from": "2025-10-01",
            "provisional": False,
            "state": "on_time",
            "remaining_days": 1,
        }
        assert application["total"]["limit_days"] == 8

    @pytest.mark.parametrize(
        ("beijing_time", "due"),
        [
            ("2025-09-29 23:30", "2025-09-30"),  # still Monday 09-29 in Beijing (15:30 UTC)
            ("2025-09-30 00:30", "2025-10-09"),  # Tuesday 09-30 in Beijing, Monday in UTC
        ],
    )
    async def test_the_working_day_is_the_beijing_date(self, clerk, clock, beijing_time, due):
        clock.set(beijing_time)
        application = (await create(clerk))["application"]
        assert application["clock"]["due_date"] == due

    async def test_the_channel_is_the_customers_choice(self, clerk, clock):
        for channel in ("portal", "online", "counter"):
            assert (await create(clerk, channel=channel))["application"]["channel"] == channel
        response = await clerk.post("/applications", json=application_body(channel="wechat"))
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "channel"

    async def test_the_clerk_sees_personal_data_unmasked(self, clerk, clock):
        application = (await create(clerk))["application"]
        assert application["applicant"]["mobile"] == "13800138000"

    async def test_a_residential_user_without_works_connects_next_working_day(self, clerk, clock):
        clock.set("2025-09-30 16:00")
        person = {
            "name": "张三",
            "id_kind": "resident_id",
            "id_number": valid_resident_id(),
            "mobile": "+86 139-0000-1234",
        }
        application = (
            await create(
                clerk,
                customer_type="residential",
                has_works=False,
                applicant=person,
                capacity_kw="8",
            )
        )["application"]
        assert application["applicant"]["mobile"] == "13900001234"
        assert [s["label"] for s in application["stages"]] == ["受理签约", "施工接电"]
        assert application["clock"]["basis"] == "total"
        assert application["clock"]["limit_days"] == 1
        assert application["clock"]["due_date"] == "2025-10-09"  # 当日申请，次日接电
        assert application["total"]["limit_days"] == 1

    async def test_jingyu_judges_the_three_zero_total_by_the_year(self, intake, apps, clock):
        from shared.auth import Role
        from tests.conftest import client_for
        from tests.intake.conftest import JINGYU_UNIT, staff_token

        token = await staff_token(apps, "clerk-li", Role.clerk, (JINGYU_UNIT,))
        async with client_for(intake, token) as jingyu:
            for day, total in (("2021-03-01 09:00", 20), ("2022-03-01 09:00", 15)):
                clock.set(day)
                application = (
                    await create(
                        jingyu,
                        jurisdiction="jingyu",
                        unit=JINGYU_UNIT,
                        customer_type="low_voltage_three_zero",
                        capacity_kw="100",
                    )
                )["application"]
                assert application["supervising_unit"] == "营销部"
                assert application["clock"]["basis"] == "total"
                assert application["clock"]["limit_days"] == total


class TestRefused:
    async def test_bad_identifiers_name_each_field(self, clerk, clock):
        applicant = {
            "name": "李四",
            "id_kind": "resident_id",
            "id_number": "370502198001011230",
            "mobile": "12345",
        }
        response = await clerk.post("/applications", json=application_body(applicant=applicant))
        assert response.status_code == 422
        fields = {e["field"]: e["code"] for e in response.json()["errors"]}
        assert fields["applicant.mobile"] == "invalid_mobile"
        assert "applicant.id_number" in fields
        assert (await clerk.get("/applications")).json()["total"] == 0

    async def test_a_mobile_is_refused_as_notify_refuses_it(self, clerk, clock):
        applicant = {**application_body()["applicant"], "mobile": "12345678901"}
        response = await clerk.post("/applications", json=application_body(applicant=applicant))
        assert response.status_code == 422
        assert [(e["field"], e["code"], e["message"]) for e in response.json()["errors"]] == [
            ("applicant.mobile", "invalid_mobile", "手机号码应为以13-19开头的11位数字")
        ]

    async def test_a_credit_code_with_a_wrong_check_character(self, clerk, clock):
        applicant = {**application_body()["applicant"], "id_number": "91370500MA3C123450"}
        response = await clerk.post("/applications", json=application_body(applicant=applicant))
        assert response.json()["errors"][0] == {
            "field": "applicant.id_number",
            "code": "bad_check_character",
            "message": "统一社会信用代码校验位错误，请核对后重新填写",
        }

    async def test_only_low_voltage_connects_without_works(self, clerk, clock):
        response = await clerk.post("/applications", json=application_body(has_works=False))
        assert response.json()["errors"][0]["code"] == "no_works_not_low_voltage"

    async def test_three_zero_is_up_to_160_kw(self, clerk, clock):
        response = await clerk.post(
            "/applications",
            json=application_body(customer_type="low_voltage_three_zero", capacity_kw="200"),
        )
        assert response.json()["errors"][0]["code"] == "three_zero_over_160kw"

    async def test_another_units_application(self, clerk, clock):
        response = await clerk.post("/applications", json=application_body(unit="国网胜利供电公司"))
        assert response.status_code == 403
        assert response.json()["code"] == "not_your_unit"

    async def test_no_policy_in_force_or_unknown_jurisdiction(self, clerk, clock):
        assert (
            await clerk.post("/applications", json=application_body(jurisdiction="atlantis"))
        ).json()["code"] == "unknown_jurisdiction"
        clock.set("2019-12-31 10:00")
        assert (await clerk.post("/applications", json=application_body())).json()[
            "code"
        ] == "no_policy_in_force"

    async def test_the_caller_cannot_stamp_the_time(self, clerk, clock):
        response = await clerk.post(
            "/applications", json=application_body(accepted_at="2025-09-01T08:00:00+08:00")
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "accepted_at"

    async def test_clerks_only(self, intake_admin, supervisor, anonymous, clock):
        for client in (intake_admin, supervisor):
            response = await client.post("/applications", json=application_body())
            assert response.status_code == 403
            assert response.json()["code"] == "clerk_required"
        assert (await anonymous.post("/applications", json=application_body())).status_code == 401
