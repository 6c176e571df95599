"""Secrets at rest (密钥与查询码加密存储): a reader of intake's database gets no portal secret, no
query code and no replayable answer in clear; everything still works, also after the keyring
is rotated, and the migration seals what was stored before."""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from services.intake.applications.query_codes import query_code_matches
from services.intake.portal.idempotency import open_answer
from services.intake.portal.service import open_secret
from shared.db import create_sync_engine, database_target
from shared.keyring import load_keyring, save_keyring
from shared.migrations import downgrade, upgrade
from shared.settings import Settings
from tests.intake.portal.conftest import new_portal_key, portal_application_body, post

pytestmark = pytest.mark.usefixtures("elicense")


def raw_rows(settings: Settings, table: str) -> list[str]:
    """Every row of ``table`` as the text a database reader sees."""
    engine = create_sync_engine(database_target(settings, "intake"))
    try:
        with engine.connect() as conn:
            found = sa.Table(table, sa.MetaData(), autoload_with=conn)
            return [" ".join(map(str, row)) for row in conn.execute(sa.select(found))]
    finally:
        engine.dispose()


async def submit(portal, key=None):
    response = await post(portal, "/portal/applications", portal_application_body(), key=key)
    assert response.status_code == 201, response.text
    return response


async def progress(anonymous, number, code):
    return await anonymous.get(
        f"/public/applications/{number}/progress", headers={"X-Query-Code": code}
    )


class TestRawRows:
    async def test_a_portal_secret_is_sealed_and_still_signs(self, settings, portal, portal_key):
        (row,) = raw_rows(settings, "portal_clients")
        assert portal_key.secret not in row
        assert "hk1." in row
        assert (await portal.get("/portal/me")).status_code == 200

    async def test_a_query_code_is_keyed_not_plainly_hashed(self, settings, portal, anonymous):
        created = (await submit(portal)).json()
        number, code = created["number"], created["query_code"]
        plain = hashlib.sha256(f"{number}:{code}".encode()).hexdigest()
        (row,) = raw_rows(settings, "applications")
        assert code not in row
        assert plain not in row
        assert (await progress(anonymous, number, code)).status_code == 200
        assert (await progress(anonymous, number, "AAAAAAAA")).status_code == 404

    async def test_a_replayable_answer_carries_no_query_code(self, settings, portal):
        first = await submit(portal, key="apply-0001")
        code = first.json()["query_code"]
        (row,) = raw_rows(settings, "portal_idempotency_keys")
        assert code not in row
        assert first.json()["number"] not in row
        retry = await submit(portal, key="apply-0001")
        assert retry.headers["idempotent-replayed"] == "true"
        assert retry.json() == first.json()


@pytest.fixture
def rotated(settings: Settings) -> Iterator[None]:
    """The deployment's keyring rotated for the test (the old keys stay), then put back."""
    path = settings.keyring_path()
    before = load_keyring(path)
    save_keyring(path, before.rotated())
    yield
    save_keyring(path, before)


class TestRotation:
    async def test_what_was_sealed_before_a_rotation_still_works(
        self, settings, intake, portal, portal_key, anonymous, request
    ):
        first = await submit(portal, key="apply-0002")
        number, code = first.json()["number"], first.json()["query_code"]
        request.getfixturevalue("rotated")
        current = settings.keyring().current_id
        assert (await portal.get("/portal/me")).status_code == 200  # secret sealed with the old key
        assert (await progress(anonymous, number, code)).status_code == 200
        retry = await submit(portal, key="apply-0002")
        assert retry.json() == first.json()
        # What is sealed from now on names the new key.
        await new_portal_key(intake, "新接入方")
        assert sum(f"hk1.{current}." in r for r in raw_rows(settings, "portal_clients")) == 1


def _filler(column: sa.Column) -> object:
    kind = column.type.python_type if not isinstance(column.type, sa.JSON) else dict
    return {
        str: "x",
        int: 1,
        bool: False,
        decimal.Decimal: decimal.Decimal(1),
        dt.date: dt.date(2025, 1, 2),
        dt.datetime: dt.datetime(2025, 1, 2, tzinfo=dt.UTC),
        dict: {},
        uuid.UUID: uuid.uuid4(),
    }.get(kind, "x")


class TestMigration:
    def test_rows_stored_before_are_sealed_and_keep_working(self, settings):
        fresh = settings.model_copy(
            update={
                "db_schema_prefix": f"{settings.db_schema_prefix}atrest_",
                "var_dir": settings.var_dir / "atrest",
            }
        )
        upgrade("intake", fresh, "0011")
        number, code, secret = "BZ20250101000001", "ABCD2345", "old-portal-secret"
        legacy = hashlib.sha256(f"{number}:{code}".encode()).hexdigest()
        answer = {"number": number, "query_code": code}
        engine = create_sync_engine(database_target(fresh, "intake"))
        try:
            with engine.begin() as conn:
                meta = sa.MetaData()
                applications = sa.Table("applications", meta, autoload_with=conn)
                values = {
                    c.name: _filler(c)
                    for c in applications.columns
                    if not c.nullable and c.server_default is None and not c.primary_key
                }
                values.update(number=number, query_code_hash=legacy)
                conn.execute(applications.insert().values(**values))
                conn.execute(
                    sa.Table("portal_clients", meta, autoload_with=conn)
                    .insert()
                    .values(
                        key_id="pk_old",
                        name="老接入方",
                        secret=secret,
                        is_active=True,
                        created_at=dt.datetime(2025, 1, 2, tzinfo=dt.UTC),
                        scopes=["applications"],
                    )
                )
                conn.execute(
                    sa.Table("portal_idempotency_keys", meta, autoload_with=conn)
                    .insert()
                    .values(
                        key_id="pk_old",
                        idempotency_key="k-1",
                        request_hash="0" * 64,
                        status_code=201,
                        body=answer,
                        created_at=dt.datetime(2025, 1, 2, tzinfo=dt.UTC),
                    )
                )
            upgrade("intake", fresh)
            keyring = fresh.keyring()
            with engine.connect() as conn:
                stored_hash = conn.execute(sa.text("SELECT query_code_hash FROM applications"))
                sealed = conn.execute(sa.text("SELECT sealed_secret FROM portal_clients"))
                body = conn.execute(sa.text("SELECT body FROM portal_idempotency_keys"))
                stored_hash, sealed, body = (
                    stored_hash.scalar_one(),
                    sealed.scalar_one(),
                    body.scalar_one(),
                )
        finally:
            engine.dispose()
        assert query_code_matches(keyring, stored_hash, number, code)
        assert not query_code_matches(keyring, stored_hash, number, "ABCD2346")
        assert secret not in sealed
        assert open_secret(keyring, "pk_old", sealed) == secret
        body = body if isinstance(body, dict) else json.loads(body)
        assert code not in str(body)
        assert open_answer(keyring, "pk_old", "k-1", body) == answer
        with pytest.raises(RuntimeError, match="cannot be downgraded"):
            downgrade("intake", fresh, "0011")


class TestMissingKey:
    async def test_a_secret_sealed_with_a_key_this_server_lacks_is_a_503(
        self, settings, portal, portal_key
    ):
        """A keyring file not copied to this host after a rotation: an answer that says so
        (problem+json), not a 500."""
        engine = create_sync_engine(database_target(settings, "intake"))
        try:
            with engine.begin() as conn:
                conn.execute(sa.text("UPDATE portal_clients SET sealed_secret = 'hk1.k99.AAAA'"))
        finally:
            engine.dispose()
        response = await portal.get("/portal/me")
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "keyring_unavailable"
