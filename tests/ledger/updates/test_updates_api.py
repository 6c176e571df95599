import hashlib

from tests.ledger.ledgers.test_items_api import item_id


def update_form(status="in_progress", progress="40", narrative="已完成方案编制"):
    return {"status": status, "progress": progress, "narrative": narrative}


class TestPostUpdate:
    async def test_head_updates_an_item_of_their_unit(self, power_head, seeded):
        target = await item_id(power_head, "dongying-2021", 7)
        response = await power_head.post(f"/items/{target}/updates", data=update_form())
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["status"] == "in_progress"
        assert body["status_label"] == "推进中"
        assert body["author"] == "power"
        assert body["unit"] == "各供电企业"
        assert body["created_at"].endswith("+08:00")  # shown in Beijing time

    async def test_head_cannot_update_another_units_item(self, power_head, seeded):
        # Item 63 belongs to 各电力主管部门 alone.
        target = await item_id(power_head, "dongying-2021", 63)
        response = await power_head.post(f"/items/{target}/updates", data=update_form())
        assert response.status_code == 403
        assert response.json()["code"] == "not_responsible"

    async def test_supporting_unit_may_update(self, power_head, seeded):
        target = await item_id(power_head, "dongying-2021", 29)
        response = await power_head.post(f"/items/{target}/updates", data=update_form())
        assert response.status_code == 201

    async def test_viewer_and_admin_cannot_post(self, viewer, admin, seeded):
        target = await item_id(viewer, "dongying-2021", 7)
        for client in (viewer, admin):
            response = await client.post(f"/items/{target}/updates", data=update_form())
            assert response.status_code == 403
            assert response.json()["code"] == "role_required"

    async def test_server_stamps_author_and_time(self, power_head, seeded):
        target = await item_id(power_head, "dongying-2021", 7)
        form = {**update_form(), "author": "someone-else", "created_at": "2020-01-01T00:00:00Z"}
        body = (await power_head.post(f"/items/{target}/updates", data=form)).json()
        assert body["author"] == "power"
        assert not body["created_at"].startswith("2020")

    async def test_bad_input_names_the_field(self, power_head, seeded):
        target = await item_id(power_head, "dongying-2021", 7)
        response = await power_head.post(
            f"/items/{target}/updates", data=update_form(status="finished", progress="140")
        )
        assert response.status_code == 422
        assert {e["field"] for e in response.json()["errors"]} == {"status", "progress"}

    async def test_done_needs_full_progress(self, power_head, seeded):
        target = await item_id(power_head, "dongying-2021", 7)
        response = await power_head.post(
            f"/items/{target}/updates", data=update_form(status="done", progress="90")
        )
        assert response.status_code == 422
        assert response.json()["code"] == "done_needs_full_progress"

    async def test_missing_item_is_404(self, power_head, seeded):
        response = await power_head.post("/items/999999/updates", data=update_form())
        assert response.status_code == 404


class TestHistory:
    async def test_updates_are_appended_and_latest_wins(self, power_head, seeded):
        target = await item_id(power_head, "dongying-2021", 7)
        await power_head.post(f"/items/{target}/updates", data=update_form(progress="40"))
        await power_head.post(
            f"/items/{target}/updates",
            data=update_form(status="done", progress="100", narrative="已上线"),
        )
        await power_head.post(
            f"/items/{target}/updates",
            data=update_form(progress="90", narrative="更正：尚未全部上线"),
        )
        item = (await power_head.get(f"/items/{target}")).json()
        assert [h["progress"] for h in item["history"]] == [40, 100, 90]
        assert item["status"] == "in_progress"
        assert item["progress"] == 90
        assert item["latest_narrative"] == "更正：尚未全部上线"

    async def test_no_update_can_be_edited_or_deleted(self, power_head, seeded):
        target = await item_id(power_head, "dongying-2021", 7)
        update = (await power_head.post(f"/items/{target}/updates", data=update_form())).json()
        for method in ("PUT", "PATCH", "DELETE"):
            response = await power_head.request(method, f"/items/{target}/updates/{update['id']}")
            assert response.status_code in (404, 405)

    async def test_done_item_is_not_overdue(self, power_head, seeded):
        target = await item_id(power_head, "dongying-2021", 7)
        await power_head.post(
            f"/items/{target}/updates", data=update_form(status="done", progress="100")
        )
        item = (await power_head.get(f"/items/{target}")).json()
        assert item["overdue"] is False
        assert item["status"] == "done"

    async def test_update_after_as_of_is_not_counted(self, power_head, seeded):
        target = await item_id(power_head, "dongying-2021", 7)
        await power_head.post(
            f"/items/{target}/updates", data=update_form(status="done", progress="100")
        )
        item = (await power_head.get(f"/items/{target}", params={"as_of": "2021-07-01"})).json()
        assert item["status"] == "not_started"
        assert item["overdue"] is True


