"""One error shape for every service: RFC 9457 ``application/problem+json`` with a stable ``code``.

Domain code raises a subclass of :class:`HuodianError`; one handler per app renders it. Request
validation errors become 422 with one entry per offending field.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import parse  # type: ignore[import-untyped]
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, APIRouter
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.calendar import CalendarRangeError
from shared.keyring import KeyringError

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("huodian.errors")
CATALOGUE_FILE = Path(__file__).with_name("error_codes.json")
ROUTE_ERRORS_FILE = Path(__file__).with_name("route_errors.json")


@cache
def catalogue() -> dict[str, dict[str, Any]]:
    """Every error code → its one status, its Chinese title and message (错误码目录).

    ``patterns`` maps each English detail the code is raised with (a ``parse`` pattern) to its
    Chinese template; the values the English carries fill the Chinese, so the facts stay."""
    data: dict[str, dict[str, Any]] = json.loads(CATALOGUE_FILE.read_text(encoding="utf-8"))
    return data


@cache
def _compiled(pattern: str) -> parse.Parser:
    return parse.compile(pattern, case_sensitive=True)


def chinese_detail(code: str, detail: str) -> str:
    """The Chinese ``detail`` of an error raised with ``code`` and the English ``detail``."""
    entry = catalogue().get(code)
    if entry is None:
        return detail
    for pattern, template in entry["patterns"].items():
        found = _compiled(pattern).parse(detail)
        if isinstance(found, parse.Result):
            return str(template).format(*found.fixed)
    # A detail computed elsewhere: kept when it is Chinese already, else after the message, so
    # that its facts are not lost.
    if not detail or detail == entry["message"]:
        return str(entry["message"])
    if any("\u4e00" <= c <= "\u9fff" for c in detail):
        return detail
    return f"{entry['message']}：{detail}"


def status_of(code: str, default: int) -> int:
    entry = catalogue().get(code)
    return int(entry["status"]) if entry else default


def title_of(code: str, default: str) -> str:
    entry = catalogue().get(code)
    return str(entry["title"]) if entry else default


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
        self.english = detail
        if code:
            self.code = code
        # The status and title follow the code (shared/error_codes.json), whatever class raised it.
        self.status = status_of(self.code, self.status)
        self.title = title_of(self.code, self.title)
        self.detail = chinese_detail(self.code, detail)
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


# Pydantic's error types → a Chinese message; ``{…}`` takes the error's ``ctx`` (校验信息).
VALIDATION_MESSAGES: dict[str, str] = {
    "missing": "缺少必填字段",
    "extra_forbidden": "不允许的字段",
    "string_type": "应为字符串",
    "string_too_short": "至少 {min_length} 个字符",
    "string_too_long": "最多 {max_length} 个字符",
    "string_pattern_mismatch": "格式不符（{pattern}）",
    "int_type": "应为整数",
    "int_parsing": "应为整数",
    "int_from_float": "应为整数",
    "float_type": "应为数字",
    "float_parsing": "应为数字",
    "decimal_type": "应为数字",
    "decimal_parsing": "应为数字",
    "decimal_max_digits": "最多 {max_digits} 位数字",
    "decimal_max_places": "最多 {decimal_places} 位小数",
    "decimal_whole_digits": "整数部分最多 {whole_digits} 位",
    "bool_type": "应为布尔值",
    "bool_parsing": "应为布尔值（true 或 false）",
    "greater_than": "应大于 {gt}",
    "greater_than_equal": "应大于或等于 {ge}",
    "less_than": "应小于 {lt}",
    "less_than_equal": "应小于或等于 {le}",
    "multiple_of": "应为 {multiple_of} 的倍数",
    "finite_number": "应为有限数",
    "date_type": "应为日期",
    "date_parsing": "应为日期（YYYY-MM-DD）",
    "date_from_datetime_parsing": "应为日期（YYYY-MM-DD）",
    "date_from_datetime_inexact": "应为日期，不含时刻",
    "datetime_type": "应为日期时间",
    "datetime_parsing": "应为日期时间（ISO 8601）",
    "datetime_from_date_parsing": "应为日期时间（ISO 8601）",
    "timezone_aware": "须带时区",
    "timezone_naive": "不得带时区",
    "time_parsing": "应为时间",
    "enum": "应为以下之一：{expected}",
    "literal_error": "应为以下之一：{expected}",
    "list_type": "应为列表",
    "dict_type": "应为对象",
    "model_type": "应为对象",
    "model_attributes_type": "应为对象",
    "too_short": "至少 {min_length} 项",
    "too_long": "最多 {max_length} 项",
    "json_invalid": "JSON 无效",
    "json_type": "应为 JSON",
    "value_error": "值无效",
    "assertion_error": "值无效",
    "uuid_parsing": "应为 UUID",
    "uuid_type": "应为 UUID",
    "url_parsing": "应为 URL",
    "url_type": "应为 URL",
    "url_scheme": "URL 协议应为 {expected_schemes}",
    "union_tag_invalid": "类型标记无效",
    "union_tag_not_found": "缺少类型标记",
    "bytes_too_long": "最多 {max_length} 字节",
    "bytes_too_short": "至少 {min_length} 字节",
    "none_required": "应为空",
    "is_instance_of": "类型不符",
}


def validation_message(error_type: str, ctx: dict[str, Any] | None, original: str) -> str:
    """The Chinese message of one pydantic error; its own text for a ``value_error`` or a
    custom error type (``shared.vocab.mobile_field``) raised by our validators with a Chinese
    message, else a generic one naming the type."""
    template = VALIDATION_MESSAGES.get(error_type)
    ours = error_type == "value_error" or template is None
    if ours and any("\u4e00" <= c <= "\u9fff" for c in original):
        return original.removeprefix("Value error, ")
    if template is None:
        return f"输入无效（{error_type}）"
    try:
        return template.format(**{k: str(v) for k, v in (ctx or {}).items()})
    except (KeyError, IndexError):
        return template.split("（")[0].split("{")[0].rstrip("：") or "输入无效"


def field_errors(raw: Sequence[Any]) -> list[FieldError]:
    """Pydantic's errors (``ValidationError.errors()``) as fields with Chinese messages."""
    return [
        FieldError(
            field=_field_name(tuple(e["loc"])),
            code=e["type"],
            message=validation_message(e["type"], e.get("ctx"), str(e.get("msg", ""))),
        )
        for e in raw
    ]


