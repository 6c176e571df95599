"""Against the real processes: an oversized body is refused before it has arrived, and a
dispatcher cannot point a webhook at the services' own loopback addresses."""

from __future__ import annotations

import os
import select
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.e2e.support import running_stack

pytestmark = pytest.mark.e2e
ADMIN_PASSWORD = "e2e-security-password"
MIB = 1024 * 1024
BODY = 200 * MIB


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    # No HUODIAN_OUTBOUND_ALLOW: the default policy of a deployment.
    with running_stack(
        tmp_path_factory.mktemp("e2e-security"), f"e2esec{os.getpid()}_", ADMIN_PASSWORD
    ) as urls:
        yield urls


def service_pid(url: str) -> int:
    """The uvicorn process that listens on ``url``'s port."""
    port = str(urlsplit(url).port)
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"uvicorn" in args and port.encode() in args:
            return int(proc.name)
    raise AssertionError(f"no process listens on {port}")


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def send_until_answered(url: str, head: bytes, chunk: bytes) -> tuple[int, bytes]:
    """Send ``head``, then ``chunk`` after ``chunk`` (up to BODY bytes) until the server
    answers or closes; returns the bytes of body sent and what it answered."""
    parts = urlsplit(url)
    sent = 0
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(head)
        try:
            while sent < BODY:
                if select.select([sock], [], [], 0)[0]:
                    break  # the answer came before the body was done
                sock.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server closed the connection on us: also early
        answer = b""
        try:
            while len(answer) < 65536:
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
        except (ConnectionResetError, TimeoutError):
            pass
    return sent, answer


def token_request(host: str, framing: bytes) -> bytes:
    return (
        b"POST /auth/token HTTP/1.1\r\nHost: " + host.encode() + b"\r\n"
        b"Content-Type: application/json\r\n" + framing + b"\r\n"
    )


class TestOversizedBody:
    def test_a_declared_200_mib_token_request_is_refused_at_once(self, stack):
        ledger = stack["ledger"]
        before = rss_bytes(service_pid(ledger))
        head = token_request(urlsplit(ledger).netloc, f"Content-Length: {BODY}\r\n".encode())
        sent, answer = send_until_answered(ledger, head, b" " * (64 * 1024))
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert b"payload_too_large" in answer
        assert sent < 50 * MIB  # it did not wait for the 200 MiB
        assert rss_bytes(service_pid(ledger)) - before < 30 * MIB

    def test_a_chunked_one_is_cut_off_after_the_limit(self, stack):
        ledger = stack["ledger"]
        before = rss_bytes(service_pid(ledger))
        data = b" " * (64 * 1024)
        chunk = f"{len(data):x}\r\n".encode() + data + b"\r\n"
        head = token_request(urlsplit(ledger).netloc, b"Transfer-Encoding: chunked\r\n")
        sent, answer = send_until_answered(ledger, head, chunk)
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert b"1 MiB" in answer
        assert sent < 50 * MIB
        assert rss_bytes(service_pid(ledger)) - before < 30 * MIB
        assert httpx.get(f"{ledger}/healthz").status_code == 200


class TestLoopbackWebhook:
    def test_a_dispatcher_cannot_register_one(self, stack):
        token = httpx.post(
            f"{stack['ledger']}/auth/token",
            json={"username": "admin", "password": ADMIN_PASSWORD},
        ).json()["access_token"]
        staff = {"Authorization": f"Bearer {token}"}
        created = httpx.post(
            f"{stack['ledger']}/users",
            headers=staff,
            json={
                "username": "diaodu",
                "display_name": "调度员",
                "role": "dispatcher",
                "password": "dispatcher-password-1",
            },
        )
        assert created.status_code == 201, created.text
        dispatcher_token = httpx.post(
            f"{stack['ledger']}/auth/token",
            json={"username": "diaodu", "password": "dispatcher-password-1"},
        ).json()["access_token"]
        dispatcher = {"Authorization": f"Bearer {dispatcher_token}"}
        for url in (f"{stack['ledger']}/users", "http://[::1]/", "http://localhost:8103/"):
            refused = httpx.post(
                f"{stack['notify']}/subscribers",
                headers=dispatcher,
                json={
                    "account_number": "0531000001",
                    "name": "张三",
                    "app_webhook": url,
                    "feeder": "10kV东城线",
                    "transformer_area": "东城1号台区",
                    "area_class": "市区",
                },
            )
            assert refused.status_code == 422, refused.text
            assert refused.json()["code"] == "url_not_allowed"
