"""The administrator's pages (管理员页面): users and the units they are bound to (用户管理) —
list, add, bind units, disable — and the ledgers (台账管理): download, archive, restore, and
import with a row-by-row preview (导入预览); by the same functions as the ``/users`` and
``/ledgers`` API."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, Response, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from services.ledger.accounts import service as accounts
from services.ledger.accounts.models import User, UserCreate, UserUpdate
from services.ledger.ledgers import archiving, importing, spreadsheet
from services.ledger.ledgers import service as ledgers
from services.ledger.ledgers.models import LedgerArchive
from services.ledger.web.routes import MESSAGES, _page, _signed_in
from shared.app import Session, SettingsDep
from shared.auth import Role
from shared.clock import Now
from shared.errors import Forbidden, HuodianError, validation_message
from shared.web.navigation import ROLE_LABELS
from shared.web.pages import Person, forbidden_page, to_sign_in
from shared.web.session import check_csrf

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


async def _refused(
    request: Request, session: Session, user: User, token: str, status: int, error: str, **form: str
) -> HTMLResponse:
    await _undo(session, user)
    return await _users_page(request, session, user, token, status, error=error, form=form)


async def _undo(session: Session, user: User) -> None:
    """Roll back what a refused change may have staged, so that nothing of it is committed;
    the signed-in user is read again for the page (a rollback expires every loaded row)."""
    await session.rollback()
    await session.refresh(user)


@router.post("/users", response_model=None)
async def add_user(
    request: Request,
    session: Session,
    settings: SettingsDep,
    now: Now,
    csrf: Annotated[str, Form()],
    username: Annotated[str, Form(max_length=200)],
    display_name: Annotated[str, Form(max_length=200)],
    role: Annotated[str, Form(max_length=40)],
    password: Annotated[str, Form(max_length=200)],
    email: Annotated[str, Form(max_length=320)] = "",
    units: Annotated[str, Form(max_length=5000)] = "",
) -> Response:
    found = await _admin(request, session)
    if isinstance(found, Response):
        return found
    user, token = found
    form = {"username": username, "display_name": display_name, "role": role, "units": units}
    form["email"] = email
    try:
        check_csrf(settings, token, csrf)
        data = UserCreate(
            username=username,
            display_name=display_name,
            email=email or None,
            role=role,  # type: ignore[arg-type]  # pydantic checks it is a Role
            password=password,
            units=unit_names(units),
        )
        await accounts.create_user(session, data, now=now)
    except ValidationError as exc:
        return await _refused(request, session, user, token, 422, _chinese(exc), **form)
    except HuodianError as exc:
        return await _refused(
            request, session, user, token, exc.status, MESSAGES.get(exc.code, exc.detail), **form
        )
    return RedirectResponse("/ui/admin/users?saved=added", status_code=303)


@router.post("/users/{username}", response_model=None)
async def change_user(
    request: Request,
    session: Session,
    settings: SettingsDep,
    username: str,
    csrf: Annotated[str, Form()],
    units: Annotated[str, Form(max_length=5000)] = "",
    active: Annotated[bool, Form()] = False,
) -> Response:
    """Bind a user's units (the whole list) and enable or disable them."""
    found = await _admin(request, session)
    if isinstance(found, Response):
        return found
    user, token = found
    try:
        check_csrf(settings, token, csrf)
        if username == user.username and not active:
            raise Forbidden("an administrator may not disable themself", code="cannot_disable_self")
        target = await accounts.get_user_by_name(session, username)
        bound = (
            [u.name for u in (await accounts.to_public(session, target)).units] if target else []
        )
        wanted = unit_names(units)
        # Units unchanged stay out of the update: a new list signs the holder out (token_version).
        change = UserUpdate(units=None if wanted == bound else wanted, is_active=active)
        await accounts.update_user(session, username, change)
    except HuodianError as exc:
        return await _refused(
            request, session, user, token, exc.status, MESSAGES.get(exc.code, exc.detail)
        )
    return RedirectResponse("/ui/admin/users?saved=changed", status_code=303)


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
    settings: SettingsDep,
    now: Now,
    code: str,
    csrf: Annotated[str, Form()],
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    found = await _admin(request, session)
    if isinstance(found, Response):
        return found
    user, token = found
    try:
        check_csrf(settings, token, csrf)
        why = LedgerArchive(reason=reason.strip())
        await archiving.archive_ledger(session, code, by=user.username, reason=why.reason, now=now)
    except ValidationError as exc:
        await _undo(session, user)
        return await _ledgers_page(request, session, user, token, 422, error=_chinese(exc))
    except HuodianError as exc:
        await _undo(session, user)
        error = MESSAGES.get(exc.code, exc.detail)
        return await _ledgers_page(request, session, user, token, exc.status, error=error)
    return RedirectResponse("/ui/admin/ledgers?saved=archived", status_code=303)


