"""Server-rendered pages: the one sign-in of every service's pages (ledger holds the accounts),
the start page, the items of one's units, an item with its history, and the update form. They
call the same service functions as the API; the layout is shared.web's."""

from __future__ import annotations

import contextlib
from datetime import date
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Request, Response, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from services.ledger.accounts import login as login_service
from services.ledger.accounts import service as accounts
from services.ledger.accounts.models import User
from services.ledger.escalations.service import escalations
from services.ledger.ledgers import items
from services.ledger.ledgers import service as ledgers
from services.ledger.ledgers.why import explain_item, plan_of
from services.ledger.updates import service as updates
from services.ledger.updates.models import STATUS_LABELS, StatusUpdateCreate, TaskStatus
from shared.app import Session
from shared.auth import Role
from shared.calendar import beijing_date
from shared.clock import Now
from shared.downloads import attachment
from shared.errors import HuodianError, Unauthorized, Unprocessable
from shared.pagination import MAX_LIMIT, PageParams
from shared.ratelimit import RateLimited, client_address
from shared.settings import Settings
from shared.validation import Id
from shared.web.navigation import safe_next, start_url
from shared.web.pages import (
    SHARED_TEMPLATES,
    FormText,
    Person,
    Refusal,
    check_fields,
    refusal_message,
    render,
    submit_form,
    templates_for,
    to_sign_in,
)
from shared.web.session import csrf_ok, end_session, keep_session
from shared.web.session import signed_in as signed_in_person

router = APIRouter(prefix="/ui", include_in_schema=False)
templates = templates_for(Path(__file__).parent / "templates")
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
}


def page_message(exc: HuodianError | ValidationError) -> str:
    """A refused form's message on ledger's pages (MESSAGES, else the error's Chinese)."""
    if isinstance(exc, HuodianError):
        return MESSAGES.get(exc.code, exc.detail)
    return refusal_message(exc)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _signed_in(request: Request, session: Session) -> tuple[User, str] | None:
    """The signed-in user, checked against the accounts (a disabled user is signed out)."""
    found = await signed_in_person(request)
    if found is None:
        return None
    principal, token = found
    try:
        return await accounts.user_of(session, principal), token
    except Unauthorized:
        return None


def _page(
    request: Request,
    name: str,
    user: User | None,
    token: str | None,
    status_code: int = 200,
    **context: object,
) -> HTMLResponse:
    person = Person(user.display_name, user.role, token) if user and token else None
    return render(templates, request, name, person, status_code=status_code, user=user, **context)


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, next: str = "") -> HTMLResponse:
    return _page(request, "login.html", None, None, next=safe_next(request, next))


@router.post("/login", response_model=None)
async def login(
    request: Request,
    session: Session,
    now: Now,
    username: FormText = "",
    password: FormText = "",
    next: FormText = "",
) -> Response:
    try:
        check_fields(
            {"username": username, "password": password}, required=("username", "password")
        )
        user = await login_service.sign_in(
            request.app.state.engine,
            session,
            username,
            password,
            address=client_address(request),
            now=now,
        )
    except (Unauthorized, RateLimited, Unprocessable) as exc:
        errors = {RateLimited: "尝试次数过多，请稍后再试。", Unprocessable: "请填写用户名和密码。"}
        return _page(
            request,
            "login.html",
            None,
            None,
            status_code=exc.status,
            error=errors.get(type(exc), "用户名或密码错误。"),
            username=username,
            next=safe_next(request, next),
        )
    token = await accounts.token_for(session, _settings(request), user, now=now)
    # One sign-in for the pages of all three services (shared.web.session).
    response = RedirectResponse(safe_next(request, next) or start_url(request), status_code=303)
    keep_session(response, _settings(request), token)
    return response


@router.post("/logout", response_model=None)
async def logout(
    request: Request,
    session: Session,
    now: Now,
    csrf: FormText = "",
    everywhere: FormText = "",
) -> Response:
    """Sign out (退出): the cookie goes, and this sign-in is revoked on every service
    (accounts.sign_out); with ``everywhere`` (退出所有设备) every sign-in of the account is
    (accounts.sign_out_everywhere). Only the sign-out form of one's own page (its CSRF token)
    revokes; a post without it just drops the cookie, so another site cannot end a sign-in."""
    found = await signed_in_person(request)
    if found is not None and csrf_ok(_settings(request), found[1], csrf):
        with contextlib.suppress(Unauthorized):  # already revoked: nothing left to end
            if everywhere:
                await accounts.sign_out_everywhere(session, found[0])
            else:
                await accounts.sign_out(session, found[0], now=now)
    response = RedirectResponse(f"{request.scope.get('root_path', '')}/ui/login", 303)
    end_session(response)
    return response


