"""Policy versions over HTTP: anyone reads them; an administrator adds validated versions."""

import copy
from datetime import UTC, datetime

import pytest

from services.intake.policies import service
from services.intake.policies.models import PolicyVersionCreate, TimeLimitPolicy
from services.intake.policies.service import reference_versions
from shared.db import session_scope


def new_version(**changes):
    body = reference_versions()[0].model_dump(
        mode="json", exclude={"origin", "created_at", "created_by"}
    )
    body = copy.deepcopy(body)
    body.update(code="dongying-2027", effective_from="2027-01-01", title="2027 年时限目标")
    body.update(changes)
    return body


class TestReading:
    async def test_list_is_public(self, anonymous):
        response = await anonymous.get("/policies")
        assert response.status_code == 200
        assert [v["code"] for v in response.json()] == [
            "dongying-2020",
            "jingyu-2020",
            "jingyu-2021",
            "jingyu-2022",
        ]
        assert {v["origin"] for v in response.json()} == {"reference"}

    async def test_in_force_on_a_date(self, anonymous):
        response = await anonymous.get(
            "/policies/in-force", params={"jurisdiction": "jingyu", "on": "2021-06-30"}
        )
        assert response.json()["code"] == "jingyu-2021"

    async def test_before_the_first_version(self, anonymous):
        response = await anonymous.get(
            "/policies/in-force", params={"jurisdiction": "dongying", "on": "2019-06-30"}
        )
        assert response.status_code == 422
        assert response.json()["code"] == "no_policy_in_force"

    async def test_unknown_jurisdiction_and_code(self, anonymous):
        response = await anonymous.get(
            "/policies/in-force", params={"jurisdiction": "atlantis", "on": "2025-01-01"}
        )
        assert response.json()["code"] == "unknown_jurisdiction"
        assert (await anonymous.get("/policies/nope")).json()["code"] == "policy_not_found"


