from services.ledger.accounts.service import set_password
from shared.auth import Role, decode_token
from shared.clock import SYSTEM_CLOCK
from shared.db import session_scope
from tests.conftest import PASSWORD, add_user, client_for, service_client, sign_in


class TestSignIn:
    async def test_wrong_password_is_401_problem(self, apps):
        await add_user(apps, "admin", Role.admin)
        async with client_for(apps.ledger) as client:
            response = await client.post(
                "/auth/token", json={"username": "admin", "password": "nope"}
            )
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "bad_credentials"

    async def test_no_token_is_401(self, apps, seeded):
        async with client_for(apps.ledger) as client:
            response = await client.get("/items")
        assert response.status_code == 401
        assert response.json()["code"] == "unauthorized"

    async def test_garbage_token_is_401(self, apps):
        async with client_for(apps.ledger, "not-a-token") as client:
            response = await client.get("/users/me")
        assert response.json()["code"] == "invalid_token"

    async def test_password_change_revokes_old_tokens(self, apps):
        await add_user(apps, "viewer", Role.viewer)
        token = await sign_in(apps, "viewer")
        async with session_scope(apps.ledger.state.engine) as session:
            await set_password(session, "viewer", "another-password-1")
        async with client_for(apps.ledger, token) as client:
            response = await client.get("/users/me")
        assert response.status_code == 401
        assert response.json()["code"] == "token_revoked"


class TestUsers:
    async def test_admin_creates_department_head(self, admin, seeded):
        response = await admin.post(
            "/users",
            json={
                "username": "wang",
                "display_name": "王主任",
                "role": "dept_head",
                "email": "wang@example.cn",
                "password": PASSWORD,
                "units": ["市发展改革委"],
            },
        )
        assert response.status_code == 201, response.text
        assert [u["name"] for u in response.json()["units"]] == ["市发展改革委"]
        assert "password_hash" not in response.json()

    async def test_department_head_needs_a_unit(self, admin, seeded):
        response = await admin.post(
            "/users",
            json={
                "username": "wang",
                "display_name": "王",
                "role": "dept_head",
                "password": PASSWORD,
            },
        )
        assert response.status_code == 422
        assert response.json()["code"] == "units_required"

    async def test_unknown_unit_is_refused(self, admin, seeded):
        response = await admin.post(
            "/users",
            json={
                "username": "wang",
                "display_name": "王",
                "role": "dept_head",
                "password": PASSWORD,
                "units": ["火星供电局"],
            },
        )
        assert response.status_code == 422
        assert response.json()["code"] == "unknown_unit"

    async def test_validation_names_the_field(self, admin):
        response = await admin.post(
            "/users",
            json={"username": "x y", "display_name": "", "role": "king", "password": "short"},
        )
        assert response.status_code == 422
        body = response.json()
        assert body["code"] == "validation_failed"
        assert {e["field"] for e in body["errors"]} == {
            "username",
            "display_name",
            "role",
            "password",
        }

    async def test_duplicate_username_is_409(self, admin):
        body = {"username": "dup", "display_name": "d", "role": "viewer", "password": PASSWORD}
        assert (await admin.post("/users", json=body)).status_code == 201
        response = await admin.post("/users", json=body)
        assert response.status_code == 409
        assert response.json()["code"] == "user_exists"

    async def test_viewer_cannot_create_users(self, viewer):
        response = await viewer.post(
            "/users",
            json={"username": "x", "display_name": "x", "role": "viewer", "password": PASSWORD},
        )
        assert response.status_code == 403
        assert response.json()["code"] == "admin_required"

    async def test_user_changes_own_password_only(self, viewer, admin):
        response = await viewer.put("/users/admin/password", json={"password": "hijacked-123"})
        assert response.status_code == 403
        response = await viewer.put("/users/viewer/password", json={"password": "new-password-1"})
        assert response.status_code == 200


