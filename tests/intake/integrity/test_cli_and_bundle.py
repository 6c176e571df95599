"""``huodian verify`` over the whole database, and the evidence bundle verified offline."""

from __future__ import annotations

import asyncio
import json

import pytest

from services import cli
from services.intake.integrity.bundle import _canonical
from services.intake.settings import IntakeSettings
from shared.keyring import Keyring, save_keyring
from tests.intake.applications.test_plan_stages import up_to_the_merged_stage
from tests.intake.applications.test_stages_api import CONNECTION_POINT, complete
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

    async def test_a_workflow_switched_by_a_correction_verifies(
        self, intake, clerk, clock, checkpoint_file, capsys
    ):
        """A 200 kW small business corrected to 100 kW switches to the 三零 workflow after its
        业务受理 was completed; the stage rows replayed from the log match (the switch is an
        event), and editing the switched stage's limit is still caught."""
        clock.set("2026-06-01 09:00")
        created = await create(clerk, customer_type="low_voltage", capacity_kw="200")
        number = created["application"]["number"]
        clock.set("2026-06-02 09:00")
        assert (await complete(clerk, number, "acceptance")).status_code == 200
        corrected = await clerk.post(
            f"/applications/{number}/corrections",
            json={"field": "capacity_kw", "value": "100", "reason": "用户核减报装容量"},
        )
        assert corrected.status_code == 200, corrected.text
        assert [s["stage"] for s in corrected.json()["stages"]] == [
            "acceptance",
            "signing",
            "construction_connection",
        ]
        assert await huodian("verify", "--no-copy") == 0
        assert "verify: all valid" in capsys.readouterr().out
        await tamper(
            intake,
            "UPDATE application_stages SET limit_days = 9 WHERE seq = 1",
        )
        assert await huodian("verify", "--no-copy") == 1
        out, _ = capsys.readouterr()
        assert f"FAIL {number}: application_stages row" in out

    async def test_jingyus_merged_stages_verify(
        self, intake, other_clerk, clock, checkpoint_file, capsys
    ):
        """A Jingyu 10 kV application through item 8's four stages (外部工程实施, then
        竣工验收及装表接电 with its completion report) replays and verifies; editing the merged
        stage's row is caught."""
        application, _ = await up_to_the_merged_stage(other_clerk, clock)  # Jingyu's clerk
        number = application["number"]
        clock.set("2025-11-26 10:00")
        done = await complete(other_clerk, number, "inspection_connection", **CONNECTION_POINT)
        assert done.json()["status"] == "connected", done.text
        assert await huodian("verify", "--no-copy") == 0
        assert "verify: all valid" in capsys.readouterr().out
        await tamper(
            intake,
            "UPDATE application_stages SET stage = 'connection' "
            "WHERE stage = 'inspection_connection'",
        )
        assert await huodian("verify", "--no-copy") == 1
        out, _ = capsys.readouterr()
        assert f"FAIL {number}: application_stages row" in out

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