@router.post("/ledgers/{code}/restore", response_model=None)
async def restore_ledger(
    request: Request,
    session: Session,
    settings: SettingsDep,
    code: str,
    csrf: Annotated[str, Form()],
) -> Response:
    found = await _admin(request, session)
    if isinstance(found, Response):
        return found
    user, token = found
    try:
        check_csrf(settings, token, csrf)
        await archiving.restore_ledger(session, code)
    except HuodianError as exc:
        await _undo(session, user)
        error = MESSAGES.get(exc.code, exc.detail)
        return await _ledgers_page(request, session, user, token, exc.status, error=error)
    return RedirectResponse("/ui/admin/ledgers?saved=restored", status_code=303)


@router.post("/ledgers/import", response_model=None)
async def preview_import(
    request: Request,
    session: Session,
    settings: SettingsDep,
    now: Now,
    csrf: Annotated[str, Form()],
    file: Annotated[UploadFile, File()],
    code: Annotated[str, Form(max_length=200)] = "",
    name: Annotated[str, Form(max_length=400)] = "",
    issuer: Annotated[str, Form(max_length=400)] = "",
    document_no: Annotated[str, Form(max_length=200)] = "",
    plan_end: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """Show every row of the upload with its problems (导入预览); nothing is written, and a
    clean preview offers the confirmation."""
    found = await _admin(request, session)
    if isinstance(found, Response):
        return found
    user, token = found
    form = {"code": code, "name": name, "issuer": issuer, "document_no": document_no}
    form["plan_end"] = plan_end
    try:
        check_csrf(settings, token, csrf)
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
    except ValidationError as exc:
        await _undo(session, user)
        return await _ledgers_page(
            request, session, user, token, 422, error=_chinese(exc), form=form
        )
    except HuodianError as exc:
        await _undo(session, user)
        error = MESSAGES.get(exc.code, exc.detail)
        return await _ledgers_page(
            request, session, user, token, exc.status, error=error, form=form
        )
    return _page(request, "import_preview.html", user, token, preview=preview)


@router.post("/ledgers/import/confirm", response_model=None)
async def confirm_import(
    request: Request,
    session: Session,
    settings: SettingsDep,
    now: Now,
    csrf: Annotated[str, Form()],
    token: Annotated[str, Form(max_length=200)],
) -> Response:
    """Create the ledger the clean preview showed (确认导入)."""
    found = await _admin(request, session)
    if isinstance(found, Response):
        return found
    user, session_token = found
    try:
        check_csrf(settings, session_token, csrf)
        await importing.confirm_import(session, token, admin=user.username, now=now)
    except HuodianError as exc:
        await _undo(session, user)
        error = MESSAGES.get(exc.code, exc.detail)
        return await _ledgers_page(request, session, user, session_token, exc.status, error=error)
    return RedirectResponse("/ui/admin/ledgers?saved=imported", status_code=303)
