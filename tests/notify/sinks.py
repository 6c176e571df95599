"""Real servers for the channels under test: an aiosmtpd SMTP server and local HTTP sinks."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from standardwebhooks import WebhookVerificationError

from services.notify.delivery.channels import sms_signature, standard_webhook
from tests.ports import free_port


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("nobody"):
            return "550 5.1.1 no such mailbox"
        for prefix, reply in self.sink.refuse.items():
            if address.startswith(prefix):
                return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.sink.delay:
            await asyncio.sleep(self.sink.delay)  # a slow server: each message takes a while
        mail = message_from_bytes(envelope.content, policy=policy.default)
        over_tls = server.transport.get_extra_info("ssl_object") is not None
        login = session.auth_data
        user = login.login.decode() if isinstance(login, LoginPassword) else None
        with self.sink.lock:
            self.sink.received.append((list(envelope.rcpt_tos), mail))
            self.sink.sessions.append((over_tls, user))
        return self.sink.data_reply


class SmtpSink:
    """An aiosmtpd server on a fixed free port that can be stopped and started again.

    ``delay``: seconds each message takes before the server accepts it (a slow server);
    ``refuse``: recipient prefix → the reply to RCPT (e.g. ``"450 4.2.1 mailbox busy"``);
    ``data_reply``: the reply to DATA (Postfix names its queue id there:
    ``250 2.0.0 Ok: queued as …``)."""

    def __init__(
        self,
        delay: float = 0.0,
        *,
        security: str = "none",
        tls: ssl.SSLContext | None = None,
        login: tuple[str, str] | None = None,
    ) -> None:
        """``security``: ``"starttls"`` (required before MAIL), ``"offered"`` (STARTTLS
        advertised, not required) or ``"tls"`` (implicit TLS),
        with the server context ``tls``; ``login``: the one user and password it accepts, and
        requires (with STARTTLS)."""
        self.port = free_port()
        self.delay = delay
        self.security = security
        self.tls = tls
        self.login = login
        self.sessions: list[tuple[bool, str | None]] = []  # (over TLS, who logged in) per mail
        self.refuse: dict[str, str] = {}
        self.data_reply = "250 Message accepted for delivery"
        self.received: list[tuple[list[str], EmailMessage]] = []
        self.lock = threading.Lock()
        self._controller: Controller | None = None

    def start(self) -> None:
        options: dict[str, Any] = {}
        if self.security == "tls":
            options["ssl_context"] = self.tls
        elif self.security in ("starttls", "offered"):
            options.update(tls_context=self.tls, require_starttls=self.security == "starttls")
        if self.login is not None:
            # Login inside STARTTLS only: aiosmtpd cannot tell it runs under implicit TLS.
            options.update(authenticator=self._authenticate, auth_required=True)
        self._controller = Controller(
            _Handler(self), hostname="127.0.0.1", port=self.port, **options
        )
        self._controller.start()

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        user = auth_data.login.decode() if isinstance(auth_data, LoginPassword) else None
        given = (user, auth_data.password.decode()) if user is not None else None
        return AuthResult(success=given == self.login, handled=False, auth_data=auth_data)

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def mails(self) -> list[tuple[list[str], EmailMessage]]:
        with self.lock:
            return list(self.received)


@dataclass
class Request:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Responder = Callable[[Request], tuple[int, dict[str, Any]]]


@dataclass
class HttpSink:
    """A local HTTP server that records every POST and answers with ``responder``."""

    responder: Responder = field(default=lambda _r: (200, {"errcode": 0, "errmsg": "ok"}))
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                parts = urlsplit(self.path)
                request = Request(
                    parts.path, parse_qs(parts.query), dict(self.headers), self.rfile.read(length)
                )
                with sink.lock:
                    sink.requests.append(request)
                status, payload = sink.responder(request)
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # concurrent workers connect at once
            daemon_threads = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class SmsGateway:
    """A stand-in of the SMS gateway (短信网关) as ``delivery/channels.py`` documents it: checks
    the signature, answers ``{"code": "OK", "biz_id": …}`` with a new biz_id per message taken,
    ``INVALID_MOBILE`` (空号) for the numbers in ``empty``, and HTTP 503 while ``down``.
    Use it as an :class:`HttpSink`'s responder."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.empty: set[str] = set()
        self.down = False
        self.taken: list[dict[str, Any]] = []

    def __call__(self, request: Request) -> tuple[int, dict[str, Any]]:
        if self.down:
            return 503, {"code": "UNAVAILABLE", "message": "维护中"}
        h = request.headers
        expected = sms_signature(
            self.secret, h["X-Huodian-Timestamp"], h["X-Huodian-Nonce"], request.body
        )
        if h.get("X-Huodian-Signature") != expected:
            return 401, {"code": "BAD_SIGNATURE", "message": "signature mismatch"}
        body = request.json()
        if body["mobile"] in self.empty:
            return 200, {"code": "INVALID_MOBILE", "message": "空号", "biz_id": "E-0"}
        self.taken.append(body)
        return 200, {"code": "OK", "message": "ok", "biz_id": f"BIZ{len(self.taken):06d}"}


class WebhookReceiver:
    """A receiver of the generic webhook that verifies each call as Standard Webhooks say, with
    the ``standardwebhooks`` library's own verifier (the five-minute tolerance): 200 if it
    verifies, 401 with the verifier's reason if not. :meth:`check` verifies a captured call
    again (a replay). Use it as an :class:`HttpSink`'s responder."""

    def __init__(self, secret: str) -> None:
        self.webhook = standard_webhook(secret)
        self.verified: list[Any] = []
        self.refused: list[str] = []

    def check(self, request: Request) -> str | None:
        """None if ``request`` verifies now, else why it is refused."""
        try:
            payload = self.webhook.verify(request.body, request.headers)
        except WebhookVerificationError as exc:
            self.refused.append(str(exc))
            return str(exc)
        self.verified.append(payload)
        return None

    def __call__(self, request: Request) -> tuple[int, dict[str, Any]]:
        reason = self.check(request)
        if reason is not None:
            return 401, {"error": reason}
        return 200, {"ok": True}


@dataclass(frozen=True)
class TlsFiles:
    """A self-signed certificate for 127.0.0.1 (``cert`` is also the CA a client trusts)."""

    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


def self_signed(directory: Path) -> TlsFiles:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        # Fixed, wide validity: TLS checks it against the real time, which no test freezes.
        .not_valid_before(datetime(2000, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2099, 12, 31, tzinfo=UTC))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    files = TlsFiles(directory / "cert.pem", directory / "key.pem")
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files