# Who gets the ledger's figures on the start page, and of which items: a department head those of
# their units, an admin every item. Other roles answer for no ledger item; they get their links.
FIGURES_OF = {Role.dept_head: "本单位事项", Role.admin: "全部台账事项"}


@router.get("/start", response_model=None)
async def start(request: Request, session: Session, now: Now) -> Response:
    """The start page (工作台): the person's own work first, then the other pages they may use
    on the three services; a department head sees how their units' items stand, an admin how
    every item stands."""
    signed = await _signed_in(request, session)
    if signed is None:
        return to_sign_in(request)
    user, token = signed
    assert user.id is not None
    figures = None
    if user.role in FIGURES_OF:
        units = None
        if user.role is Role.dept_head:
            units = frozenset(await accounts.unit_ids_of(session, user.id))
        today = beijing_date(now)
        mine = items.ItemFilter(any_unit_ids=units)
        overdue = items.ItemFilter(any_unit_ids=units, overdue=True)
        one = PageParams(limit=1)
        figures = {
            "scope": FIGURES_OF[user.role],
            "items": (await items.list_items(session, mine, as_of=today, paging=one)).total,
            "overdue": (await items.list_items(session, overdue, as_of=today, paging=one)).total,
        }
    person = Person(user.display_name, user.role, token)
    return render(SHARED_TEMPLATES, request, "start.html", person, figures=figures)


@router.get("/", response_model=None)
async def item_list(
    request: Request, session: Session, now: Now, ledger: str = "", overdue: bool = False
) -> Response:
    signed_in = await _signed_in(request, session)
    if signed_in is None:
        return to_sign_in(request)
    user, token = signed_in
    assert user.id is not None
    today = beijing_date(now)
    mine = user.role is Role.dept_head
    flt = items.ItemFilter(
        ledger_code=ledger or None,
        any_unit_ids=frozenset(await accounts.unit_ids_of(session, user.id)) if mine else None,
        overdue=True if overdue else None,
    )
    page = await items.list_items(session, flt, as_of=today, paging=PageParams(limit=MAX_LIMIT))
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
    item = await items.get_item_public(session, item_id, as_of=today)
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
    signed_in = await _signed_in(request, session)
    if signed_in is None:
        return to_sign_in(request)
    notice = "进展已提交。" if saved else None
    return await _item_page(request, session, *signed_in, item_id, beijing_date(now), notice=notice)


@router.post("/items/{item_id}/updates", response_model=None)
async def post_update(
    request: Request,
    session: Session,
    item_id: Id,
    now: Now,
    csrf: FormText = "",
    status: FormText = "",
    progress: FormText = "",
    narrative: FormText = "",
    files: Annotated[list[UploadFile], File()] = [],  # noqa: B006
) -> Response:
    signed_in = await _signed_in(request, session)
    if signed_in is None:
        return to_sign_in(request)
    user, token = signed_in

    async def act() -> Response:
        data = StatusUpdateCreate.model_validate(
            {"status": status, "progress": progress, "narrative": narrative}
        )
        uploads = [
            updates.EvidenceUpload(
                filename=f.filename or "",
                content_type=f.content_type or "",
                content=await f.read(updates.MAX_EVIDENCE_BYTES + 1),
            )
            for f in files
            if f.filename  # a form with no file chosen sends one empty part
        ]
        await updates.post_update(session, user, item_id, data, uploads, now=now)
        return RedirectResponse(f"/ui/items/{item_id}?saved=1", status_code=303)

    async def refused(why: Refusal) -> Response:
        # post_update checks everything before it writes, so there is nothing to undo here.
        today = beijing_date(now)
        return await _item_page(
            request, session, user, token, item_id, today, why.status, error=why.message
        )

    return await submit_form(
        request,
        token,
        csrf,
        act,
        refused,
        values={"narrative": narrative},
        longest={"narrative": 5000},
        message=page_message,
    )


@router.get("/items/{item_id}/evidence/{evidence_id}", response_model=None)
async def evidence(request: Request, session: Session, item_id: Id, evidence_id: Id) -> Response:
    if await _signed_in(request, session) is None:
        return to_sign_in(request)
    found = await updates.get_evidence(session, item_id, evidence_id)
    return attachment(found.content, found.content_type, found.filename)