class TestPublicKeyBundle:
    """The bundle verified with the public key alone: what an evaluator holds (公钥验证)."""

    async def _offline(self, clerk, clock, intake_admin, anonymous, tmp_path):
        number, path = await TestEvidenceBundle()._bundle(clerk, clock, intake_admin, tmp_path)
        published = await anonymous.get("/integrity/public-keys")
        assert published.status_code == 200, published.text
        keys = tmp_path / "huodian-public-keys.json"
        keys.write_text(published.text)
        return number, path, keys

    @pytest.fixture
    def no_keyring(self, monkeypatch, settings):
        """From here on, reading the secret keyring is an error."""

        def refuse(_self):
            raise AssertionError("the secret keyring was read")

        monkeypatch.setattr(type(settings), "keyring", refuse)

    async def test_a_bundle_verifies_with_the_public_key_alone(
        self, clerk, clock, intake_admin, anonymous, checkpoint_file, tmp_path, capsys, request
    ):
        number, path, keys = await self._offline(clerk, clock, intake_admin, anonymous, tmp_path)
        published = json.loads(keys.read_text())
        bundle = json.loads(path.read_text())
        assert published["format"] == "huodian-public-keys/1"
        assert published["current"] == "k1"
        assert bundle["public_keys"] == published["keys"]
        assert bundle["signature"]["key_id"] == "k1"
        assert bundle["keyed_chain"] == "intact"
        assert "signature" in bundle["checkpoint"]
        request.getfixturevalue("no_keyring")
        assert await huodian("verify", "--bundle", str(path), "--public-key", str(keys)) == 0
        out = capsys.readouterr().out
        assert f"the bundle of {number} is signed (Ed25519) with key k1" in out
        assert "HMACs were intact when intake made the bundle" in out
        assert "checkpoint 1 of" in out
        assert "bundle: valid" in out

    @pytest.mark.parametrize(
        ("edit", "finding"),
        [
            (
                lambda b: b["events"][1].update(occurred_at="2025-10-08T07:00:00+00:00"),
                "Ed25519 signature (key k1) does not verify",
            ),
            (lambda b: b["documents"][0].update(kind="x"), "Ed25519 signature (key k1)"),
            (lambda b: b.update(keyed_chain="intact", made_at="2030-01-01"), "does not verify"),
            (lambda b: b["signature"].update(key_id="k7"), "signed with key 'k7'"),
            (lambda b: b.pop("signature"), "carries no Ed25519 signature"),
            (
                lambda b: b["checkpoint"].update(events=99),
                "checkpoint 1 does not verify with the public key",
            ),
        ],
        ids=["moved-event", "document", "bundle", "unknown-key", "unsigned", "checkpoint"],
    )
    async def test_a_tampered_bundle_fails_with_a_named_finding(
        self,
        clerk,
        clock,
        intake_admin,
        anonymous,
        checkpoint_file,
        tmp_path,
        capsys,
        edit,
        finding,
        request,
    ):
        _, path, keys = await self._offline(clerk, clock, intake_admin, anonymous, tmp_path)
        bundle = json.loads(path.read_text())
        edit(bundle)
        path.write_text(json.dumps(bundle, ensure_ascii=False))
        request.getfixturevalue("no_keyring")
        assert await huodian("verify", "--bundle", str(path), "--public-key", str(keys)) == 1
        out = capsys.readouterr().out
        assert finding in out
        assert "bundle: NOT valid" in out

    async def test_a_bundle_re_signed_with_another_key_fails(
        self, clerk, clock, intake_admin, anonymous, checkpoint_file, tmp_path, capsys
    ):
        """Someone with the database but not the keyring forges a bundle under the same id."""
        _, path, keys = await self._offline(clerk, clock, intake_admin, anonymous, tmp_path)
        bundle = json.loads(path.read_text())
        bundle["events"][1]["occurred_at"] = "2025-10-08T07:00:00+00:00"
        body = {k: v for k, v in bundle.items() if k not in ("seal", "signature")}
        forged = Keyring.generate().sign_public(_canonical(body))
        bundle["signature"] = {"key_id": "k1", "ed25519": forged.digest}
        path.write_text(json.dumps(bundle, ensure_ascii=False))
        assert await huodian("verify", "--bundle", str(path), "--public-key", str(keys)) == 1
        assert "Ed25519 signature (key k1) does not verify" in capsys.readouterr().out
        # The public key of another deployment does not verify a genuine one either.
        other = tmp_path / "other-keys.json"
        other.write_text(Keyring.generate().public_keys().to_json())
        _, genuine = await TestEvidenceBundle()._bundle(clerk, clock, intake_admin, tmp_path)
        assert await huodian("verify", "--bundle", str(genuine), "--public-key", str(other)) == 1

    async def test_a_log_edited_before_the_bundle_is_made_is_named(
        self, intake, clerk, clock, intake_admin, anonymous, checkpoint_file, tmp_path, capsys
    ):
        """The entries' HMACs need the secret key; intake checks them when it makes the
        bundle and signs what it found."""
        number = str((await create(clerk))["application"]["number"])
        clock.set("2025-10-09 15:00")
        await complete(clerk, number, "acceptance")
        await tamper(intake, "UPDATE application_events SET actor = 'someone' WHERE seq = 2")
        await intake_admin.post("/integrity/checkpoints")
        path = tmp_path / "bundle.json"
        path.write_bytes((await clerk.get(f"/applications/{number}/evidence")).content)
        keys = tmp_path / "keys.json"
        keys.write_text((await anonymous.get("/integrity/public-keys")).text)
        assert await huodian("verify", "--bundle", str(path), "--public-key", str(keys)) == 1
        out = capsys.readouterr().out
        assert "intake found the log's HMACs broken when it made the bundle" in out
        assert "event 2 does not verify" in out

    async def test_old_public_keys_stay_after_a_rotation(
        self,
        clerk,
        clock,
        intake_admin,
        anonymous,
        checkpoint_file,
        tmp_path,
        capsys,
        settings,
        restore_keyring,
    ):
        _, before = await TestEvidenceBundle()._bundle(clerk, clock, intake_admin, tmp_path)
        save_keyring(settings.keyring_path(), settings.keyring().rotated())
        after_dir = tmp_path / "after"
        after_dir.mkdir()
        _, after = await TestEvidenceBundle()._bundle(clerk, clock, intake_admin, after_dir)
        published = (await anonymous.get("/integrity/public-keys")).json()
        assert (published["current"], sorted(published["keys"])) == ("k2", ["k1", "k2"])
        assert json.loads(after.read_text())["signature"]["key_id"] == "k2"
        assert json.loads(after.read_text())["checkpoint"]["key_id"] == "k2"
        keys = tmp_path / "keys.json"
        keys.write_text(json.dumps(published))
        for bundle in (before, after):
            assert await huodian("verify", "--bundle", str(bundle), "--public-key", str(keys)) == 0
        assert await huodian("keyring", "public-keys") == 0
        assert json.loads(capsys.readouterr().out.splitlines()[-1])["keys"] == published["keys"]

    async def test_public_key_without_a_bundle_is_refused(self, checkpoint_file, tmp_path):
        assert await huodian("verify", "--public-key", str(tmp_path / "k.json")) == 2

    async def test_a_broken_public_key_file_fails_cleanly(
        self, clerk, clock, intake_admin, checkpoint_file, tmp_path, capsys
    ):
        _, path = await TestEvidenceBundle()._bundle(clerk, clock, intake_admin, tmp_path)
        keys = tmp_path / "keys.json"
        keys.write_text('{"format": "huodian-public-keys/1", "keys": {"k1": "bm90IGEga2V5"}}')
        assert await huodian("verify", "--bundle", str(path), "--public-key", str(keys)) == 1
        assert "FAIL cannot read the public key file" in capsys.readouterr().out
