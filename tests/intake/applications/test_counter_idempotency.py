"""Counter applications with an Idempotency-Key (幂等): a retry gets the first answer, once."""

from sqlalchemy import func, select

from services.intake.applications.models import Application
from tests.intake.conftest import application_body


async def count_applications(apps) -> int:
    from shared.db import session_scope

    async with session_scope(apps.intake.state.engine) as session:
        return (await session.exec(select(func.count()).select_from(Application))).one()[0]


class TestCounterIdempotency:
    async def test_a_retry_gets_the_first_answer_and_no_second_application(self, clerk, apps):
        headers = {"Idempotency-Key": "counter-1"}
        first = await clerk.post("/applications", json=application_body(), headers=headers)
        assert first.status_code == 201, first.text
        again = await clerk.post("/applications", json=application_body(), headers=headers)
        assert again.status_code == 201
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.json() == first.json()  # the same number and query code
        assert "Idempotent-Replayed" not in first.headers
        assert await count_applications(apps) == 1

    async def test_the_same_key_on_another_body_is_refused(self, clerk, apps):
        headers = {"Idempotency-Key": "counter-2"}
        first = await clerk.post("/applications", json=application_body(), headers=headers)
        assert first.status_code == 201
        other = await clerk.post(
            "/applications", json=application_body(capacity_kw="900"), headers=headers
        )
        assert other.status_code == 409
        assert other.json()["code"] == "idempotency_key_reused"
        assert await count_applications(apps) == 1

    async def test_keys_belong_to_their_clerk(self, clerk, intake, apps):
        from shared.auth import Role
        from tests.conftest import client_for
        from tests.intake.conftest import DONGYING_UNIT, staff_token

        token = await staff_token(apps, "clerk-zhou", Role.clerk, (DONGYING_UNIT,))
        headers = {"Idempotency-Key": "counter-3"}
        assert (
            await clerk.post("/applications", json=application_body(), headers=headers)
        ).status_code == 201
        async with client_for(intake, token) as colleague:
            theirs = await colleague.post("/applications", json=application_body(), headers=headers)
        assert theirs.status_code == 201
        assert "Idempotent-Replayed" not in theirs.headers
        assert await count_applications(apps) == 2

    async def test_without_a_key_each_post_is_an_application(self, clerk, apps):
        for _ in range(2):
            assert (await clerk.post("/applications", json=application_body())).status_code == 201
        assert await count_applications(apps) == 2

    async def test_a_refused_request_stores_nothing(self, clerk, apps):
        headers = {"Idempotency-Key": "counter-4"}
        bad = await clerk.post(
            "/applications", json=application_body(unit="无此单位"), headers=headers
        )
        assert bad.status_code in (403, 422), bad.text
        good = await clerk.post("/applications", json=application_body(), headers=headers)
        assert good.status_code == 201
        assert "Idempotent-Replayed" not in good.headers

    async def test_a_malformed_key_is_a_400(self, clerk):
        response = await clerk.post(
            "/applications", json=application_body(), headers={"Idempotency-Key": "has space"}
        )
        assert response.status_code == 400
        assert response.json()["code"] == "idempotency_key_invalid"
