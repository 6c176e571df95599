"""``huodian verify`` over the whole database, and the evidence bundle verified offline."""

from __future__ import annotations

import asyncio
import json

import pytest

from services import cli
from services.intake.settings import IntakeSettings
from tests.intake.applications.test_stages_api import complete
from tests.intake.conftest import create
from tests.intake.integrity.conftest import connected_application, tamper


@pytest.fixture
def checkpoint_file(intake, tmp_path, monkeypatch, settings):
    """One checkpoint file for this test, for the app and for the command line alike."""
    path = tmp_path / "checkpoints.jsonl"
    intake.state.intake_settings = IntakeSettings(background_jobs=False, checkpoint_file=path)
    monkeypatch.setenv("HUODIAN_INTAKE_CHECKPOINT_FILE", str(path))
    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    return path


async def huodian(*argv: str) -> int:
    return await asyncio.to_thread(cli.main, list(argv))


class TestVerifyCommand:
    async def test_the_whole_database_with_a_summary(
        self, intake, clerk, clock, intake_admin, checkpoint_file, capsys
    ):
        number = await connected_application(clerk, clock)
        written = await intake_admin.post("/integrity/checkpoints")
        assert written.status_code == 201, written.text
        assert written.json()["changed"] == 1
        assert await huodian("verify", "--no-copy") == 0
        out, err = capsys.readouterr()
        assert "1/1 applications" in err
        assert "applications: 1  events: 11"  # 7 steps and 4 documents taken in out
        assert "checkpoints: the last is 1" in out
        assert "verify: all valid" in out

        await tamper(intake, "UPDATE application_stages SET completed_by = 'x' WHERE seq = 0")
        assert await huodian("verify", "--no-copy") == 1
        out, _ = capsys.readouterr()
        assert f"FAIL {number}: application_stages row" in out
        assert "completed_by" in out
        assert "verify: 1 finding(s) in 1 application(s)" in out

    async def test_a_checkpoint_on_demand_from_the_command_line(
        self, clerk, clock, checkpoint_file, capsys
    ):
        await connected_application(clerk, clock)
        assert await huodian("checkpoint") == 0
        assert "checkpoint 1: 1 application(s)" in capsys.readouterr().out
        assert len(checkpoint_file.read_text().splitlines()) == 1

    async def test_only_admins_write_checkpoints(self, clerk, checkpoint_file):
        assert (await clerk.post("/integrity/checkpoints")).status_code == 403


class TestEvidenceBundle:
    async def _bundle(self, clerk, clock, intake_admin, tmp_path):
        number = str((await create(clerk))["application"]["number"])
        received = await clerk.post(
            f"/applications/{number}/documents",
            json={"kind": "identity_proof", "reference": "370502198001011234"},
        )
        assert received.status_code in (200, 201), received.text
        clock.set("2025-10-09 15:00")
        await complete(clerk, number, "acceptance")
        await intake_admin.post("/integrity/checkpoints")
        response = await clerk.get(f"/applications/{number}/evidence")
        assert response.status_code == 200, response.text
        assert "attachment" in response.headers["content-disposition"]
        path = tmp_path / f"evidence-{number}.json"
        path.write_bytes(response.content)
        return number, path

    async def test_a_bundle_verifies_offline(
        self, clerk, clock, intake_admin, checkpoint_file, tmp_path, capsys
    ):
        number, path = await self._bundle(clerk, clock, intake_admin, tmp_path)
        bundle = json.loads(path.read_text())
        assert bundle["application"] == number
        assert bundle["key_ids"] == ["k1"]
        assert bundle["checkpoint"]["heads"][number][0] == len(bundle["events"])
        assert await huodian("verify", "--bundle", str(path)) == 0
        out = capsys.readouterr().out
        assert "keyed chain intact" in out
        assert "checkpoint 1" in out
        assert "document 1 (identity_proof) matches the log" in out
        assert "bundle: valid" in out

    @pytest.mark.parametrize(
        "edit",
        [
            lambda b: b["events"][1].update(occurred_at="2025-10-08T07:00:00+00:00"),
            lambda b: b["events"].pop(),
            lambda b: b["checkpoint"].update(events=99),
            lambda b: b.update(made_at="2030-01-01T00:00:00+00:00"),
            lambda b: b["documents"][0].update(reference_sha256="0" * 64),
        ],
        ids=["moved-event", "dropped-event", "edited-checkpoint", "edited-bundle", "document"],
    )
    async def test_an_edited_bundle_fails(
        self, clerk, clock, intake_admin, checkpoint_file, tmp_path, capsys, edit
    ):
        _, path = await self._bundle(clerk, clock, intake_admin, tmp_path)
        bundle = json.loads(path.read_text())
        edit(bundle)
        path.write_text(json.dumps(bundle, ensure_ascii=False))
        assert await huodian("verify", "--bundle", str(path)) == 1
        assert "bundle: NOT valid" in capsys.readouterr().out

    async def test_a_file_that_is_no_bundle_fails_cleanly(self, tmp_path, checkpoint_file, capsys):
        path = tmp_path / "junk.json"
        path.write_text("[1, 2")
        assert await huodian("verify", "--bundle", str(path)) == 1
        assert "FAIL cannot read" in capsys.readouterr().out
