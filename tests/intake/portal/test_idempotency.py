"""Every portal POST honours an Idempotency-Key: a retry returns the first answer and does
nothing; the key on another request is refused; a failure stores nothing."""

import asyncio
from datetime import timedelta

from sqlmodel import select

from services.intake.idempotency import IdempotencyRecord
from services.intake.portal.jobs import run_housekeeping
from services.intake.portal.models import PreApplication
from shared.db import session_scope
from tests.intake.portal.conftest import new_portal_key, post, project_body, signed_client


async def rows(intake, model):
    async with session_scope(intake.state.engine) as session:
        return (await session.exec(select(model))).all()


class TestTheKey:
    async def test_portal_posts_need_one(self, portal):
        missing = await portal.post("/portal/projects", json=project_body())
        assert missing.status_code == 400
        assert missing.json()["code"] == "idempotency_key_required"
        blank = await post(portal, "/portal/projects", project_body(), key=" ")
        assert blank.json()["code"] == "idempotency_key_required"
        too_long = await post(portal, "/portal/projects", project_body(), key="k" * 201)
        assert (too_long.status_code, too_long.json()["code"]) == (400, "idempotency_key_invalid")


class TestRetries:
    async def test_a_retry_gets_the_first_answer(self, intake, portal, clock):
        first = await post(portal, "/portal/projects", project_body(), key="push-0001")
        assert first.status_code == 201, first.text
        assert "idempotent-replayed" not in first.headers
        clock.moment += timedelta(minutes=5)
        retry = await post(portal, "/portal/projects", project_body(), key="push-0001")
        assert retry.status_code == 201
        assert retry.headers["idempotent-replayed"] == "true"
        assert retry.json() == first.json()
        assert len(await rows(intake, PreApplication)) == 1

    async def test_the_key_on_another_request_is_refused(self, portal):
        await post(portal, "/portal/projects", project_body(), key="push-0002")
        other = await post(
            portal, "/portal/projects", project_body(expected_load_kw="900"), key="push-0002"
        )
        assert other.status_code == 409
        assert other.json()["code"] == "idempotency_key_reused"

    async def test_keys_belong_to_one_portal(self, intake, portal, clock):
        await post(portal, "/portal/projects", project_body(), key="shared-key")
        other_key = await new_portal_key(intake, "工程建设项目审批平台")
        async with signed_client(intake, other_key, clock) as other:
            response = await post(other, "/portal/projects", project_body(), key="shared-key")
        assert response.status_code == 200  # its own first answer: the project, updated
        assert "idempotent-replayed" not in response.headers

    async def test_a_refused_request_stores_nothing(self, intake, portal):
        bad = project_body(builder_credit_code="91370502MA3C8T1Q2X")
        assert (await post(portal, "/portal/projects", bad, key="push-0003")).status_code == 422
        assert await rows(intake, IdempotencyRecord) == []
        fixed = await post(portal, "/portal/projects", project_body(), key="push-0003")
        assert fixed.status_code == 201, fixed.text

    async def test_concurrent_duplicates_do_it_once(self, intake, portal):
        answers = await asyncio.gather(
            *(post(portal, "/portal/projects", project_body(), key="push-0004") for _ in range(3))
        )
        assert sorted(a.status_code for a in answers) == [201, 201, 201]
        assert sorted(a.headers.get("idempotent-replayed", "") for a in answers) == [
            "",
            "true",
            "true",
        ]
        assert len({a.text for a in answers}) == 1
        assert len(await rows(intake, PreApplication)) == 1
        assert len(await rows(intake, IdempotencyRecord)) == 1

    async def test_answers_are_kept_a_day(self, intake, portal, clock):
        await post(portal, "/portal/projects", project_body(), key="push-0005")
        clock.moment += timedelta(hours=23)
        assert (await run_housekeeping(intake))[1] == 0
        replay = await post(portal, "/portal/projects", project_body(), key="push-0005")
        assert replay.headers["idempotent-replayed"] == "true"
        clock.moment += timedelta(hours=2)
        assert (await run_housekeeping(intake))[1] == 1
        again = await post(portal, "/portal/projects", project_body(), key="push-0005")
        assert again.status_code == 200  # done again: the project is updated, not replayed
        assert "idempotent-replayed" not in again.headers
