"""Checkpoints outside the database: a log put back to an earlier genuine state, a deleted
application, an edited or cut-back checkpoint file, each detected and named."""

from __future__ import annotations

import json

import pytest

from services.intake.applications.clocking import Clocking
from services.intake.integrity.checkpoints import read_checkpoints, write_checkpoint
from services.intake.integrity.sweep import verify_all
from services.intake.jobs import run_delivery
from services.intake.schema import metadata
from tests.conftest import service_client
from tests.intake.integrity.conftest import connected_application, tamper


@pytest.fixture
def path(tmp_path):
    return tmp_path / "intake-checkpoints.jsonl"


async def sweep(intake, path, copy=None):
    clocking = Clocking(intake.state.calendar, 80)
    return await verify_all(
        intake.state.engine, intake.state.settings.keyring(), clocking, path, copy=copy
    )


async def checkpoint(intake, path, clock):
    return await write_checkpoint(
        intake.state.engine, path, intake.state.settings.keyring(), now=clock.now()
    )


async def cut_back_last_event(intake, number):
    """Delete the last event and set the application's head back to the one before: the
    chain that is left is genuine and verifies on its own."""
    await tamper(
        intake,
        "DELETE FROM application_events WHERE seq = (SELECT max(seq) FROM application_events)",
    )
    await tamper(
        intake,
        "UPDATE applications SET log_length = log_length - 1, log_head = "
        "(SELECT hash FROM application_events WHERE seq = "
        "(SELECT max(seq) FROM application_events))",
    )


class TestWriting:
    async def test_a_checkpoint_is_signed_linked_and_anchors_changed_heads(
        self, intake, clerk, clock, path
    ):
        number = await connected_application(clerk, clock)
        first = await checkpoint(intake, path, clock)
        assert (first.seq, first.applications, first.changed) == (1, 1, 1)
        again = await checkpoint(intake, path, clock)
        assert (again.seq, again.changed) == (2, 0)
        state = read_checkpoints(path, intake.state.settings.keyring())
        assert state.problems == []
        assert state.lines[1]["prev"] != "0" * 64
        assert state.heads[number][0] == first.events
        assert (await sweep(intake, path)).valid

    async def test_a_copy_goes_to_notify(self, apps, intake, clerk, clock, path, settings):
        await connected_application(clerk, clock)
        written = await checkpoint(intake, path, clock)
        await run_delivery(intake)
        async with service_client(apps, settings, "notify", "intake") as notify:
            copy = await notify.get("/events/latest", params={"type": "intake.log.checkpoint"})
        assert copy.status_code == 200, copy.text
        assert copy.json()["data"]["root"] == written.root
        assert copy.json()["data"]["seq"] == 1


class TestDetection:
    async def test_a_log_put_back_to_an_earlier_genuine_state_is_named(
        self, intake, clerk, clock, path
    ):
        number = await connected_application(clerk, clock)
        corrected = await clerk.post(
            f"/applications/{number}/corrections",
            json={"field": "email", "value": "wang@example.cn", "reason": "客户来电补充"},
        )
        assert corrected.status_code == 200, corrected.text
        await checkpoint(intake, path, clock)
        await cut_back_last_event(intake, number)
        # The log alone cannot tell: what is left is genuine and agrees with the rows ...
        chain = (await clerk.get(f"/applications/{number}/log/verify")).json()
        assert chain["valid"] is True
        report = await sweep(intake, path)
        assert report.valid is False
        finding = report.checkpoint_findings[0]
        assert finding.application == number
        assert "rewritten or cut back" in finding.problem
        # ... and a later checkpoint does not re-anchor it.
        later = await checkpoint(intake, path, clock)
        assert later.refused == [number]
        assert (await sweep(intake, path)).valid is False

    async def test_a_deleted_application_is_named(self, intake, clerk, clock, path):
        number = await connected_application(clerk, clock)
        await checkpoint(intake, path, clock)
        for table in reversed(metadata.sorted_tables):
            if table.name.startswith("application") or "application_id" in table.c:
                await tamper(intake, f"DELETE FROM {table.name}")
        report = await sweep(intake, path)
        assert [f.application for f in report.checkpoint_findings] == [number]
        assert "is gone" in report.checkpoint_findings[0].problem

    async def test_an_edited_checkpoint_line_is_refused(self, intake, clerk, clock, path):
        await connected_application(clerk, clock)
        await checkpoint(intake, path, clock)
        entry = json.loads(path.read_text())
        entry["events"] += 1
        path.write_text(json.dumps(entry) + "\n")
        report = await sweep(intake, path)
        assert report.file_problems == ["checkpoint line 1 does not verify with its key"]

    async def test_a_cut_back_file_is_caught_by_the_copy(self, intake, clerk, clock, path):
        await connected_application(clerk, clock)
        await checkpoint(intake, path, clock)
        second = await checkpoint(intake, path, clock)
        path.write_text(path.read_text().splitlines()[0] + "\n")
        copy = {"seq": second.seq, "root": second.root}
        report = await sweep(intake, path, copy=copy)
        assert report.file_problems == []
        assert "cut back or replaced" in report.copy_problems[0]


class TestJobs:
    async def test_the_periodic_verify_raises_an_alert_event_that_notify_keeps(
        self, apps, intake, clerk, clock, tmp_path, settings
    ):
        from services.intake.jobs import run_checkpoint, run_verify
        from services.intake.settings import IntakeSettings

        intake.state.intake_settings = IntakeSettings(
            background_jobs=False, checkpoint_file=tmp_path / "c.jsonl"
        )
        intake.state.clock = clock
        number = await connected_application(clerk, clock)
        assert (await run_checkpoint(intake)).changed == 1
        await run_delivery(intake)  # the copy reaches notify
        assert (await run_verify(intake)).valid
        await tamper(intake, "UPDATE application_stages SET completed_at = NULL WHERE seq = 3")
        report = await run_verify(intake)
        assert report.valid is False
        assert report.copy_note is None  # notify's copy was there and compared
        await run_delivery(intake)
        async with service_client(apps, settings, "notify", "intake") as notify:
            alert = await notify.get("/events/latest", params={"type": "intake.log.verify_failed"})
        assert alert.status_code == 200, alert.text
        assert alert.json()["data"]["applications"] == [number]
        assert alert.json()["data"]["findings"][0]["table"] == "application_stages"


class TestCrashes:
    async def test_a_line_cut_off_by_a_crash_is_dropped_by_the_next_checkpoint(
        self, intake, clerk, clock, path
    ):
        await connected_application(clerk, clock)
        await checkpoint(intake, path, clock)
        with open(path, "a") as handle:
            handle.write('{"format":1,"seq":2,"he')  # killed mid-write
        state = read_checkpoints(path, intake.state.settings.keyring())
        assert (state.problems, len(state.lines)) == ([], 1)
        written = await checkpoint(intake, path, clock)
        assert written.seq == 2
        assert read_checkpoints(path, intake.state.settings.keyring()).problems == []
        assert (await sweep(intake, path)).valid
