"""A portal's webhook endpoint for tests: a real HTTP server on a free local port that checks
each callback's signature and keeps what it received."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from services.intake.rules.signing import verify_webhook
from shared.errors import Unauthorized


@dataclass
class WebhookSink:
    """Answers 200 to callbacks signed with ``secret``, 401 to others; ``fail_next`` makes the
    next callbacks answer 503 (a portal that is down)."""

    secret: str
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    received: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    fail_next: int = 0
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def types(self) -> list[tuple[str, str]]:
        with self._lock:
            return [(e["application_number"], e["type"]) for e in self.received]

    def handle(self, body: bytes, headers: dict[str, str]) -> int:
        with self._lock:
            try:
                verify_webhook(self.secret, body, headers, now=self.now())
            except Unauthorized as exc:
                self.refused.append(exc.code)
                return 401
            if self.fail_next > 0:
                self.fail_next -= 1
                return 503
            self.received.append(json.loads(body))
            self.headers.append(headers)
            return 200


@contextmanager
def running_sink(sink: WebhookSink) -> Iterator[WebhookSink]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status = sink.handle(body, dict(self.headers.items()))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    sink.url = f"http://127.0.0.1:{server.server_address[1]}/huodian/callbacks"
    try:
        yield sink
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
