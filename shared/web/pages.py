"""The pages' one layout (统一页面布局): a Jinja2 environment any service mounts, the context
every page gets (who is signed in, the navigation, the stylesheet), and the routes every service
has: ``/`` to the start page and the stylesheet under ``/ui/static``.

A service's own templates extend ``base.html`` from here; there is no front-end build step.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Form, Request, Response, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, FileSystemLoader
from pydantic import BaseModel, ValidationError
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.auth import Principal, Role
from shared.errors import FieldError, HuodianError, Unprocessable, field_errors
from shared.settings import ServiceName, Settings
from shared.timeutil import format_beijing
from shared.web.navigation import (
    ROLE_LABELS,
    START,
    own_base,
    page_url,
    pages_for,
    sign_in_url,
    start_url,
    ui_base,
)
from shared.web.session import check_csrf, csrf_token, end_session, signed_in

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


def templates_for(directory: Path | None = None) -> Jinja2Templates:
    """Templates from ``directory`` (a service's own pages), then the shared ones."""
    folders = [directory, TEMPLATES] if directory is not None else [TEMPLATES]
    env = Environment(loader=ChoiceLoader([FileSystemLoader(f) for f in folders]), autoescape=True)
    env.filters["beijing"] = format_beijing
    return Jinja2Templates(env=env)


SHARED_TEMPLATES = templates_for()


@dataclass(frozen=True)
class Person:
    """Who a page is rendered for: their name, role and session token."""

    name: str
    role: Role
    token: str

    @classmethod
    def of(cls, principal: Principal, token: str) -> Person:
        assert principal.role is not None
        return cls(principal.display_name or principal.subject, principal.role, token)


@dataclass(frozen=True)
class NavLink:
    label: str
    url: str
    description: str
    own_work: bool


def navigation(request: Request, role: Role) -> list[NavLink]:
    return [
        NavLink(p.label, page_url(request, p.service, p.path), p.description, role in p.own_work_of)
        for p in pages_for(role)
    ]


def render(
    templates: Jinja2Templates,
    request: Request,
    name: str,
    person: Person | None,
    *,
    status_code: int = 200,
    **context: object,
) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    base = {
        "person": person,
        "role_label": ROLE_LABELS.get(person.role, "") if person else "",
        "csrf": csrf_token(settings, person.token) if person else "",
        "nav": navigation(request, person.role) if person else [],
        "start_url": start_url(request),
        "start_label": START.label,
        "sign_in_url": sign_in_url(request),
        "logout_url": page_url(request, "ledger", "/logout"),
        "static": f"{own_base(request)}/static",
        "here": own_base(request),
        "current": _this_page(request),
    }
    return templates.TemplateResponse(request, name, {**base, **context}, status_code=status_code)


def _ui_path(request: Request) -> str:
    """The requested path below this service's ``/ui``."""
    root, path = request.scope.get("root_path", ""), request.url.path
    path = path.removeprefix(root) if root and path.startswith(f"{root}/") else path
    return path.removeprefix("/ui")


def _this_page(request: Request) -> str:
    """The URL of the requested page as the navigation names it (no query)."""
    return page_url(request, request.app.state.service, _ui_path(request))


def to_sign_in(request: Request) -> RedirectResponse:
    """Send a browser that is not signed in to ledger's sign-in page, to come back here after:
    from ledger's own pages relative to it, from intake's and notify's by their full URL."""
    service: ServiceName = request.app.state.service
    back = _this_page(request)
    if service != "ledger":
        back = f"{ui_base(request.app.state.settings, service)}{_ui_path(request)}"
    if request.url.query:
        back += f"?{request.url.query}"
    response = RedirectResponse(f"{sign_in_url(request)}?next={quote(back, safe='')}", 303)
    end_session(response)
    return response


async def person_for(
    request: Request, *roles: Role
) -> tuple[Principal, Person] | HTMLResponse | RedirectResponse:
    """Who a page of intake or notify is for (signed in at ledger, shared.web.session), or the
    answer instead: the sign-in page when signed out, 403 when the role may not use the page."""
    found = await signed_in(request)
    if found is None:
        return to_sign_in(request)
    person = Person.of(*found)
    if person.role not in roles:
        return forbidden_page(request, person)
    return found[0], person


def forbidden_page(request: Request, person: Person) -> HTMLResponse:
    """A signed-in person on a page their role may not use."""
    return render(SHARED_TEMPLATES, request, "forbidden.html", person, status_code=403)


@dataclass(frozen=True)
class Refusal:
    """Why a page form was refused (表单未通过), for its page shown again: the status, the
    Chinese message and, from a validation, the fields it concerns."""

    status: int
    message: str
    errors: list[FieldError] = field(default_factory=list)


FormValue = str | UploadFile | None
FormText = Annotated[str, Form()]
"""One text field of a page form; optional at the signature (``= ""``), checked by
:func:`submit_form`, so that a post without it is not refused with FastAPI's 422 JSON."""


class PageForm(BaseModel):
    """A page form's fields as one model (``form: Annotated[OutageForm, Form()]``), all text
    and all optional for the same reason as :data:`FormText`; subclasses add ``name: str = ""``."""

    csrf: str = ""

    def typed(self, *secret: str) -> dict[str, str]:
        """What was typed, to show it again in a refused form: the CSRF token and the
        ``secret`` fields (a password) left out."""
        return {k: str(v) for k, v in self.model_dump(exclude={"csrf", *secret}).items()}


Refused = Callable[[Refusal], Awaitable[Response]]
FormMessage = Callable[[HuodianError | ValidationError], str]
MISSING = "请填写表单中的必填项后再提交。"
TOO_LONG = "所填内容过长，请删减后再提交。"


def refusal_message(exc: HuodianError | ValidationError) -> str:
    """The Chinese message a page shows for a refusal: the error's own (already Chinese,
    shared.errors.chinese_detail), or the fields' messages of a validation."""
    if isinstance(exc, ValidationError):
        return "；".join(e.message for e in field_errors(exc.errors()))
    return exc.detail


def check_fields(
    values: Mapping[str, FormValue],
    *,
    required: Collection[str] = (),
    longest: Mapping[str, int] | None = None,
) -> None:
    """Refuse a form posted without a field it needs, or with a text longer than its limit.

    Page forms take their fields optional at the signature and are checked here, so that a
    hand-made or cut-off post is shown the page again with a Chinese message, not FastAPI's
    422 JSON."""
    missing = [n for n in required if values.get(n) is None or values.get(n) == ""]
    if missing:
        raise Unprocessable(MISSING, code="validation_failed")
    for name, limit in (longest or {}).items():
        value = values.get(name)
        if isinstance(value, str) and len(value) > limit:
            raise Unprocessable(TOO_LONG, code="validation_failed")


async def submit_form(
    request: Request,
    token: str,
    csrf: str,
    act: Callable[[], Awaitable[Response]],
    refused: Refused,
    *,
    values: Mapping[str, FormValue] | None = None,
    required: Collection[str] = (),
    longest: Mapping[str, int] | None = None,
    message: FormMessage = refusal_message,
) -> Response:
    """The one way a page form of the three services is taken (页面表单): its CSRF token
    checked against the session ``token`` (shared.web.session), its ``values`` against
    ``required`` and ``longest`` (:func:`check_fields`), then ``act``; a refusal on the way, a
    :class:`HuodianError` or a pydantic ``ValidationError`` (422), is answered by ``refused``,
    the form's page again with the Chinese ``message``. ``refused`` undoes what ``act`` staged
    when it must (a rollback)."""
    try:
        check_csrf(request.app.state.settings, token, csrf)
        check_fields(values or {}, required=required, longest=longest)
        return await act()
    except ValidationError as exc:
        return await refused(Refusal(422, message(exc), field_errors(exc.errors())))
    except HuodianError as exc:
        return await refused(Refusal(exc.status, message(exc), exc.errors))


class NoStore:
    """``Cache-Control: no-store`` on every page under ``/ui`` (the stylesheet aside): an
    applicant's progress and rating ticket, a signed-in person's pages, must not be shown
    again from a shared phone's or a counter PC's cache by its back button. Nor may another
    site frame them (``X-Frame-Options``, CSP ``frame-ancestors``): a framed form with a ticket
    or a session could be clicked for its owner."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_page(scope):
            await self.app(scope, receive, send)
            return

        async def send_no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("cache-control", "no-store")
                headers.setdefault("x-frame-options", "DENY")
                headers.setdefault("content-security-policy", "frame-ancestors 'none'")
            await send(message)

        await self.app(scope, receive, send_no_store)


def _is_page(scope: Scope) -> bool:
    root, path = scope.get("root_path", ""), scope["path"]
    path = path.removeprefix(root) if root and path.startswith(f"{root}/") else path
    return (path == "/ui" or path.startswith("/ui/")) and not path.startswith("/ui/static/")


def _root_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/", response_model=None)
    async def root(request: Request) -> RedirectResponse:
        """``/`` leads to the start page, on every service."""
        return RedirectResponse(start_url(request), status_code=303)

    return router


ExceptionHandler = Callable[[Request, Any], Response | Awaitable[Response]]

# What a person is told when a page's address is wrong (the API answers problem+json).
_PAGE_ERRORS = {
    404: ("页面不存在", "没有这个页面，或它要显示的内容不存在。"),
    405: ("不支持的操作", "此页面不支持这种请求方式。"),
    422: ("地址有误", "页面地址中的参数有误，请从页面上的链接重新进入。"),
}


def _wants_page(request: Request) -> bool:
    """A browser asking for a page (not the API, not a script) under ``/ui``."""
    return (
        _is_page(request.scope)
        and request.method in ("GET", "HEAD")
        and "text/html" in request.headers.get("accept", "")
    )


async def _answer(handler: ExceptionHandler, request: Request, exc: Exception) -> Response:
    answer = handler(request, exc)
    return await answer if inspect.isawaitable(answer) else answer


def _page_or_problem(problem: ExceptionHandler) -> ExceptionHandler:
    """``problem`` (the API's problem+json answer), unless a browser asked for a page: then
    the same status as a page in Chinese, with the start page one click away."""

    async def handle(request: Request, exc: Exception) -> Response:
        if not _wants_page(request):
            return await _answer(problem, request, exc)
        fields: list[FieldError] = []
        if isinstance(exc, RequestValidationError):
            status, fields = 422, field_errors(exc.errors())
        elif isinstance(exc, StarletteHTTPException):
            status = exc.status_code
        else:  # pragma: no cover - only the two classes above are wrapped
            return await _answer(problem, request, exc)
        heading, text = _PAGE_ERRORS.get(status, ("请求未完成", "请求未能完成，请返回重试。"))
        return render(
            SHARED_TEMPLATES,
            request,
            "error.html",
            None,
            status_code=status,
            heading=heading,
            message=text,
            fields=fields,
        )

    return handle


def install_pages(app: FastAPI) -> None:
    """``/``, the stylesheet and the pages' ``Cache-Control``, on every service; and a page,
    not problem+json, for a browser that asks for a page that is not there or whose address
    does not validate (after :func:`shared.errors.install_error_handlers`, whose handlers
    answer everyone else)."""
    for exc_class in (RequestValidationError, StarletteHTTPException):
        app.add_exception_handler(exc_class, _page_or_problem(app.exception_handlers[exc_class]))
    app.include_router(_root_router())
    app.add_middleware(NoStore)
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="ui-static")
