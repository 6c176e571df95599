"""Server-rendered pages: sign in, the items of one's units, an item with its history, and the
update form. They call the same service functions as the API."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, Response, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from services.ledger.accounts import login as login_service
from services.ledger.accounts import service as accounts
from services.ledger.accounts.models import User
from services.ledger.escalations.service import escalations
from services.ledger.ledgers import service as ledgers
from services.ledger.ledgers.why import explain_item, plan_of
from services.ledger.updates import service as updates
from services.ledger.updates.models import STATUS_LABELS, TaskStatus
from services.ledger.web.session import COOKIE, csrf_ok, csrf_token, session_token
from shared.app import Session
from shared.auth import Role, decode_token
from shared.calendar import beijing_date
from shared.clock import Now
from shared.downloads import attachment
from shared.errors import Forbidden, HuodianError, Unauthorized
from shared.ratelimit import RateLimited, client_address
from shared.settings import Settings
from shared.timeutil import format_beijing
from shared.validation import Id

router = APIRouter(prefix="/ui", include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.filters["beijing"] = format_beijing

ROLE_LABELS = {
    Role.admin: "管理员",
    Role.dept_head: "部门负责人",
    Role.viewer: "查看者",
    Role.clerk: "受理人员",
    Role.supervisor: "监管督办人员",
    Role.dispatcher: "调度人员",
}
# What a person sees when an update is refused; the API's English detail stays for the API.
MESSAGES = {
    "not_responsible": "您所在单位不是该事项的责任单位，不能填报。",
    "role_required": "只有部门负责人可以填报进展。",
    "progress_out_of_range": "进度须在0到100之间。",
    "narrative_required": "请填写进展说明。",
    "done_needs_full_progress": "状态为“已完成”时，进度须为100%。",
    "evidence_too_large": "佐证材料每个不能超过10MB。",
    "evidence_empty": "佐证材料不能是空文件。",
    "too_many_files": "每次最多上传10个佐证材料。",
    "bad_csrf": "页面已过期，请刷新后重试。",
}


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _signed_in(request: Request, session: Session, now: datetime) -> tuple[User, str] | None:
    token = session_token(request)
    if not token:
        return None
    try:
        principal = decode_token(_settings(request), token, now)
        return await accounts.user_of(session, principal), token
    except Unauthorized:
        return None


def _to_login() -> RedirectResponse:
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(COOKIE, path="/ui")
    return response


def _page(
    request: Request,
    name: str,
    user: User | None,
    token: str | None,
    status_code: int = 200,
    **context: object,
) -> HTMLResponse:
    base = {
        "user": user,
        "role_label": ROLE_LABELS.get(user.role, "") if user else "",
        "csrf": csrf_token(_settings(request), token) if token else "",
    }
    return templates.TemplateResponse(request, name, {**base, **context}, status_code=status_code)


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request) -> HTMLResponse:
    return _page(request, "login.html", None, None)


@router.post("/login", response_model=None)
async def login(
    request: Request,
    session: Session,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    now: Now,
) -> Response:
    try:
        user = await login_service.sign_in(
            request.app.state.engine,
            session,
            username,
            password,
            address=client_address(request),
            now=now,
        )
    except (Unauthorized, RateLimited) as exc:
        limited = isinstance(exc, RateLimited)
        return _page(
            request,
            "login.html",
            None,
            None,
            status_code=exc.status,
            error="尝试次数过多，请稍后再试。" if limited else "用户名或密码错误。",
            username=username,
        )
    token = await accounts.token_for(session, _settings(request), user, now=now)
    response = RedirectResponse("/ui/", status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="strict",
        path="/ui",
        max_age=_settings(request).token_ttl_hours * 3600,
    )
    return response


@router.post("/logout", response_model=None)
async def logout() -> Response:
    return _to_login()


@router.get("/", response_model=None)
async def item_list(
    request: Request, session: Session, now: Now, ledger: str = "", overdue: bool = False
) -> Response:
    signed_in = await _signed_in(request, session, now)
    if signed_in is None:
        return _to_login()
    user, token = signed_in
    assert user.id is not None
    today = beijing_date(now)
    mine = user.role is Role.dept_head
    flt = ledgers.ItemFilter(
        ledger_code=ledger or None,
        any_unit_ids=frozenset(await accounts.unit_ids_of(session, user.id)) if mine else None,
        overdue=True if overdue else None,
    )
    page = await ledgers.list_items(session, flt, as_of=today, limit=500)
    return _page(
        request,
        "items.html",
        user,
        token,
        page=page,
        mine=mine,
        as_of=today,
        ledgers=await ledgers.list_ledgers(session),
        ledger=ledger,
        overdue=overdue,
    )


async def _item_page(
    request: Request,
    session: Session,
    user: User,
    token: str,
    item_id: Id,
    today: date,
    status_code: int = 200,
    **context: object,
) -> HTMLResponse:
    item = await ledgers.get_item_public(session, item_id, as_of=today)
    can_update = (
        user.role is Role.dept_head
        and await accounts.responsible_unit_for(session, user, item_id) is not None
    )
    return _page(
        request,
        "item.html",
        user,
        token,
        status_code=status_code,
        item=item,
        history=await updates.history(session, item_id),
        why=explain_item(item, await plan_of(session, item.ledger_code), today),
        escalations=await escalations(session, item_id=item_id),
        can_update=can_update,
        statuses=[(s.value, STATUS_LABELS[s]) for s in TaskStatus],
        **context,
    )


@router.get("/items/{item_id}", response_model=None)
async def item_detail(
    request: Request, session: Session, item_id: Id, now: Now, saved: bool = False
) -> Response:
    signed_in = await _signed_in(request, session, now)
    if signed_in is None:
        return _to_login()
    notice = "进展已提交。" if saved else None
    return await _item_page(request, session, *signed_in, item_id, beijing_date(now), notice=notice)


@router.post("/items/{item_id}/updates", response_model=None)
async def post_update(
    request: Request,
    session: Session,
    item_id: Id,
    now: Now,
    csrf: Annotated[str, Form()],
    status: Annotated[TaskStatus, Form()],
    progress: Annotated[int, Form()],
    narrative: Annotated[str, Form(max_length=5000)],
    files: Annotated[list[UploadFile], File()] = [],  # noqa: B006
) -> Response:
    signed_in = await _signed_in(request, session, now)
    if signed_in is None:
        return _to_login()
    user, token = signed_in
    uploads = [
        updates.EvidenceUpload(
            filename=f.filename or "",
            content_type=f.content_type or "",
            content=await f.read(updates.MAX_EVIDENCE_BYTES + 1),
        )
        for f in files
        if f.filename  # a form with no file chosen sends one empty part
    ]
    try:
        if not csrf_ok(_settings(request), token, csrf):
            raise Forbidden("the form's CSRF token does not match the session", code="bad_csrf")
        await updates.post_update(
            session,
            user,
            item_id,
            updates.StatusUpdateCreate(status=status, progress=progress, narrative=narrative),
            uploads,
            now=now,
        )
    except HuodianError as exc:
        # post_update checks everything before it writes, so there is nothing to undo here.
        return await _item_page(
            request,
            session,
            user,
            token,
            item_id,
            beijing_date(now),
            status_code=exc.status,
            error=MESSAGES.get(exc.code, exc.detail),
        )
    return RedirectResponse(f"/ui/items/{item_id}?saved=1", status_code=303)


@router.get("/items/{item_id}/evidence/{evidence_id}", response_model=None)
async def evidence(
    request: Request, session: Session, item_id: Id, evidence_id: Id, now: Now
) -> Response:
    if await _signed_in(request, session, now) is None:
        return _to_login()
    found = await updates.get_evidence(session, item_id, evidence_id)
    return attachment(found.content, found.content_type, found.filename)
