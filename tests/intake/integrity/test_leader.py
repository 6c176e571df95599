"""The integrity jobs (checkpoints, verification) run once across replicas: only the replica
holding the integrity lock runs them, and a standby takes over when the leader stops."""

from __future__ import annotations

from services.intake.app import create_app as create_intake
from services.intake.integrity.checkpoints import read_checkpoints
from services.intake.jobs import leads_integrity, run_integrity, stop_jobs
from services.intake.settings import IntakeSettings
from tests.intake.integrity.conftest import connected_application


class TestIntegrityLeader:
    async def test_one_replica_runs_them_and_a_standby_takes_over(
        self, apps, intake, clerk, clock, tmp_path, settings
    ):
        path = tmp_path / "c.jsonl"
        config = IntakeSettings(background_jobs=False, checkpoint_file=path)
        intake.state.intake_settings = config
        await connected_application(clerk, clock)
        assert await leads_integrity(intake)  # the replica started first leads
        replica = create_intake(settings, config)
        async with replica.router.lifespan_context(replica):
            await replica.state.client.aclose()
            replica.state.client = apps.client_for(settings, "intake")
            replica.state.clock = clock
            try:
                first = await run_integrity(intake, checkpoint=True, verify=True)
                assert first is not None
                written, report = first
                assert written is not None
                assert written.changed == 1
                assert report is not None
                assert report.valid
                # The other replica, at the same moment: the lock is held, it runs nothing.
                assert await run_integrity(replica, checkpoint=True, verify=True) is None
                assert await leads_integrity(intake)  # still the leader on its next pass
                assert len(read_checkpoints(path, settings.keyring()).lines) == 1

                await stop_jobs(intake)  # the leader stops (or dies): its lock is free
                taken = await run_integrity(replica, checkpoint=True, verify=False)
                assert taken is not None
                assert await run_integrity(intake, checkpoint=True, verify=False) is None
            finally:
                await stop_jobs(replica)
                await stop_jobs(intake)
        # With the standby gone too, the first replica leads again.
        assert await leads_integrity(intake)
        await stop_jobs(intake)


class TestJobRunIds:
    async def test_events_a_run_queues_carry_its_logged_request_id(
        self, apps, intake, clerk, clock, tmp_path, caplog
    ):
        import logging

        from sqlmodel import select

        from services.intake.jobs import run_checkpoint
        from services.intake.outbox.models import OutboxEvent
        from shared.db import session_scope

        intake.state.intake_settings = IntakeSettings(
            background_jobs=False, checkpoint_file=tmp_path / "c.jsonl"
        )
        await connected_application(clerk, clock)
        async with session_scope(intake.state.engine) as session:
            before = {e.id for e in (await session.exec(select(OutboxEvent))).all()}
        with caplog.at_level(logging.INFO, logger="huodian.intake.jobs"):
            assert (await run_checkpoint(intake)).changed == 1
        (started,) = [r for r in caplog.records if getattr(r, "job", None) == "checkpoint"]
        run_id = started.getMessage().rsplit(" ", 1)[-1]
        async with session_scope(intake.state.engine) as session:
            queued = [
                e for e in (await session.exec(select(OutboxEvent))).all() if e.id not in before
            ]
        assert queued  # the checkpoint's copy for notify
        assert {e.request_id for e in queued} == {run_id}

    async def test_each_run_has_its_own_id(self, intake, caplog):
        import logging

        from services.intake.jobs import job_run

        with caplog.at_level(logging.INFO, logger="huodian.intake.jobs"):
            with job_run("watch") as first:
                pass
            with job_run("watch") as second:
                pass
        assert first != second
        assert [r.getMessage() for r in caplog.records] == [
            f"watch: run {first}",
            f"watch: run {second}",
        ]
