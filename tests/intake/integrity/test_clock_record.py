"""The calendar and the warning share on the record: edited behind intake's back, verify names
the table, the year and the field; loaded or changed through intake, verify stays green."""

from __future__ import annotations

import asyncio

import pytest

from services import cli
from services.intake.integrity.clock_record import record_clock_at_startup, seal_unsealed
from services.intake.integrity.models import ClockParameter
from services.intake.settings import IntakeSettings
from shared.db import session_scope
from tests.intake.conftest import create, restart_as_worker
from tests.intake.integrity.conftest import tamper
from tests.intake.workdays.test_calendar_api import ARRANGEMENT_2027


@pytest.fixture
def checkpoint_file(intake, tmp_path, monkeypatch, settings):
    path = tmp_path / "checkpoints.jsonl"
    intake.state.intake_settings = IntakeSettings(background_jobs=False, checkpoint_file=path)
    monkeypatch.setenv("HUODIAN_INTAKE_CHECKPOINT_FILE", str(path))
    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    return path


async def huodian(*argv: str) -> int:
    return await asyncio.to_thread(cli.main, list(argv))


async def verify(client, number):
    response = await client.get(f"/applications/{number}/log/verify")
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
async def loaded(intake, intake_admin, clerk, clock, checkpoint_file):
    """2027 loaded through intake, and an application whose deadline runs into it."""
    loaded = await intake_admin.put("/calendar/years/2027", json=ARRANGEMENT_2027)
    assert loaded.status_code == 200, loaded.text
    clock.set("2026-12-30 10:00")
    number = str((await create(clerk))["application"]["number"])
    return number


async def _stored(intake):
    from services.intake.workdays.service import stored_calendar
    from shared.calendar import beijing_date

    async with session_scope(intake.state.engine) as session:
        return await stored_calendar(session, beijing_date(intake.state.clock.now()))


class TestLegitimateChanges:
    async def test_a_load_and_an_amendment_keep_verify_green(
        self, intake_admin, clerk, loaded, capsys
    ):
        assert (await verify(clerk, loaded))["valid"] is True
        assert await huodian("verify", "--no-copy") == 0
        amended = {**ARRANGEMENT_2027, "holidays": ["2027-01-01", "2027-02-11"]}
        assert (await intake_admin.put("/calendar/years/2027", json=amended)).status_code == 200
        assert (await verify(clerk, loaded))["valid"] is True
        assert await huodian("verify", "--no-copy") == 0
        assert "verify: all valid" in capsys.readouterr().out

    async def test_a_new_warning_share_at_start_up_goes_on_the_record(
        self, intake, clerk, loaded, checkpoint_file
    ):
        await record_clock_at_startup(intake)  # what start-up did (the tables are emptied)
        async with session_scope(intake.state.engine) as session:
            before = await session.get(ClockParameter, "at_risk_percent")
            assert before is not None
            assert before.value == "80"
        intake.state.intake_settings = IntakeSettings(
            background_jobs=False, checkpoint_file=checkpoint_file, at_risk_percent=50
        )
        await restart_as_worker(intake)  # as a restart with the new setting does
        await record_clock_at_startup(intake)
        async with session_scope(intake.state.engine) as session:
            after = await session.get(ClockParameter, "at_risk_percent")
            assert after is not None
            assert (after.value, after.recorded_by) == ("50", "system:startup")
        assert (await verify(clerk, loaded))["valid"] is True


