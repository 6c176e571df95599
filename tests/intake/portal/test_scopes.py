"""Each portal key carries scopes (接入权限): the government portal submits applications, the
project approval platform pushes projects, the approval service posts approval results."""

import pytest
import sqlalchemy as sa

from services.cli import main
from services.intake.portal.models import PortalScope
from shared.db import create_sync_engine, database_target
from shared.migrations import downgrade, upgrade
from shared.settings import get_settings
from tests.intake.portal.conftest import (
    new_portal_key,
    portal_application_body,
    post,
    project_body,
    signed_client,
)

APPROVAL = {
    "application_number": "DY-2025-000001",
    "result": "approved",
    "approval_number": "东审批〔2025〕第7号",
    "decided_on": "2025-09-30",
}


def assert_scope_required(response, scope):
    assert response.status_code == 403, response.text
    problem = response.json()
    assert problem["code"] == "scope_required"
    assert scope in problem["detail"]
    assert [(e["field"], e["message"]) for e in problem["errors"]] == [("scope", scope)]


class TestScopesGuardRoutes:
    async def test_an_applications_key_may_not_push_projects_or_approvals(
        self, intake, clock, elicense
    ):
        key = await new_portal_key(intake, "政务服务平台", [PortalScope.applications])
        async with signed_client(intake, key, clock) as portal:
            assert_scope_required(
                await post(portal, "/portal/projects", project_body()), "projects"
            )
            assert_scope_required(await post(portal, "/portal/approvals", APPROVAL), "approvals")
            applied = await post(portal, "/portal/applications", portal_application_body())
            assert applied.status_code == 201, applied.text

    async def test_a_projects_key_may_only_push_projects(self, intake, clock):
        key = await new_portal_key(intake, "工程建设项目审批平台", [PortalScope.projects])
        async with signed_client(intake, key, clock) as portal:
            assert_scope_required(
                await post(portal, "/portal/applications", portal_application_body()),
                "applications",
            )
            assert (await post(portal, "/portal/projects", project_body())).status_code == 201

    async def test_an_approvals_key_reaches_the_approval_route(self, intake, clock):
        key = await new_portal_key(intake, "审批服务", [PortalScope.approvals])
        async with signed_client(intake, key, clock) as portal:
            assert_scope_required(
                await post(portal, "/portal/projects", project_body()), "projects"
            )
            unknown = await post(portal, "/portal/approvals", APPROVAL)
            assert unknown.status_code == 404, unknown.text

    async def test_a_refusal_stores_no_idempotent_answer(self, intake, clock):
        narrow = await new_portal_key(intake, "审批服务", [PortalScope.approvals])
        async with signed_client(intake, narrow, clock) as portal:
            body = project_body()
            first = await post(portal, "/portal/projects", body, key="same-key")
            again = await post(portal, "/portal/projects", body, key="same-key")
        assert (first.status_code, again.status_code) == (403, 403)
        assert "idempotent-replayed" not in again.headers

    async def test_me_and_the_key_list_show_the_scopes(self, intake, intake_admin, clock):
        key = await new_portal_key(
            intake, "审批服务", [PortalScope.approvals, PortalScope.projects]
        )
        async with signed_client(intake, key, clock) as portal:
            me = await portal.get("/portal/me")
        assert me.status_code == 200, me.text
        assert me.json()["scopes"] == ["projects", "approvals"]
        listed = (await intake_admin.get("/portal/clients")).json()
        assert [c["scopes"] for c in listed] == [["projects", "approvals"]]


@pytest.fixture
def sqlite_env(tmp_path, monkeypatch):
    monkeypatch.setenv("HUODIAN_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("HUODIAN_DATABASE_URL", raising=False)
    monkeypatch.delenv("HUODIAN_SECRET_KEY", raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


CLIENTS = sa.table(
    "portal_clients", sa.column("id"), sa.column("name"), sa.column("scopes", sa.JSON())
)


def stored_scopes(settings):
    engine = create_sync_engine(database_target(settings, "intake"))
    try:
        with engine.connect() as conn:
            query = sa.select(CLIENTS.c.name, CLIENTS.c.scopes).order_by(CLIENTS.c.id)
            return [(name, scopes) for name, scopes in conn.execute(query)]
    finally:
        engine.dispose()


class TestKeyAddCommand:
    def test_the_default_scope_is_applications(self, sqlite_env, capsys):
        assert main(["migrate", "--service", "intake"]) == 0
        assert main(["key", "add", "--name", "政务服务平台"]) == 0
        assert "scopes: applications\n" in capsys.readouterr().out
        assert (
            main(
                ["key", "add", "--name", "审批平台", "--scope", "projects", "--scope", "approvals"]
            )
            == 0
        )
        assert "scopes: projects approvals\n" in capsys.readouterr().out
        assert stored_scopes(get_settings()) == [
            ("政务服务平台", ["applications"]),
            ("审批平台", ["projects", "approvals"]),
        ]

    def test_an_unknown_scope_is_refused(self, sqlite_env):
        with pytest.raises(SystemExit, match="unknown scope everything"):
            main(["key", "add", "--name", "政务服务平台", "--scope", "everything"])


class TestExistingKeysKeepEveryScope:
    def test_the_migration_gives_old_keys_all_scopes(self, settings):
        fresh = settings.model_copy(
            update={
                "db_schema_prefix": f"{settings.db_schema_prefix}scopes_",
                "var_dir": settings.var_dir / "scopes",
            }
        )
        upgrade("intake", fresh)
        downgrade("intake", fresh, "base")
        upgrade("intake", fresh, "0009")
        engine = create_sync_engine(database_target(fresh, "intake"))
        try:
            with engine.begin() as conn:
                conn.execute(
                    sa.text(
                        "INSERT INTO portal_clients (key_id, name, secret, is_active, created_at)"
                        " VALUES ('pk_old', '老接入方', 's', true, '2025-01-01 00:00:00+00:00')"
                    )
                )
        finally:
            engine.dispose()
        upgrade("intake", fresh)
        assert stored_scopes(fresh) == [("老接入方", ["applications", "projects", "approvals"])]