async def test_sign_in_issues_a_working_token(apps):
    await add_user(apps, "viewer", Role.viewer)
    async with client_for(apps.ledger) as client:
        response = await client.post(
            "/auth/token", json={"username": "viewer", "password": PASSWORD}
        )
        assert response.status_code == 200
        token = response.json()
        assert token["token_type"] == "bearer"
        assert token["expires_in"] == 12 * 3600
        me = await client.get(
            "/users/me", headers={"Authorization": f"Bearer {token['access_token']}"}
        )
    assert me.json()["username"] == "viewer"


class TestUpdateUser:
    async def test_rebind_units_and_revoke_old_token(self, apps, admin, seeded):
        await add_user(apps, "wang", Role.dept_head, ["各供电企业"], "wang@example.cn")
        old_token = await sign_in(apps, "wang")
        response = await admin.patch("/users/wang", json={"units": ["市发展改革委"], "email": None})
        assert response.status_code == 200, response.text
        assert [u["name"] for u in response.json()["units"]] == ["市发展改革委"]
        assert response.json()["email"] is None
        async with client_for(apps.ledger, old_token) as client:
            assert (await client.get("/users/me")).json()["code"] == "token_revoked"
        async with client_for(apps.ledger, await sign_in(apps, "wang")) as client:
            assert (await client.get("/users/me")).json()["units"][0]["name"] == "市发展改革委"

    async def test_deactivated_user_cannot_sign_in(self, apps, admin):
        await add_user(apps, "gone", Role.viewer)
        token = await sign_in(apps, "gone")
        assert (await admin.patch("/users/gone", json={"is_active": False})).status_code == 200
        async with client_for(apps.ledger, token) as client:
            assert (await client.get("/users/me")).status_code == 401
            response = await client.post(
                "/auth/token", json={"username": "gone", "password": PASSWORD}
            )
        assert response.json()["code"] == "bad_credentials"

    async def test_department_head_keeps_a_unit(self, apps, admin, seeded):
        await add_user(apps, "wang", Role.dept_head, ["各供电企业"])
        response = await admin.patch("/users/wang", json={"units": []})
        assert response.status_code == 422
        assert response.json()["code"] == "units_required"

    async def test_viewer_has_no_units(self, apps, admin, seeded):
        await add_user(apps, "vv", Role.viewer)
        response = await admin.patch("/users/vv", json={"units": ["各供电企业"]})
        assert response.json()["code"] == "units_not_allowed"

    async def test_clerk_may_have_units_and_token_names_them(self, apps, admin, seeded):
        response = await admin.post(
            "/users",
            json={
                "username": "clerk1",
                "display_name": "受理员",
                "role": "clerk",
                "password": PASSWORD,
                "units": ["各供电企业"],
            },
        )
        assert response.status_code == 201
        token = await sign_in(apps, "clerk1")
        principal = decode_token(apps.ledger.state.settings, token, SYSTEM_CLOCK.now())
        assert principal.role is Role.clerk
        assert principal.units == ("各供电企业",)

    async def test_unknown_user_is_404(self, admin):
        assert (await admin.patch("/users/nobody", json={"is_active": False})).status_code == 404


class TestDirectory:
    async def test_services_find_active_users_by_unit_and_role(self, apps, settings, seeded):
        await add_user(apps, "sup1", Role.supervisor, ["市发展改革委"], "sup1@example.cn")
        await add_user(apps, "sup2", Role.supervisor, ["各供电企业"], "sup2@example.cn")
        await add_user(apps, "head", Role.dept_head, ["市发展改革委"], "head@example.cn")
        async with service_client(apps, settings, "ledger", "notify") as notify:
            response = await notify.get(
                "/directory/contacts", params={"unit": "市发展改革委", "role": "supervisor"}
            )
        assert response.status_code == 200
        assert [(u["username"], u["email"]) for u in response.json()] == [
            ("sup1", "sup1@example.cn")
        ]

    async def test_users_other_than_admin_are_refused(self, viewer):
        response = await viewer.get("/directory/contacts")
        assert response.status_code == 403