class TestAdding:
    async def test_admin_adds_a_version_that_then_is_in_force(self, intake_admin, anonymous):
        body = new_version()
        body["entries"][2]["stages"][1]["limit_days"] = 2  # 供电方案答复 for non-三零 low voltage
        body["entries"][2]["total_days"] = 4
        response = await intake_admin.post("/policies", json=body)
        assert response.status_code == 201, response.text
        assert response.json()["origin"] == "admin"
        assert response.json()["created_by"] == "admin"
        in_force = await anonymous.get(
            "/policies/in-force", params={"jurisdiction": "dongying", "on": "2027-03-01"}
        )
        assert in_force.json()["code"] == "dongying-2027"
        before = await anonymous.get(
            "/policies/in-force", params={"jurisdiction": "dongying", "on": "2026-12-31"}
        )
        assert before.json()["code"] == "dongying-2020"

    async def test_only_an_admin(self, clerk):
        response = await clerk.post("/policies", json=new_version())
        assert response.status_code == 403
        assert response.json()["code"] == "admin_required"

    async def test_anonymous_is_401(self, anonymous):
        assert (await anonymous.post("/policies", json=new_version())).status_code == 401

    @pytest.mark.parametrize(
        ("mutate", "code", "field"),
        [
            (
                lambda b: b["entries"][3].update(total_days=9),
                "limits_sum_mismatch",
                "entries.3.total_days",
            ),
            (
                lambda b: b["entries"][0]["stages"].append(
                    {"stage": "connection", "limit_days": 1}
                ),
                "mixed_stage_families",
                "entries.0.stages",
            ),
            (lambda b: b["entries"][4]["stages"].reverse(), "stage_order", "entries.4.stages"),
            (lambda b: b["entries"][3]["stages"].pop(), "stage_bounds", "entries.3.stages"),
            (
                # the merged four's 外部工程实施 is not a stage of the standard six
                lambda b: b["entries"][3]["stages"][2].update(stage="external_works"),
                "mixed_stage_families",
                "entries.3.stages",
            ),
            (
                # the merged four end with 竣工验收及装表接电
                lambda b: b["entries"][3].update(
                    stages=[
                        {"stage": "acceptance", "limit_days": 1},
                        {"stage": "supply_plan", "limit_days": 5},
                        {"stage": "external_works", "limit_days": 2},
                    ]
                ),
                "stage_bounds",
                "entries.3.stages",
            ),
            (
                lambda b: b["entries"][3]["stages"][0].update(limit_days=None),
                "partial_stage_limits",
                "entries.3.stages",
            ),
            (
                lambda b: b["entries"][3].update(no_works_total_days=1),
                "no_works_not_low_voltage",
                "entries.3.no_works_total_days",
            ),
            (lambda b: b["entries"].pop(), "missing_customer_types", "entries"),
            (
                lambda b: b["entries"].__setitem__(6, copy.deepcopy(b["entries"][0])),
                "duplicate_customer_type",
                "entries.6.customer_type",
            ),
        ],
    )
    async def test_inconsistent_versions_are_refused(
        self, intake_admin, anonymous, mutate, code, field
    ):
        body = new_version()
        mutate(body)
        response = await intake_admin.post("/policies", json=body)
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "invalid_policy"
        assert (field, code) in [(e["field"], e["code"]) for e in response.json()["errors"]]
        assert len((await anonymous.get("/policies")).json()) == 4

    async def test_a_caller_cannot_set_the_origin_or_creation_time(self, intake_admin):
        response = await intake_admin.post(
            "/policies", json=new_version(created_at="2020-01-01T00:00:00Z")
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "created_at"

    async def test_duplicate_code_and_date(self, intake_admin):
        taken = await intake_admin.post("/policies", json=new_version(code="dongying-2020"))
        assert taken.status_code == 409
        assert taken.json()["code"] == "policy_code_exists"
        same_day = await intake_admin.post(
            "/policies", json=new_version(effective_from="2020-01-01")
        )
        assert same_day.status_code == 409
        assert same_day.json()["code"] == "policy_date_taken"


class TestVersionsReadOnce:
    """Accepting reads the added versions again only when their signature (how many, the
    newest id) changed: the process that adds one sees it at once, and so does another replica,
    also for a version back-dated to re-judge what was accepted since."""

    async def test_a_version_added_here_is_in_force_at_once(self, intake_admin, anonymous):
        on = {"jurisdiction": "dongying", "on": "2027-03-01"}
        assert (await anonymous.get("/policies/in-force", params=on)).json()["code"] == (
            "dongying-2020"
        )
        assert (await intake_admin.post("/policies", json=new_version())).status_code == 201
        assert (await anonymous.get("/policies/in-force", params=on)).json()["code"] == (
            "dongying-2027"
        )

    async def test_one_added_by_another_replica_is_seen_by_the_next_request(
        self, intake, anonymous
    ):
        on = {"jurisdiction": "dongying", "on": "2027-03-01"}
        assert (await anonymous.get("/policies/in-force", params=on)).json()["code"] == (
            "dongying-2020"
        )
        body = PolicyVersionCreate.model_validate(new_version())
        async with session_scope(intake.state.engine) as session:  # as another process would
            session.add(
                TimeLimitPolicy(
                    **body.model_dump(exclude={"entries"}),
                    entries=[e.model_dump(mode="json") for e in body.entries],
                    created_by="admin",
                    created_at=datetime(2026, 12, 1, tzinfo=UTC),
                )
            )
        assert (await anonymous.get("/policies/in-force", params=on)).json()["code"] == (
            "dongying-2027"
        )

    async def test_made_up_jurisdictions_are_not_kept(self, intake, anonymous):
        for name in ("nowhere-1", "nowhere-2"):
            answer = await anonymous.get(
                "/policies/in-force", params={"jurisdiction": name, "on": "2027-03-01"}
            )
            assert answer.status_code == 404
        kept = service._read.get(intake.state.engine.sync_engine, {})
        assert not {"nowhere-1", "nowhere-2"} & set(kept)
