"""The administrator's pages (管理员页面): users and the units they are bound to (用户管理) —
list, add, bind units, disable — and the ledgers (台账管理): download, archive, restore, and
import with a row-by-row preview (导入预览); by the same functions as the ``/users`` and
``/ledgers`` API."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, Response, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import TypeAdapter, ValidationError

from services.ledger.accounts import service as accounts
from services.ledger.accounts.models import User, UserCreate, UserUpdate
from services.ledger.ledgers import archiving, importing, spreadsheet
from services.ledger.ledgers import service as ledgers
from services.ledger.ledgers.models import LedgerArchive
from services.ledger.web.routes import MESSAGES, _page, _signed_in
from shared.app import Session
from shared.auth import Role
from shared.clock import Now
from shared.errors import Forbidden, HuodianError, validation_message
from shared.web.navigation import ROLE_LABELS
from shared.web.pages import (
    FormText,
    PageForm,
    Person,
    Refusal,
    Refused,
    forbidden_page,
    submit_form,
    to_sign_in,
)

router = APIRouter(prefix="/ui/admin", include_in_schema=False)
FIELD_LABELS = {
    "username": "用户名",
    "display_name": "姓名",
    "email": "电子邮箱",
    "role": "角色",
    "password": "初始密码",
    "units": "单位",
    "reason": "归档原因",
    "code": "台账编码",
    "name": "台账名称",
    "issuer": "印发单位",
    "document_no": "文号",
    "plan_end": "计划完成日期",
}
SAVED = {"added": "用户已添加。", "changed": "用户已修改。"}
LEDGER_SAVED = {
    "archived": "台账已归档。",
    "restored": "台账已取消归档。",
    "imported": "台账已导入。",
}


def unit_names(text: str) -> list[str]:
    """Unit names typed into one box, one a line or separated by commas or 、."""
    return [n.strip() for n in re.split(r"[\n,，、;；]", text) if n.strip()]


# The longest text each form field takes (the page's own maxlength).
LONGEST = {
    "username": 200,
    "display_name": 200,
    "role": 40,
    "password": 200,
    "email": 320,
    "units": 5000,
    "reason": 2000,
    "code": 200,
    "name": 400,
    "issuer": 400,
    "document_no": 200,
    "plan_end": 40,
    "token": 200,
}
ACTIVE = TypeAdapter(bool)


def _message(exc: HuodianError | ValidationError) -> str:
    """A refusal as the administrator reads it: the fields by their Chinese labels."""
    if isinstance(exc, ValidationError):
        return _chinese(exc)
    return MESSAGES.get(exc.code, exc.detail)


def _chinese(exc: ValidationError) -> str:
    return "；".join(
        f"{FIELD_LABELS.get(str(e['loc'][0]) if e['loc'] else '', '输入')}："
        + validation_message(e["type"], e.get("ctx"), str(e.get("msg", "")))
        for e in exc.errors()
    )


async def _admin(request: Request, session: Session) -> tuple[User, str] | Response:
    signed = await _signed_in(request, session)
    if signed is None:
        return to_sign_in(request)
    user, token = signed
    if user.role is not Role.admin:
        return forbidden_page(request, Person(user.display_name, user.role, token))
    return signed


async def _users_page(
    request: Request,
    session: Session,
    user: User,
    token: str,
    status_code: int = 200,
    **context: object,
) -> HTMLResponse:
    users = await accounts.users_public(session, await accounts.list_users(session))
    return _page(
        request,
        "users.html",
        user,
        token,
        status_code=status_code,
        users=users,
        roles=list(ROLE_LABELS.items()),
        role_labels=ROLE_LABELS,
        **context,
    )


@router.get("/users", response_model=None)
async def users_page(request: Request, session: Session, saved: str = "") -> Response:
    found = await _admin(request, session)
    if isinstance(found, Response):
        return found
    return await _users_page(request, session, *found, notice=SAVED.get(saved))


async def _undo(session: Session, user: User) -> None:
    """Roll back what a refused change may have staged, so that nothing of it is committed;
    the signed-in user is read again for the page (a rollback expires every loaded row)."""
    await session.rollback()
    await session.refresh(user)


def _refused_on(
    page: Callable[..., Awaitable[HTMLResponse]],
    request: Request,
    session: Session,
    user: User,
    token: str,
    **context: object,
) -> Refused:
    """A refused form's answer: nothing of it kept, ``page`` again with the message."""

    async def refused(why: Refusal) -> Response:
        await _undo(session, user)
        return await page(request, session, user, token, why.status, error=why.message, **context)

    return refused


async def _submit(
    request: Request,
    session: Session,
    csrf: str,
    act: Callable[[User, str], Awaitable[Response]],
    page: Callable[..., Awaitable[HTMLResponse]],
    *,
    form: dict[str, str] | None = None,
    values: Mapping[str, str | UploadFile | None] | None = None,
    required: tuple[str, ...] = (),
) -> Response:
    """An administrator's form, as shared.web.pages.submit_form takes it; a refusal shows
    ``page`` again with what was typed (``form``)."""
    found = await _admin(request, session)
    if isinstance(found, Response):
        return found
    user, token = found
    context: dict[str, object] = {} if form is None else {"form": form}
    return await submit_form(
        request,
        token,
        csrf,
        lambda: act(user, token),
        _refused_on(page, request, session, user, token, **context),
        values={**(form or {}), **(values or {})},
        required=required,
        longest=LONGEST,
        message=_message,
    )