class TestEvidence:
    async def test_files_are_kept_and_downloadable(self, power_head, seeded):
        target = await item_id(power_head, "dongying-2021", 7)
        pdf = b"%PDF-1.4 evidence of e-licences"
        response = await power_head.post(
            f"/items/{target}/updates",
            data=update_form(),
            files=[
                ("files", ("电子证照推广.pdf", pdf, "application/pdf")),
                ("files", ("photo.jpg", b"\xff\xd8jpeg", "image/jpeg")),
            ],
        )
        assert response.status_code == 201
        evidence = response.json()["evidence"]
        assert [e["filename"] for e in evidence] == ["电子证照推广.pdf", "photo.jpg"]
        assert evidence[0]["sha256"] == hashlib.sha256(pdf).hexdigest()
        download = await power_head.get(f"/items/{target}/evidence/{evidence[0]['id']}")
        assert download.status_code == 200
        assert download.content == pdf
        assert download.headers["content-type"] == "application/pdf"
        assert download.headers["x-content-type-options"] == "nosniff"

    async def test_empty_file_rejects_the_whole_update(self, power_head, seeded):
        target = await item_id(power_head, "dongying-2021", 7)
        response = await power_head.post(
            f"/items/{target}/updates",
            data=update_form(),
            files=[
                ("files", ("ok.pdf", b"%PDF", "application/pdf")),
                ("files", ("empty.pdf", b"", "application/pdf")),
            ],
        )
        assert response.status_code == 422
        assert response.json()["code"] == "evidence_empty"
        assert (await power_head.get(f"/items/{target}/updates")).json() == []

    async def test_evidence_of_another_item_is_404(self, power_head, seeded):
        target = await item_id(power_head, "dongying-2021", 7)
        other = await item_id(power_head, "dongying-2021", 9)
        evidence = (
            await power_head.post(
                f"/items/{target}/updates",
                data=update_form(),
                files=[("files", ("a.txt", b"x", "text/plain"))],
            )
        ).json()["evidence"]
        response = await power_head.get(f"/items/{other}/evidence/{evidence[0]['id']}")
        assert response.status_code == 404


class TestIdempotentUpdates:
    """A status update posted with an Idempotency-Key (幂等): a retry gets the first answer."""

    async def test_a_retry_gets_the_first_update_and_posts_no_second(self, power_head, seeded):
        target = await item_id(power_head, "dongying-2021", 7)
        headers = {"Idempotency-Key": "update-1"}
        files = {"files": ("方案.pdf", b"%PDF-1.4 evidence", "application/pdf")}
        first = await power_head.post(
            f"/items/{target}/updates", data=update_form(), files=files, headers=headers
        )
        assert first.status_code == 201, first.text
        # A retry builds a new multipart body (another boundary): still the same request.
        again = await power_head.post(
            f"/items/{target}/updates", data=update_form(), files=files, headers=headers
        )
        assert again.status_code == 201
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.json() == first.json()
        history = (await power_head.get(f"/items/{target}/updates")).json()
        assert [u["id"] for u in history] == [first.json()["id"]]

    async def test_the_same_key_on_another_update_is_refused(self, power_head, seeded):
        target = await item_id(power_head, "dongying-2021", 7)
        headers = {"Idempotency-Key": "update-2"}
        first = await power_head.post(
            f"/items/{target}/updates", data=update_form(), headers=headers
        )
        assert first.status_code == 201
        other = await power_head.post(
            f"/items/{target}/updates", data=update_form(progress="60"), headers=headers
        )
        assert other.status_code == 409
        assert other.json()["code"] == "idempotency_key_reused"
        assert len((await power_head.get(f"/items/{target}/updates")).json()) == 1

    async def test_a_refused_update_stores_nothing(self, power_head, seeded):
        target = await item_id(power_head, "dongying-2021", 7)
        headers = {"Idempotency-Key": "update-3"}
        bad = await power_head.post(
            f"/items/{target}/updates",
            data=update_form(status="done", progress="90"),
            headers=headers,
        )
        assert bad.status_code == 422
        good = await power_head.post(
            f"/items/{target}/updates",
            data=update_form(status="done", progress="90"),
            headers=headers,
        )
        assert good.status_code == 422  # refused again, not replayed
        assert "Idempotent-Replayed" not in good.headers

    async def test_answers_older_than_a_day_are_forgotten(self, power_head, seeded, apps):
        from datetime import timedelta

        from services.ledger.updates.idempotency import IdempotencyRecord
        from shared import idempotency
        from shared.clock import SYSTEM_CLOCK
        from shared.db import session_scope

        target = await item_id(power_head, "dongying-2021", 7)
        headers = {"Idempotency-Key": "update-4"}
        await power_head.post(f"/items/{target}/updates", data=update_form(), headers=headers)
        async with session_scope(apps.ledger.state.engine) as session:
            later = SYSTEM_CLOCK.now() + timedelta(hours=25)
            assert await idempotency.forget_old_answers(session, IdempotencyRecord, later, 24) == 1
