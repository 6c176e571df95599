"""Structured logs and request ids (日志与请求号).

Every service writes JSON lines, one object a line: its own records and ONE access line per
request (logger ``huodian.access``). Every line carries the request id of the request (or the
worker pass) it was written in, so one application can be followed from the portal through
intake, ledger and the outbox to notify's message:

- :class:`RequestIdMiddleware` (pure ASGI, installed by ``shared.app.create_service_app``) takes
  ``X-Request-Id`` from the request when it is well-formed (:data:`REQUEST_ID_PATTERN`), makes a
  new one otherwise, keeps it in a context variable for the request, returns it in the response's
  ``X-Request-Id`` header and writes the access line.
- :class:`shared.http.ServiceClient` sends the current id on every call to another service.
- Workers with no request of their own (the outbox, notify's deliveries) set the id of the
  request that queued the work with :func:`request_id_scope`.
- :class:`JsonFormatter` adds ``request_id`` and ``service`` to every record; :func:`logging_config`
  is the ``logging.config.dictConfig`` that ``huodian up`` and deploy/ give uvicorn
  (``--log-config``, with ``--no-access-log``: uvicorn's own access line would be a second one).

Personal data stays masked: the masking filter (:class:`shared.masking.SensitiveDataFilter`) is
on the handler, the access line's path is masked before it is logged, and the formatter masks
the whole rendered line once more (any extra field included).
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Final

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.masking import mask_sensitive

__all__ = [
    "ACCESS_LOGGER",
    "REQUEST_ID_HEADER",
    "REQUEST_ID_PATTERN",
    "JsonFormatter",
    "RequestIdMiddleware",
    "accepted_request_id",
    "current_request_id",
    "job_run",
    "logging_config",
    "new_request_id",
    "request_id_scope",
]

REQUEST_ID_HEADER: Final = "X-Request-Id"
REQUEST_ID_PATTERN: Final = re.compile(r"[A-Za-z0-9._:-]{1,64}")
"""What a caller's request id may be; anything else is replaced by a new one (never echoed)."""
ACCESS_LOGGER: Final = "huodian.access"

_request_id: ContextVar[str | None] = ContextVar("huodian_request_id", default=None)
_service: ContextVar[str | None] = ContextVar("huodian_service", default=None)

# The attributes every LogRecord has: anything else on a record came from ``extra=``.
_RECORD_ATTRIBUTES: Final = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "color_message",
    "taskName",
}


def new_request_id() -> str:
    """A fresh request id: 32 hex digits."""
    return uuid.uuid4().hex


def accepted_request_id(value: str | None) -> str:
    """``value`` if it is a well-formed request id, else a new one."""
    if value is not None and REQUEST_ID_PATTERN.fullmatch(value):
        return value
    return new_request_id()


def current_request_id() -> str | None:
    """The id of the request (or worker pass) being served, if any."""
    return _request_id.get()


@contextmanager
def request_id_scope(request_id: str | None) -> Iterator[str]:
    """Serve a block under ``request_id`` (a new one if it is missing or malformed): what the
    block logs and the calls it makes through ``ServiceClient`` carry it."""
    token = _request_id.set(accepted_request_id(request_id))
    try:
        yield _request_id.get() or ""
    finally:
        _request_id.reset(token)


@contextmanager
def job_run(logger: logging.Logger, job: str) -> Iterator[str]:
    """Serve one run of a scheduled or background ``job`` under a request id of its own,
    logged on ``logger`` as it starts (``extra``: ``job``, and ``called_from``, the id of the
    request that started it by hand, if any): every line of the run and every message or event
    it queues carries the run's id, so one run is followed as one request is."""
    caller = _request_id.get()
    with request_id_scope(None) as run_id:
        extra = {"job": job} if caller is None else {"job": job, "called_from": caller}
        logger.info("%s: run %s", job, run_id, extra=extra)
        yield run_id


_process_service: list[str] = []


def set_service_name(service: str) -> None:
    """Name the service on this process's lines outside requests (its workers'); set by
    ``create_service_app`` (one service a process; in tests the last app built)."""
    _process_service[:] = [service]


class RequestIdMiddleware:
    """Request id in, request id out, one JSON access line per HTTP request (see module doc)."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service
        self.access = logging.getLogger(ACCESS_LOGGER)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = None
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                given = value.decode("latin-1")
                break
        request_id = accepted_request_id(given)
        token = _request_id.set(request_id)
        service_token = _service.set(self.service)
        status = 500  # if the app fails before it answers, the server answers 500
        started = time.monotonic()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = MutableHeaders(scope=message)
                headers[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._log(scope, status, time.monotonic() - started)
            _service.reset(service_token)
            _request_id.reset(token)

    def _log(self, scope: Scope, status: int, elapsed: float) -> None:
        path = scope.get("root_path", "") + scope.get("path", "")
        query = scope.get("query_string", b"").decode("latin-1")
        shown = mask_sensitive(f"{path}?{query}" if query else path)
        route = getattr(scope.get("route"), "path", None)
        client = scope.get("client")
        method = scope.get("method", "")
        self.access.info(
            "%s %s %d",
            method,
            shown,
            status,
            extra={
                "method": method,
                "route": route,
                "path": shown,
                "status": status,
                "duration_ms": round(elapsed * 1000, 1),
                "client": client[0] if client else None,
                "request_id": _request_id.get(),
                "service": self.service,
            },
        )


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, from the record), level, logger, message,
    ``request_id`` (the record's own, else the current one), ``service``, any ``extra=`` fields
    and the exception text. Stdlib ``json``: no further dependency, and the masking filter works
    on plain ``LogRecord``s as they are."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or _request_id.get(),
            "service": getattr(record, "service", None)
            or _service.get()
            or next(iter(_process_service), None),
        }
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRIBUTES and key not in line:
                line[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exc"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        # Masked once more as a whole: an extra field may carry a number the filter never saw.
        return mask_sensitive(json.dumps(line, ensure_ascii=False, default=str))


def logging_config(level: str = "info") -> dict[str, Any]:
    """The ``dictConfig`` for a service process: JSON lines on stderr, masked, at ``level``
    (uvicorn's ``--log-config``; with ``--no-access-log``)."""
    upper = level.upper()
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "json",
        "filters": ["masking"],
        "stream": "ext://sys.stderr",
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"masking": {"()": "shared.masking.SensitiveDataFilter"}},
        "formatters": {"json": {"()": "shared.logs.JsonFormatter"}},
        "handlers": {"json": handler},
        "root": {"handlers": ["json"], "level": upper},
        "loggers": {
            "uvicorn": {"handlers": [], "level": upper, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": upper, "propagate": True},
            "uvicorn.access": {"handlers": [], "level": upper, "propagate": True},
            ACCESS_LOGGER: {"handlers": [], "level": upper, "propagate": True},
        },
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m shared.logs [LEVEL]``: print the logging config as JSON (deploy/logging.json)."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    print(json.dumps(logging_config(args[0] if args else "info"), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
