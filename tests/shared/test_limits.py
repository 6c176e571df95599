"""Request body limits: refused on the header, or as a chunked body passes the limit."""

from collections.abc import AsyncIterator

import pytest

from services.ledger.updates.service import MAX_EVIDENCE_BYTES, MAX_EVIDENCE_FILES
from tests.conftest import client_for
from tests.ledger.ledgers.test_items_api import item_id
from tests.ledger.updates.test_updates_api import update_form

MIB = 1024 * 1024
CHUNK = 64 * 1024


def assert_too_large(response, limit: str) -> None:
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["connection"] == "close"
    problem = response.json()
    assert problem["code"] == "payload_too_large"
    assert limit in problem["detail"]


class Chunks:
    """A chunked body of ``total`` bytes that counts how much of it was asked for."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.sent < self.total:
            self.sent += CHUNK
            yield b" " * CHUNK


class TestDefaultLimit:
    async def test_a_declared_length_over_it_is_refused_unread(self, apps):
        body = Chunks(200 * MIB)
        async with client_for(apps.ledger) as client:
            response = await client.post(
                "/auth/token",
                content=body,
                headers={"Content-Length": str(body.total), "Content-Type": "application/json"},
            )
        assert_too_large(response, "1 MiB")
        assert "POST /auth/token" in response.json()["detail"]
        assert body.sent == 0

    async def test_a_chunked_body_is_cut_off_once_it_passes_it(self, apps):
        body = Chunks(200 * MIB)
        async with client_for(apps.ledger) as client:
            response = await client.post(
                "/auth/token", content=body, headers={"Content-Type": "application/json"}
            )
        assert_too_large(response, "1 MiB")
        assert body.sent <= MIB + CHUNK

    async def test_a_body_just_under_it_is_read(self, apps, seeded):
        head = b'{"username": "admin", "password": "nope", "padding": "'
        padding = b"x" * (MIB - len(head) - 2)
        async with client_for(apps.ledger) as client:
            response = await client.post(
                "/auth/token",
                content=head + padding + b'"}',
                headers={"Content-Type": "application/json"},
            )
        assert response.status_code == 401  # read and parsed: the password is wrong
        assert response.json()["code"] == "bad_credentials"


class TestUploadLimits:
    async def test_an_evidence_file_over_the_default_limit_is_taken(self, power_head, seeded):
        target = await item_id(power_head, "dongying-2021", 7)
        pdf = b"%PDF" + b"x" * (3 * MIB)
        response = await power_head.post(
            f"/items/{target}/updates",
            data=update_form(),
            files=[("files", ("big.pdf", pdf, "application/pdf"))],
        )
        assert response.status_code == 201, response.text
        assert response.json()["evidence"][0]["size"] == len(pdf)

    async def test_more_than_ten_full_files_is_refused_unread(self, power_head, seeded):
        target = await item_id(power_head, "dongying-2021", 7)
        body = Chunks(MAX_EVIDENCE_FILES * MAX_EVIDENCE_BYTES + 2 * MIB)
        response = await power_head.post(
            f"/items/{target}/updates",
            content=body,
            headers={
                "Content-Length": str(body.total),
                "Content-Type": "multipart/form-data; boundary=x",
            },
        )
        assert_too_large(response, "101 MiB")
        assert body.sent == 0

    @pytest.mark.parametrize(
        ("service", "path", "limit"),
        [
            ("ledger", "/items/7/updates", 101 * MIB),
            ("ledger", "/ui/items/7/updates", 101 * MIB),
            ("ledger", "/ledgers/import", 6 * MIB),
            ("notify", "/subscribers/imports", 65 * MIB),
            ("intake", "/applications", MIB),
        ],
    )
    async def test_each_upload_route_has_its_limit(self, apps, service, path, limit):
        async with client_for(apps.app(service)) as client:
            response = await client.post(
                path,
                content=b"",
                headers={
                    "Content-Length": str(limit + 1),
                    "Content-Type": "multipart/form-data; boundary=x",
                },
            )
        assert_too_large(response, f"请求体超过 {limit // MIB} MiB（POST {path} 的上限）")