class NewUserForm(PageForm):
    """添加用户: the fields of UserCreate, as typed."""

    username: str = ""
    display_name: str = ""
    role: str = ""
    password: str = ""
    email: str = ""
    units: str = ""


@router.post("/users", response_model=None)
async def add_user(
    request: Request, session: Session, now: Now, posted: Annotated[NewUserForm, Form()]
) -> Response:
    async def act(_admin: User, _token: str) -> Response:
        data = UserCreate(
            username=posted.username,
            display_name=posted.display_name,
            email=posted.email or None,
            role=posted.role,  # type: ignore[arg-type]  # pydantic checks it is a Role
            password=posted.password,
            units=unit_names(posted.units),
        )
        await accounts.create_user(session, data, now=now)
        return RedirectResponse("/ui/admin/users?saved=added", status_code=303)

    return await _submit(
        request,
        session,
        posted.csrf,
        act,
        _users_page,
        form=posted.typed("password"),
        values={"password": posted.password},
    )


@router.post("/users/{username}", response_model=None)
async def change_user(
    request: Request,
    session: Session,
    username: str,
    csrf: FormText = "",
    units: FormText = "",
    active: FormText = "",
) -> Response:
    """Bind a user's units (the whole list) and enable or disable them."""

    async def act(user: User, _token: str) -> Response:
        is_active = ACTIVE.validate_python(active or False)
        if username == user.username and not is_active:
            raise Forbidden("an administrator may not disable themself", code="cannot_disable_self")
        target = await accounts.get_user_by_name(session, username)
        bound = (
            [u.name for u in (await accounts.to_public(session, target)).units] if target else []
        )
        wanted = unit_names(units)
        # Units unchanged stay out of the update: a new list signs the holder out (token_version).
        change = UserUpdate(units=None if wanted == bound else wanted, is_active=is_active)
        await accounts.update_user(session, username, change)
        return RedirectResponse("/ui/admin/users?saved=changed", status_code=303)

    return await _submit(request, session, csrf, act, _users_page, values={"units": units})


async def _ledgers_page(
    request: Request,
    session: Session,
    user: User,
    token: str,
    status_code: int = 200,
    **context: object,
) -> HTMLResponse:
    found = await ledgers.list_ledgers(session, include_archived=True)
    return _page(
        request, "ledgers.html", user, token, status_code=status_code, ledgers=found, **context
    )


@router.get("/ledgers", response_model=None)
async def ledgers_page(request: Request, session: Session, saved: str = "") -> Response:
    found = await _admin(request, session)
    if isinstance(found, Response):
        return found
    return await _ledgers_page(request, session, *found, notice=LEDGER_SAVED.get(saved))


@router.post("/ledgers/{code}/archive", response_model=None)
async def archive_ledger(
    request: Request,
    session: Session,
    now: Now,
    code: str,
    csrf: FormText = "",
    reason: FormText = "",
) -> Response:
    async def act(user: User, _token: str) -> Response:
        why = LedgerArchive(reason=reason.strip())
        await archiving.archive_ledger(session, code, by=user.username, reason=why.reason, now=now)
        return RedirectResponse("/ui/admin/ledgers?saved=archived", status_code=303)

    return await _submit(request, session, csrf, act, _ledgers_page, values={"reason": reason})


@router.post("/ledgers/{code}/restore", response_model=None)
async def restore_ledger(
    request: Request, session: Session, code: str, csrf: FormText = ""
) -> Response:
    async def act(_user: User, _token: str) -> Response:
        await archiving.restore_ledger(session, code)
        return RedirectResponse("/ui/admin/ledgers?saved=restored", status_code=303)

    return await _submit(request, session, csrf, act, _ledgers_page)


@router.post("/ledgers/import", response_model=None)
async def preview_import(
    request: Request,
    session: Session,
    now: Now,
    csrf: FormText = "",
    file: Annotated[UploadFile | None, File()] = None,
    code: FormText = "",
    name: FormText = "",
    issuer: FormText = "",
    document_no: FormText = "",
    plan_end: FormText = "",
) -> Response:
    """Show every row of the upload with its problems (导入预览); nothing is written, and a
    clean preview offers the confirmation."""
    form = {"code": code, "name": name, "issuer": issuer, "document_no": document_no}
    form["plan_end"] = plan_end

    async def act(user: User, session_token: str) -> Response:
        assert file is not None  # required below
        draft = importing.LedgerDraft(
            code=code.strip(),
            name=name.strip(),
            issuer=issuer.strip(),
            document_no=document_no.strip(),
            plan_end=plan_end or None,
        )
        content = await file.read(spreadsheet.MAX_IMPORT_BYTES + 1)
        preview = await importing.preview_import(
            session, content, draft, filename=file.filename or "", admin=user.username, now=now
        )
        return _page(request, "import_preview.html", user, session_token, preview=preview)

    return await _submit(
        request,
        session,
        csrf,
        act,
        _ledgers_page,
        form=form,
        values={"file": file},
        required=("file",),
    )


@router.post("/ledgers/import/confirm", response_model=None)
async def confirm_import(
    request: Request,
    session: Session,
    now: Now,
    csrf: FormText = "",
    token: FormText = "",
) -> Response:
    """Create the ledger the clean preview showed (确认导入)."""

    async def act(user: User, _token: str) -> Response:
        await importing.confirm_import(session, token, admin=user.username, now=now)
        return RedirectResponse("/ui/admin/ledgers?saved=imported", status_code=303)

    return await _submit(
        request, session, csrf, act, _ledgers_page, values={"token": token}, required=("token",)
    )
