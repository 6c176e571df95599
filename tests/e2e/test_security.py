"""Against the real processes: an oversized body is refused before it has arrived, and a
dispatcher cannot point a webhook at the services' own loopback addresses."""

from __future__ import annotations

import json
import select
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.e2e.support import stack_fixture

pytestmark = pytest.mark.e2e
ADMIN_PASSWORD = "e2e-security-password"
MIB = 1024 * 1024
BODY = 200 * MIB


# No HUODIAN_OUTBOUND_ALLOW: the default policy of a deployment.
stack = stack_fixture("e2esec", ADMIN_PASSWORD)


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
                    "area_class": "urban",
                },
            )
            assert refused.status_code == 422, refused.text
            assert refused.json()["code"] == "url_not_allowed"


class Connection:
    """One kept-alive HTTP/1.1 connection, written by hand: what is sent is sent as it is (no
    client escapes a NUL), and a connection the server closes is noticed, not reopened."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host = parts.netloc
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
        self.pending = b""

    def close(self) -> None:
        self.sock.close()

    def _read_until(self, enough: int | bytes) -> bytes:
        while len(self.pending) < enough if isinstance(enough, int) else enough not in self.pending:
            data = self.sock.recv(65536)
            assert data, "the server closed the connection"
            self.pending += data
        if isinstance(enough, int):
            taken, self.pending = self.pending[:enough], self.pending[enough:]
        else:
            taken, _, self.pending = self.pending.partition(enough)
        return taken

    def request(
        self, method: str, target: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> tuple[int, dict[str, str], bytes]:
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.host}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        lines.append(f"Content-Length: {len(body)}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        status_line, *header_lines = self._read_until(b"\r\n\r\n").decode().split("\r\n")
        answer_headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            answer_headers[name.strip().lower()] = value.strip()
        content = self._read_until(int(answer_headers.get("content-length", "0")))
        return int(status_line.split()[1]), answer_headers, content


@pytest.fixture
def connection(request: pytest.FixtureRequest, stack: dict[str, str]) -> Iterator[Connection]:
    opened = Connection(stack[request.param])
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def staff(stack: dict[str, str]) -> dict[str, str]:
    token = httpx.post(
        f"{stack['ledger']}/auth/token",
        json={"username": "admin", "password": ADMIN_PASSWORD},
        timeout=60,
    ).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


class TestBadInput:
    """Hostile input to the real processes: each a 4xx problem+json with its code, and the next
    request on the same kept-alive connection is served."""

    @staticmethod
    def assert_problem(answer: tuple[int, dict[str, str], bytes], status: int, code: str) -> None:
        got, headers, body = answer
        assert got == status, body
        assert headers["content-type"] == "application/problem+json"
        assert "close" not in headers.get("connection", "")
        assert json.loads(body)["code"] == code

    @staticmethod
    def assert_still_serves(connection: Connection, staff: dict[str, str]) -> None:
        status, _, body = connection.request("GET", "/healthz")
        assert status == 200, body
        assert connection.request("GET", "/users/me", staff)[0] in (200, 404)

    @pytest.mark.parametrize("connection", ["ledger"], indirect=True)
    def test_ledger(self, connection, staff):
        anonymous_json = {"Content-Type": "application/json"}
        cases = [
            ("GET", "/items?ledger=dongying-2021%00", staff, b"", 422, "nul_character"),
            (
                "POST",
                "/auth/token",
                anonymous_json,
                b'{"username": "ad\\u0000min", "password": "x"}',
                422,
                "nul_character",
            ),
            ("GET", f"/items/{2**63}", staff, b"", 422, "validation_failed"),
            ("GET", "/items?as_of=0001-01-01", staff, b"", 422, "validation_failed"),
            ("GET", "/items?as_of=9999-12-31", staff, b"", 422, "validation_failed"),
        ]
        for method, target, headers, body, status, code in cases:
            self.assert_problem(connection.request(method, target, headers, body), status, code)
            self.assert_still_serves(connection, staff)
        status, _, body = connection.request("GET", "/items?ledger=dongying-2021&limit=1", staff)
        assert status == 200, body

    @pytest.mark.parametrize("connection", ["intake"], indirect=True)
    def test_intake(self, connection, staff):
        cases = [
            ("/public/applications/BZ%00/progress", {"X-Query-Code": "AAAAAAAA"}, "nul_character"),
            ("/public/disclosure?jurisdiction=dy%00", {}, "nul_character"),
            (f"/applications?offset={2**63}", staff, "validation_failed"),
        ]
        for target, headers, code in cases:
            self.assert_problem(connection.request("GET", target, headers), 422, code)
            self.assert_still_serves(connection, staff)

    @pytest.mark.parametrize("connection", ["notify"], indirect=True)
    def test_notify(self, connection, staff):
        json_staff = {**staff, "Content-Type": "application/json"}
        outage = {
            "kind": "planned",
            "cause": "10kV线路\u0000检修",
            "feeders": ["F1"],
            "planned_start": "2026-12-10T08:00:00+08:00",
            "etr": "2026-12-10T16:00:00+08:00",
        }
        cases = [
            ("GET", f"/subscribers/{2**63}", staff, b"", "validation_failed"),
            ("POST", "/outages", json_staff, json.dumps(outage).encode(), "nul_character"),
            ("GET", "/subscribers?q=%00", staff, b"", "nul_character"),
        ]
        for method, target, headers, body, code in cases:
            self.assert_problem(connection.request(method, target, headers, body), 422, code)
            self.assert_still_serves(connection, staff)
