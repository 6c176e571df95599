"""The stage rows, pauses and figures the clock uses are covered by the keyed log: editing any
of them in the database makes verify fail, naming the application, the table and the row."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from services.intake.applications.log import legacy_hash
from services.intake.applications.models import Application, ApplicationEvent
from services.intake.integrity.upgrade import reseal_legacy
from shared.db import session_scope
from shared.keyring import save_keyring
from tests.intake.applications.test_stages_api import complete
from tests.intake.integrity.conftest import tamper


async def verify(client, number):
    response = await client.get(f"/applications/{number}/log/verify")
    assert response.status_code == 200, response.text
    return response.json()


async def row_id(intake, sql, **params):
    async with intake.state.engine.begin() as conn:
        from sqlalchemy import text

        return (await conn.execute(text(sql), params)).scalar_one()


class TestStageRows:
    async def test_a_moved_stage_time_is_named_with_its_row(self, intake, clerk, number):
        assert (await verify(clerk, number))["valid"] is True
        before = (await clerk.get(f"/applications/{number}")).json()
        stage_id = await row_id(
            intake, "SELECT id FROM application_stages WHERE seq = 1 AND application_id = 1"
        )
        # 后补流程: the supply plan "answered" a week earlier than it was.
        await tamper(
            intake,
            "UPDATE application_stages SET completed_at = :t WHERE id = :id",
            t="2025-10-09 08:00:00",
            id=stage_id,
        )
        shown = (await clerk.get(f"/applications/{number}")).json()
        assert shown["stages"][1]["completed_at"] != before["stages"][1]["completed_at"]
        check = await verify(clerk, number)
        assert check["valid"] is False
        assert check["number"] == number
        finding = check["findings"][0]
        assert (finding["table"], finding["row"], finding["field"]) == (
            "application_stages",
            stage_id,
            "completed_at",
        )
        assert finding["seq"] == 1
        assert "supply_plan" in finding["problem"]
        assert "2025-10-15T03:00:00+00:00" in finding["problem"]  # what the log says

    async def test_an_edited_kpi_figure_is_named(self, intake, clerk, number):
        await tamper(intake, "UPDATE applications SET grid_days = 3, within_limit = :t", t=True)
        await tamper(intake, "UPDATE application_stages SET grid_days = 1 WHERE seq = 1")
        check = await verify(clerk, number)
        assert check["valid"] is False
        named = {(f["table"], f["field"]) for f in check["findings"]}
        assert ("applications", "grid_days") in named
        assert ("application_stages", "grid_days") in named

    @pytest.mark.parametrize(
        ("sql", "field"),
        [
            ("UPDATE application_pauses SET ended_at = '2025-10-20 01:00:00'", "ended_at"),
            ("UPDATE application_pauses SET ended_day = '2025-10-20'", "ended_day"),
            ("UPDATE application_pauses SET stage_seq = 0", "stage_seq"),
            ("UPDATE application_pauses SET days = 0", "days"),
            ("DELETE FROM application_pauses", "pause count"),
        ],
    )
    async def test_an_edited_or_removed_pause_is_named(self, intake, clerk, number, sql, field):
        await tamper(intake, sql)
        check = await verify(clerk, number)
        assert check["valid"] is False
        assert field in {f["field"] for f in check["findings"]}, check["findings"]

    @pytest.mark.parametrize(
        ("sql", "field"),
        [
            ("UPDATE applications SET accepted_at = '2025-10-08 01:00:00'", "accepted_at"),
            ("UPDATE applications SET total_limit_days = 30", "total_limit_days"),
            ("UPDATE application_stages SET limit_days = 20 WHERE seq = 1", "limit_days"),
            (
                "UPDATE application_stages SET started_day = '2025-10-13' WHERE seq = 1",
                "started_day",
            ),
            (
                "UPDATE application_stages SET completed_by = 'someone' WHERE seq = 2",
                "completed_by",
            ),
            ("UPDATE applications SET status = 'closed'", "status"),
        ],
    )
    async def test_every_fact_the_clock_reads_is_covered(self, intake, clerk, number, sql, field):
        await tamper(intake, sql)
        check = await verify(clerk, number)
        assert check["valid"] is False
        assert field in {f["field"] for f in check["findings"]}, check["findings"]

    async def test_an_open_application_is_checked_too(self, intake, clerk, clock):
        from tests.intake.conftest import create

        number = (await create(clerk))["application"]["number"]
        await clerk.post(
            f"/applications/{number}/pause",
            json={"reason": "missing_material", "note": "等待客户补充资料"},
        )
        assert (await verify(clerk, number))["valid"] is True
        await tamper(intake, "UPDATE application_pauses SET started_at = '2025-09-01 01:00:00'")
        assert (await verify(clerk, number))["valid"] is False


class TestKeyedChain:
    async def test_a_chain_rewritten_with_the_unkeyed_hash_does_not_verify(
        self, intake, clerk, number
    ):
        """Someone with the database but not the key moves an event and re-hashes the chain
        the way the project did before it was keyed: every entry fails."""
        async with session_scope(intake.state.engine) as session:
            application = (await session.exec(select(Application))).one()
            events = (
                await session.exec(select(ApplicationEvent).order_by(col(ApplicationEvent.seq)))
            ).all()
            prev = "0" * 64
            for event in events:
                event.prev_hash = prev
                event.hash = legacy_hash(application.number, event, prev)
                prev = event.hash
            application.log_head = prev
        check = await verify(clerk, number)
        assert (check["valid"], check["first_bad_seq"]) == (False, 1)
        assert check["findings"][0]["table"] == "application_events"

    async def test_rotation_keeps_old_entries_valid_and_new_ones_use_the_new_key(
        self, intake, clerk, clock, settings, restore_keyring
    ):
        from tests.intake.conftest import create

        number = (await create(clerk))["application"]["number"]
        save_keyring(settings.keyring_path(), settings.keyring().rotated())
        clock.set("2025-10-09 09:00")
        await complete(clerk, number, "acceptance")
        log = (await clerk.get(f"/applications/{number}/log")).json()
        # The documents 业务受理 needs (3) and its completion, all under the new key.
        assert [e["key_id"] for e in log] == ["k1", "k2", "k2", "k2", "k2"]
        check = await verify(clerk, number)
        assert (check["valid"], check["key_ids"]) == (True, ["k1", "k2"])

    async def test_an_entry_naming_an_unknown_key_fails(self, intake, clerk, number):
        await tamper(intake, "UPDATE application_events SET key_id = 'k9' WHERE seq = 3")
        check = await verify(clerk, number)
        assert (check["valid"], check["first_bad_seq"]) == (False, 3)
        assert "k9" in check["problem"]


class TestLegacyEntries:
    async def _make_legacy(self, intake):
        """Turn the stored log into what a database from before migration 0013 holds."""
        async with session_scope(intake.state.engine) as session:
            application = (await session.exec(select(Application))).one()
            events = (
                await session.exec(select(ApplicationEvent).order_by(col(ApplicationEvent.seq)))
            ).all()
            prev = "0" * 64
            for event in events:
                event.prev_hash, event.key_id = prev, None
                event.hash = legacy_hash(application.number, event, prev)
                prev = event.hash
            application.log_head = prev
            return len(events), prev

    async def test_unkeyed_entries_fail_until_resealed_and_the_reseal_is_recorded(
        self, intake, clerk, clock, number, settings
    ):
        length, legacy_head = await self._make_legacy(intake)
        check = await verify(clerk, number)
        assert check["valid"] is False
        assert "not keyed" in check["problem"]
        run = await reseal_legacy(intake.state.engine, settings.keyring(), now=clock.now())
        assert (run.resealed, run.left_broken) == (1, [])
        assert (await verify(clerk, number))["valid"] is True
        last = (await clerk.get(f"/applications/{number}/log")).json()[-1]
        assert last["kind"] == "log_resealed"
        assert last["payload"] == {"legacy_entries": length, "legacy_head": legacy_head}
        again = await reseal_legacy(intake.state.engine, settings.keyring(), now=clock.now())
        assert again.resealed == 0

    async def test_an_altered_legacy_log_is_never_resealed(
        self, intake, clerk, clock, number, settings
    ):
        await self._make_legacy(intake)
        await tamper(intake, "UPDATE application_events SET actor = 'x' WHERE seq = 2")
        run = await reseal_legacy(intake.state.engine, settings.keyring(), now=clock.now())
        assert run.left_broken == [number]
        assert (await verify(clerk, number))["valid"] is False


class TestUnreadableEntries:
    def test_a_signed_entry_the_replay_cannot_read_is_a_finding_not_a_crash(self):
        """An entry whose payload lacks what the clock needs (an old or foreign shape, signed
        all the same) is reported at its seq, so /log/verify answers instead of a 500."""
        from datetime import UTC, datetime

        from services.intake.applications.models import EventKind
        from services.intake.applications.record import ReplayError, replay
        from services.intake.policies.models import Stage

        at = datetime(2026, 11, 26, 2, tzinfo=UTC)

        def entry(seq, kind, payload, stage=None):
            return ApplicationEvent(
                application_id=1,
                seq=seq,
                kind=kind,
                stage=stage,
                occurred_at=at,
                actor="clerk",
                payload=payload,
                prev_hash="",
                hash="",
            )

        created = entry(
            1,
            EventKind.created,
            {
                "customer_type": "hv10_single",
                "has_works": True,
                "policy": "dongying-2020",
                "total_limit_days": 22,
                "stages": [["acceptance", 1], ["supply_plan", 10]],
            },
            Stage.acceptance,
        )
        paused_without_reason = entry(2, EventKind.paused, {})
        with pytest.raises(ReplayError) as caught:
            replay([created, paused_without_reason])
        assert caught.value.seq == 2