class TestEditsBehindIntakesBack:
    @pytest.mark.parametrize(
        ("sql", "field"),
        [
            (
                "UPDATE calendar_years SET holidays = '[\"2027-02-05\"]' WHERE year = 2027",
                "holidays",
            ),
            (
                "UPDATE calendar_years SET makeup_workdays = '[\"2027-02-27\"]' WHERE year = 2027",
                "makeup_workdays",
            ),
            ("UPDATE calendar_years SET source = 'x' WHERE year = 2027", "source"),
            ("UPDATE calendar_years SET loaded_by = 'x' WHERE year = 2027", "loaded_by"),
        ],
        ids=["holidays", "makeup", "source", "loaded_by"],
    )
    async def test_an_edited_calendar_row_is_named(self, intake, clerk, loaded, capsys, sql, field):
        await tamper(intake, sql)
        check = await verify(clerk, loaded)
        assert check["valid"] is False
        first = check["findings"][0]
        assert (first["table"], first["row"], first["field"]) == ("calendar_years", 2027, field)
        assert await huodian("verify", "--no-copy") == 1
        out = capsys.readouterr().out
        assert f"FAIL calendar_years row 2027 {field}: the stored value" in out

    async def test_moving_a_holiday_names_the_row_before_the_figures(
        self, intake, clerk, loaded, capsys
    ):
        """The calendar edit moves the deadline: both are named, the cause first."""
        await tamper(
            intake, "UPDATE calendar_years SET holidays = :v WHERE year = 2027", v='["2027-02-05"]'
        )
        intake.state.calendar = await _stored(intake)  # a restart reads the edited row
        await restart_as_worker(intake)
        assert await huodian("verify", "--no-copy") == 1
        out = capsys.readouterr().out.splitlines()
        fails = [line for line in out if line.startswith("FAIL")]
        assert fails[0].startswith("FAIL calendar_years row 2027 holidays")

    async def test_a_deleted_year_is_named(self, intake, clerk, loaded):
        await tamper(intake, "DELETE FROM calendar_years WHERE year = 2027")
        problems = [f["problem"] for f in (await verify(clerk, loaded))["findings"]]
        assert any("calendar_years row 2027 is gone" in p for p in problems), problems

    async def test_an_edited_warning_share_is_named(self, intake, clerk, loaded):
        await record_clock_at_startup(intake)
        assert (await verify(clerk, loaded))["valid"] is True
        await tamper(
            intake, "UPDATE clock_parameters SET value = '50' WHERE name = 'at_risk_percent'"
        )
        check = await verify(clerk, loaded)
        assert check["valid"] is False
        assert check["findings"][0]["table"] == "clock_parameters"
        assert "clock_parameters row at_risk_percent" in check["findings"][0]["problem"]

    async def test_an_edited_warning_day_is_named(self, intake, clerk, loaded):
        await tamper(intake, "UPDATE applications SET at_risk_from = '2027-03-01'")
        check = await verify(clerk, loaded)
        assert check["valid"] is False
        assert [(f["table"], f["field"]) for f in check["findings"]] == [
            ("applications", "at_risk_from")
        ]

    async def test_a_row_inserted_outside_intake_is_unsealed_until_migrate_seals_it(
        self, intake, clerk, loaded, settings, clock
    ):
        await tamper(
            intake,
            "INSERT INTO calendar_years (year, holidays, makeup_workdays, source, loaded_at, "
            "loaded_by) VALUES (2028, '[]', '[]', 'x', :at, 'someone')",
            at=clock.now(),
        )
        problems = [f["problem"] for f in (await verify(clerk, loaded))["findings"]]
        assert any("calendar_years row 2028 is not sealed" in p for p in problems), problems
        assert any("row 2028 is not on the record" in p for p in problems), problems
        sealed = await seal_unsealed(
            intake.state.engine, settings.keyring(), actor="system:upgrade", now=clock.now()
        )
        assert sealed == 1
        assert (await verify(clerk, loaded))["valid"] is True
        assert (
            await seal_unsealed(
                intake.state.engine, settings.keyring(), actor="system:upgrade", now=clock.now()
            )
            == 0
        )

    async def test_a_calendar_row_edited_into_nonsense_is_named_not_a_crash(
        self, intake, loaded, capsys
    ):
        # A make-up working day on a Friday: no calendar can be built from the row.
        await tamper(
            intake,
            "UPDATE calendar_years SET makeup_workdays = '[\"2027-02-05\"]' WHERE year = 2027",
        )
        assert await huodian("verify", "--no-copy") == 1
        assert "FAIL calendar_years row 2027 makeup_workdays" in capsys.readouterr().out