async def _handle_validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = field_errors(exc.errors())
    fields = ", ".join(sorted({e.field for e in errors}))
    return problem_response(
        Problem(
            title=title_of("validation_failed", "校验失败"),
            status=422,
            code="validation_failed",
            detail=chinese_detail("validation_failed", f"Invalid input: {fields}"),
            errors=errors,
        )
    )


async def _handle_http(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    title = title_of(code, str(exc.detail)) if code != "http_error" else str(exc.detail)
    detail = chinese_detail(code, "") if code != "http_error" else str(exc.detail)
    return problem_response(
        Problem(title=title, status=exc.status_code, code=code, detail=detail),
        dict(exc.headers) if exc.headers else None,
    )


async def _handle_integrity(_request: Request, exc: Exception) -> JSONResponse:
    # A unique or foreign key raced past the checks in the domain code: nothing was written.
    log.warning("integrity error: %s", exc)
    return problem_response(
        Problem(
            title=title_of("conflict", "Conflict"),
            status=409,
            code="conflict",
            detail=chinese_detail(
                "conflict", "The change conflicts with data stored meanwhile; nothing was written."
            ),
        )
    )


async def _handle_calendar_range(_request: Request, exc: Exception) -> JSONResponse:
    return problem_response(
        Problem(
            title=title_of("date_outside_calendar", "Date outside the working-day calendar"),
            status=422,
            code="date_outside_calendar",
            detail=chinese_detail("date_outside_calendar", str(exc)),
        )
    )


async def _handle_keyring(_request: Request, exc: Exception) -> JSONResponse:
    # A stored value names a key this process's keyring does not hold (a keyring file not
    # distributed to every host after a rotation) or does not open: an operator must act.
    log.error("keyring: %s", exc)
    return problem_response(
        Problem(
            title=title_of("keyring_unavailable", "Key not available"),
            status=503,
            code="keyring_unavailable",
            detail=chinese_detail(
                "keyring_unavailable",
                "a stored secret cannot be opened with this server's keyring; "
                "an administrator must check the keyring file (HUODIAN_KEYRING_FILE)",
            ),
        )
    )


async def _handle_pool_timeout(_request: Request, exc: Exception) -> JSONResponse:
    # Every pooled connection stayed busy for the pool's whole timeout: the server is
    # overloaded, not broken; the client may try again shortly, and nothing was written.
    log.warning("database pool exhausted: %s", exc)
    return problem_response(
        Problem(
            title=title_of("database_busy", "Database busy"),
            status=503,
            code="database_busy",
            detail=chinese_detail(
                "database_busy",
                "every database connection is busy; nothing was written, try again shortly",
            ),
        ),
        {"Retry-After": "5"},
    )


INTERNAL_ERROR = Problem(
    title=title_of("internal_error", "Internal error"),
    status=500,
    code="internal_error",
    detail=chinese_detail(
        "internal_error", "The server failed to handle the request; it has been logged."
    ),
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
    app.add_exception_handler(PoolTimeout, _handle_pool_timeout)
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


@cache
def route_errors() -> dict[str, list[str]]:
    """``"module:function"`` of each route → the codes it can answer with (generated by
    ``python -m tests.shared.error_scan > shared/route_errors.json``)."""
    data: dict[str, list[str]] = json.loads(ROUTE_ERRORS_FILE.read_text(encoding="utf-8"))
    return data


def responses_for(codes: list[str]) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of an operation that can answer with ``codes``: one entry per status,
    its description listing the codes with their Chinese message."""
    by_status: dict[int, list[str]] = {}
    for code in codes:
        by_status.setdefault(status_of(code, 400), []).append(code)
    out: dict[int | str, dict[str, Any]] = {}
    for status, listed in sorted(by_status.items()):
        lines = [f"- `{code}`: {catalogue()[code]['message']}" for code in listed]
        title = title_of(listed[0], "")
        out[status] = {"model": Problem, "description": f"{title}\n\n" + "\n".join(lines)}
    return out


def document_route_errors(router: APIRouter) -> None:
    """Each operation documents the error codes its code can raise (shared/route_errors.json).

    Called on a router before it is included: FastAPI copies a route's ``responses`` then."""
    known = route_errors()
    todo: list[Any] = list(router.routes)
    while todo:
        route = todo.pop()
        if isinstance(route, APIRoute):
            key = f"{route.endpoint.__module__}:{route.endpoint.__name__}"
            route.responses.update(responses_for(known.get(key, [])))
        else:  # an included router (FastAPI keeps the router it included)
            todo.extend(getattr(getattr(route, "original_router", None), "routes", []))


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
