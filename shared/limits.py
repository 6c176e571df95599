"""Request body limits (请求体大小限制), enforced as the body streams in.

Every route takes at most ``Settings.max_body_bytes`` (1 MiB); a service lets its upload routes
take more by passing ``body_limits`` (path template → bytes, built with :func:`upload_limit` from
the upload rules' own numbers) to :func:`shared.app.create_service_app`. :class:`BodyLimit`
answers 413 ``payload_too_large`` before reading anything when the declared ``Content-Length``
is over the limit, and as soon as the bytes received pass it otherwise (chunked bodies), so
nobody can make a service buffer or parse more than the limit.

Not Starlette's ``RequestBodyLimitMiddleware``: it answers a declared oversize body with a
plain-text 413, whatever the app's error handler renders, and FastAPI's per-route limits are
invisible to a middleware that must choose the limit before routing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import PayloadTooLarge, problem_response

MIB = 1024 * 1024
# Room for a multipart form's other fields and framing beside its files.
FORM_ALLOWANCE = MIB


def upload_limit(file_bytes: int, *, files: int = 1) -> int:
    """The body limit of a form that uploads up to ``files`` files of ``file_bytes`` each."""
    return files * file_bytes + FORM_ALLOWANCE


def describe_size(n: int) -> str:
    """``1 MiB``, ``101 MiB``, ``1500 bytes``."""
    return f"{n // MIB} MiB" if n % MIB == 0 else f"{n} bytes"


class _BodyTooLarge(Exception):
    """Raised into the app by the counting ``receive``: it stops reading there."""


class BodyLimit:
    """Pure ASGI middleware: the limit of the path a request is for, checked on the header and
    on every chunk received."""

    def __init__(self, app: ASGIApp, *, default: int, routes: Mapping[str, int]) -> None:
        self.app = app
        self.default = default
        self.routes: list[tuple[re.Pattern[str], int]] = [
            (compile_path(template)[0], limit) for template, limit in routes.items()
        ]

    def limit_for(self, path: str) -> int:
        return next((limit for regex, limit in self.routes if regex.match(path)), self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, receive, send, limit)
            return

        received = 0
        too_large = started = False

        async def counting_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if too_large and not started:
                return  # the app's answer to a body it could not read: ours replaces it
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except _BodyTooLarge:
            if started:
                raise
        if too_large and not started:
            await self._refuse(scope, receive, send, limit)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        where = f"{scope['method']} {scope['path']}"
        error = PayloadTooLarge(
            f"the request body is larger than {describe_size(limit)}, the limit of {where}"
        )
        # The rest of the body stays unread: the connection cannot carry another request.
        response = problem_response(error.problem(), {"Connection": "close"})
        await response(scope, receive, send)
