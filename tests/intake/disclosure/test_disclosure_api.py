"""Information disclosure (信息公开): anyone reads it without signing in, in Chinese, under the
policies in force on the day; the grid capacity is the one staff keep."""

from tests.intake.conftest import DONGYING_UNIT, JINGYU_UNIT


def process(body, customer_type):
    return next(p for p in body["processes"] if p["customer_type"] == customer_type)


class TestDisclosure:
    async def test_processes_limits_documents_fees_and_both_hotlines(self, anonymous, clock):
        response = await anonymous.get(
            "/public/disclosure", params={"jurisdiction": "dongying", "on": "2025-09-30"}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["policy_code"], body["as_of"]) == ("dongying-2020", "2025-09-30")
        hv10 = process(body, "hv10_single")
        assert hv10["name"] == "10千伏单电源用户"
        assert hv10["total_days"] == 8
        assert [(s["name"], s["limit_days"]) for s in hv10["stages"]] == [
            ("业务受理", 1),
            ("供电方案答复", 5),
            ("竣工检验", 1),
            ("装表接电", 1),
        ]
        assert [d["name"] for d in hv10["stages"][0]["documents"]] == [
            "有效身份证明",
            "产权证明",
            "项目批准文件",
        ]
        assert process(body, "residential")["stage_count"] == 2
        assert {h["number"] for h in body["hotlines"]} == {"95598", "12398"}
        assert "移表费" in body["fees"]["banned"]
        # The statutory list the allow-list enforces is public too, each with its legal basis.
        statutory = {f["name"]: f["basis"] for f in body["fees"]["statutory"]}
        assert set(statutory) == {"高可靠性供电费", "临时接电费"}
        assert all("发改价格" in basis for basis in statutory.values())
        assert "清单" in body["fees"]["statutory_rule"]
        assert [f["code"] for f in body["fees"]["extended_services"]] == [
            "receiving_equipment_lease",
            "receiving_works_maintenance",
            "receiving_works_cost_consulting",
        ]
        assert body["channels"]
        three_zero = body["three_zero"]
        assert three_zero["policy_code"] == "dongying-2021-06"
        assert [(lim["category_label"], lim["urban_kw"]) for lim in three_zero["limits"]] == [
            ("居民用户", "160"),
            ("小微企业等低压非居民用户", "160"),
        ]

    async def test_the_policy_in_force_on_the_day(self, anonymous, clock):
        async def on(day):
            params = {"jurisdiction": "jingyu", "on": day}
            return (await anonymous.get("/public/disclosure", params=params)).json()

        before, early, later = (
            await on("2020-06-01"),
            await on("2021-03-01"),
            await on("2023-03-01"),
        )
        assert process(early, "low_voltage_three_zero")["total_days"] == 20
        assert process(later, "low_voltage_three_zero")["total_days"] == 15
        assert before["three_zero"] is None  # the plan sets no 零投资 limit for 2020
        # 2021's targets (20 working days, 零投资 up to 100 kW in the countryside) are 2021's
        # standard from 1 January, read alike.
        early_rural = {lim["category"]: lim["rural_kw"] for lim in early["three_zero"]["limits"]}
        assert early_rural["small_micro_enterprise"] == "100"
        rural = {lim["category"]: lim["rural_kw"] for lim in later["three_zero"]["limits"]}
        assert rural["small_micro_enterprise"] == "160"

    async def test_jingyus_merged_stages_are_published_with_their_documents(self, anonymous, clock):
        params = {"jurisdiction": "jingyu", "on": "2025-11-03"}
        body = (await anonymous.get("/public/disclosure", params=params)).json()
        stages = process(body, "hv10_dual")["stages"]
        assert [(s["name"], s["limit_text"]) for s in stages] == [
            ("业务受理", "计入合计时限"),
            ("供电方案答复", "计入合计时限"),
            ("外部工程实施", "计入合计时限"),
            ("竣工验收及装表接电", "计入合计时限"),
        ]
        assert [d["name"] for d in stages[2]["documents"]] == []
        assert [d["name"] for d in stages[3]["documents"]] == ["工程竣工报告（含竣工图纸）"]
        low = process(body, "low_voltage")["stages"]
        assert [s["name"] for s in low] == ["业务受理", "供电方案答复", "装表接电"]

    async def test_today_by_default_on_the_server_clock(self, anonymous, clock):
        clock.set("2026-02-16 10:00")
        body = (
            await anonymous.get("/public/disclosure", params={"jurisdiction": "dongying"})
        ).json()
        assert body["as_of"] == "2026-02-16"

    async def test_unknown_or_missing_jurisdiction(self, anonymous, clock):
        unknown = await anonymous.get("/public/disclosure", params={"jurisdiction": "atlantis"})
        assert (unknown.status_code, unknown.json()["code"]) == (404, "unknown_jurisdiction")
        assert (await anonymous.get("/public/disclosure")).status_code == 422


class TestCapacity:
    async def test_areas_and_the_capacity_limited_ones(self, anonymous, clerk, intake_admin, clock):
        clock.set("2025-09-30 10:00")
        for name, kva, limited in (("府前1号台区", "630", False), ("黄河路台区", "0", True)):
            await clerk.post(
                "/grid-areas",
                json={
                    "unit": DONGYING_UNIT,
                    "name": name,
                    "available_kva": kva,
                    "capacity_limited": limited,
                },
            )
        await intake_admin.post(
            "/grid-areas",
            json={
                "unit": JINGYU_UNIT,
                "name": "靖宇镇",
                "available_kva": "200",
                "in_grid_plan": False,
            },
        )
        response = await anonymous.get("/public/capacity")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["title"] == "配电网接入能力及容量受限情况"
        assert [(a["name"], a["available_kva"], a["status_label"]) for a in body["areas"]] == [
            ("靖宇镇", "200.00", "未纳入电网规划"),
            ("府前1号台区", "630.00", "可开放"),
            ("黄河路台区", "0.00", "容量受限"),
        ]
        assert [a["name"] for a in body["limited_areas"]] == ["靖宇镇", "黄河路台区"]
        assert "clerk-wang" not in response.text  # who maintains it is internal
        one_unit = (await anonymous.get("/public/capacity", params={"unit": DONGYING_UNIT})).json()
        assert [a["name"] for a in one_unit["areas"]] == ["府前1号台区", "黄河路台区"]
