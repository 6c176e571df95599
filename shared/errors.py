"""One error shape for every service: RFC 9457 ``application/problem+json`` with a stable ``code``.

Domain code raises a subclass of :class:`HuodianError`; one handler per app renders it. Request
validation errors become 422 with one entry per offending field.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.calendar import CalendarRangeError
from shared.keyring import KeyringError

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("huodian.errors")


class FieldError(BaseModel):
    field: str
    code: str
    message: str


class Problem(BaseModel):
    """The body of every error response (问题详情)."""

    type: str = "about:blank"
    title: str
    status: int
    code: str
    detail: str
    errors: list[FieldError] = []


class HuodianError(Exception):
    """Base of all domain errors; subclasses set ``status`` and ``code``."""

    status: int = 400
    code: str = "bad_request"
    title: str = "Bad request"
    headers: dict[str, str] | None = None  # sent with the problem (e.g. Retry-After)

    def __init__(
        self, detail: str, *, code: str | None = None, errors: list[FieldError] | None = None
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if code:
            self.code = code
        self.errors = errors or []

    def problem(self) -> Problem:
        return Problem(
            title=self.title,
            status=self.status,
            code=self.code,
            detail=self.detail,
            errors=self.errors,
        )


class BadRequest(HuodianError):
    pass


class Unauthorized(HuodianError):
    status, code, title = 401, "unauthorized", "Unauthorized"


class Forbidden(HuodianError):
    status, code, title = 403, "forbidden", "Forbidden"


class NotFound(HuodianError):
    status, code, title = 404, "not_found", "Not found"


class Conflict(HuodianError):
    status, code, title = 409, "conflict", "Conflict"


class PayloadTooLarge(HuodianError):
    status, code, title = 413, "payload_too_large", "Payload too large"


class Unprocessable(HuodianError):
    status, code, title = 422, "validation_failed", "Validation failed"


class UpstreamUnavailable(HuodianError):
    status, code, title = 502, "upstream_unavailable", "Upstream service unavailable"


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        problem.model_dump(), status_code=problem.status, media_type=PROBLEM_JSON, headers=headers
    )


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "form")]
    return ".".join(parts) or "body"


async def _handle_domain(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HuodianError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
    headers.update(exc.headers or {})
    return problem_response(exc.problem(), headers or None)


async def _handle_validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        FieldError(field=_field_name(tuple(e["loc"])), code=e["type"], message=e["msg"])
        for e in exc.errors()
    ]
    fields = ", ".join(sorted({e.field for e in errors}))
    return problem_response(
        Problem(
            title="Validation failed",
            status=422,
            code="validation_failed",
            detail=f"Invalid input: {fields}",
            errors=errors,
        )
    )


async def _handle_http(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return problem_response(
        Problem(title=str(exc.detail), status=exc.status_code, code=code, detail=str(exc.detail)),
        dict(exc.headers) if exc.headers else None,
    )


async def _handle_integrity(_request: Request, exc: Exception) -> JSONResponse:
    # A unique or foreign key raced past the checks in the domain code: nothing was written.
    log.warning("integrity error: %s", exc)
    return problem_response(
        Problem(
            title="Conflict",
            status=409,
            code="conflict",
            detail="The change conflicts with data stored meanwhile; nothing was written.",
        )
    )


async def _handle_calendar_range(_request: Request, exc: Exception) -> JSONResponse:
    return problem_response(
        Problem(
            title="Date outside the working-day calendar",
            status=422,
            code="date_outside_calendar",
            detail=str(exc),
        )
    )


async def _handle_keyring(_request: Request, exc: Exception) -> JSONResponse:
    # A stored value names a key this process's keyring does not hold (a keyring file not
    # distributed to every host after a rotation) or does not open: an operator must act.
    log.error("keyring: %s", exc)
    return problem_response(
        Problem(
            title="Key not available",
            status=503,
            code="keyring_unavailable",
            detail="a stored secret cannot be opened with this server's keyring; "
            "an administrator must check the keyring file (HUODIAN_KEYRING_FILE)",
        )
    )


INTERNAL_ERROR = Problem(
    title="Internal error",
    status=500,
    code="internal_error",
    detail="The server failed to handle the request; it has been logged.",
)


async def _handle_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(INTERNAL_ERROR)


class UnexpectedErrorMiddleware:
    """Answer an unexpected exception with a problem+json 500 and end the request normally.

    Starlette's ``ServerErrorMiddleware`` (where an ``Exception`` handler lives) re-raises after
    sending its response, so that the server sees the error; uvicorn then closes the connection,
    and the client's next request on that kept-alive connection is reset. Caught here instead,
    the error is logged once and the connection stays usable. Once a response has started there
    is nothing left to answer with, so the error goes on to the server.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_and_note(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        except Exception as exc:
            if started:
                raise
            await (await _handle_unexpected(Request(scope), exc))(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(HuodianError, _handle_domain)
    app.add_exception_handler(RequestValidationError, _handle_validation)
    app.add_exception_handler(StarletteHTTPException, _handle_http)
    app.add_exception_handler(IntegrityError, _handle_integrity)
    app.add_exception_handler(CalendarRangeError, _handle_calendar_range)
    app.add_exception_handler(KeyringError, _handle_keyring)
    app.add_exception_handler(Exception, _handle_unexpected)
    app.add_middleware(UnexpectedErrorMiddleware)
    _document_problems(app)


def _document_problems(app: FastAPI) -> None:
    """OpenAPI shows every error response as it is sent, ``application/problem+json``.

    FastAPI documents a ``responses={...: {"model": Problem}}`` entry under the route's own media
    type (``application/json``); the schema is rewritten once, when it is first built.
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            for operations in build().get("paths", {}).values():
                for operation in operations.values():
                    for status, response in operation.get("responses", {}).items():
                        content = response.get("content", {})
                        if status[0] in "45" and "application/json" in content:
                            content[PROBLEM_JSON] = content.pop("application/json")
        return app.openapi_schema or build()

    app.openapi = openapi  # type: ignore[method-assign]


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": text}
    for status, text in {
        400: "Bad request (请求错误)",
        401: "Not authenticated (未认证)",
        403: "Not allowed (无权限)",
        404: "Not found (不存在)",
        409: "Conflict (冲突)",
        413: "Request body too large (请求体过大)",
        422: "Validation failed (校验失败)",
    }.items()
}
