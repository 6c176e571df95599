"""Importing a ledger in two steps (台账导入预览与确认).

The preview reads the upload, checks every row and writes no ledger; when no row has a problem it
issues a token (导入确认码). Confirming with that token creates the ledger from the same file in
the caller's one transaction. A token is single use, expires after :data:`GRANT_TTL`, and is bound
to the administrator who previewed and to the file's SHA-256; only its hash is stored.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import date, datetime, timedelta
from typing import Annotated

from pydantic import BaseModel, StringConstraints
from sqlalchemy import Column, LargeBinary, String, delete, update
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.ledger.db import LedgerTable
from services.ledger.ledgers import spreadsheet
from services.ledger.ledgers.models import Ledger, Unit
from services.ledger.ledgers.service import create_ledger
from shared import units
from shared.db import UTCDateTime
from shared.errors import Conflict, Forbidden, NotFound
from shared.timeutil import BeijingTime
from shared.validation import Day

CODE_PATTERN = r"^[a-z0-9][a-z0-9\-]*$"
GRANT_TTL = timedelta(minutes=30)
"""How long a clean preview may be confirmed: long enough to read it, short enough to be fresh."""


class ImportGrant(LedgerTable, table=True):
    """A clean preview waiting for its confirmation (待确认的导入), with the file it checked."""

    __tablename__ = "ledger_import_grants"
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    admin: str = Field(max_length=200)
    file_sha256: str = Field(max_length=64)
    filename: str = Field(default="", max_length=255)
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    code: str = Field(max_length=64)
    name: str = Field(max_length=200)
    issuer: str = Field(default="", max_length=200)
    document_no: str = Field(default="", max_length=100)
    plan_end: date | None = None
    issued_at: BeijingTime = Field(sa_column=Column(UTCDateTime, nullable=False))
    expires_at: BeijingTime = Field(sa_column=Column(UTCDateTime, nullable=False, index=True))
    used_at: BeijingTime | None = Field(default=None, sa_column=Column(UTCDateTime))


class LedgerDraft(BaseModel):
    """The ledger an upload is to become: its code, name and the plan's particulars."""

    code: Annotated[str, StringConstraints(min_length=2, max_length=64, pattern=CODE_PATTERN)]
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    issuer: Annotated[str, StringConstraints(max_length=200)] = ""
    document_no: Annotated[str, StringConstraints(max_length=100)] = ""
    plan_end: Day | None = None


class CellProblem(SQLModel):
    column: str
    code: str
    message: str


class PreviewRow(SQLModel):
    """One item row as read (行预览), with what is wrong with it; empty ``problems`` is fine."""

    row: int
    seq: str
    category: str
    task: str
    responsible_text: str
    due_text: str
    problems: list[CellProblem]


class ImportPreview(SQLModel):
    """Every row of the upload and its problems; ``token`` only when there are none."""

    filename: str
    file_sha256: str
    code: str
    name: str
    rows: list[PreviewRow]
    # Problems of the whole sheet rather than of a row (no header, no items, code taken).
    sheet_problems: list[CellProblem]
    problem_count: int
    token: str | None = None
    expires_at: BeijingTime | None = None


class ImportConfirm(SQLModel):
    token: str = Field(min_length=1, max_length=200)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def _known_units(session: AsyncSession) -> set[str]:
    return set((await session.exec(select(Unit.name))).all())


async def _sheet_problems(
    session: AsyncSession, check: spreadsheet.SheetCheck, code: str
) -> list[CellProblem]:
    problems = []
    if not check.header_seen:
        problems.append(
            CellProblem(
                column="表头",
                code="header_not_found",
                message="未找到表头行：第一个工作表须有 " + "、".join(spreadsheet.ANNEX2_COLUMNS),
            )
        )
    elif not check.rows:
        problems.append(CellProblem(column="表格", code="no_items", message="表格中没有事项"))
    taken = await session.exec(select(Ledger.id).where(col(Ledger.code) == code))
    if taken.first() is not None:
        problems.append(
            CellProblem(column="台账编码", code="ledger_exists", message=f"台账“{code}”已存在")
        )
    return problems


async def preview_import(
    session: AsyncSession,
    content: bytes,
    draft: LedgerDraft,
    *,
    filename: str,
    admin: str,
    now: datetime,
) -> ImportPreview:
    """Check an uploaded .xlsx row by row (导入预览); no ledger, item or unit is written.

    A file that is hostile or not a workbook is refused with a 4xx (see
    :func:`spreadsheet.xlsx_rows`). A clean preview stores a grant and returns its token.
    """
    rows = spreadsheet.xlsx_rows(content)
    known = await _known_units(session)
    check = spreadsheet.check_rows(
        rows, known_unit=lambda unit: unit in known or units.canonical(unit) is not None
    )
    sheet_problems = await _sheet_problems(session, check, draft.code)
    sha256 = hashlib.sha256(content).hexdigest()
    preview = ImportPreview(
        filename=filename,
        file_sha256=sha256,
        code=draft.code,
        name=draft.name,
        rows=[
            PreviewRow(
                row=row.row_no,
                seq=row.cells[0],
                category=row.cells[1],
                task=row.cells[2],
                responsible_text=row.cells[3],
                due_text=row.cells[4],
                problems=[
                    CellProblem(column=p.column, code=p.code, message=p.message)
                    for p in row.problems
                ],
            )
            for row in check.rows
        ],
        sheet_problems=sheet_problems,
        problem_count=check.problem_count + len(sheet_problems),
    )
    # Grants nobody confirmed in time are of no use to anyone; one indexed delete keeps it small.
    await session.exec(delete(ImportGrant).where(col(ImportGrant.expires_at) < now))
    if preview.problem_count:
        return preview
    token = secrets.token_urlsafe(32)
    grant = ImportGrant(
        token_hash=_hash(token),
        admin=admin,
        file_sha256=sha256,
        filename=filename[:255],
        content=content,
        issued_at=now,
        expires_at=now + GRANT_TTL,
        **draft.model_dump(),
    )
    session.add(grant)
    await session.flush()
    return preview.model_copy(update={"token": token, "expires_at": grant.expires_at})


async def confirm_import(
    session: AsyncSession, token: str, *, admin: str, now: datetime
) -> tuple[Ledger, int]:
    """Create the ledger a clean preview checked (确认导入), in the caller's transaction, and
    use up the token; returns the ledger and its number of items."""
    grant = (
        await session.exec(select(ImportGrant).where(col(ImportGrant.token_hash) == _hash(token)))
    ).first()
    if grant is None or grant.id is None:
        raise NotFound("no import preview has this token", code="import_token_not_found")
    if grant.admin != admin:
        raise Forbidden(
            "this import was previewed by another administrator", code="import_token_not_yours"
        )
    if grant.used_at is not None:
        raise Conflict("this import was confirmed already", code="import_token_used")
    if grant.expires_at <= now:
        raise Conflict("the import preview has expired; preview again", code="import_token_expired")
    if hashlib.sha256(grant.content).hexdigest() != grant.file_sha256:
        raise Conflict("the previewed file has changed; preview again", code="import_file_changed")
    # Only one of two concurrent confirmations finds the grant unused (RETURNING, not rowcount:
    # the async drivers do not all report a row count).
    claimed = await session.exec(
        update(ImportGrant)
        .where(col(ImportGrant.id) == grant.id, col(ImportGrant.used_at).is_(None))
        .values(used_at=now)
        .returning(col(ImportGrant.id))
    )
    if claimed.first() is None:
        raise Conflict("this import was confirmed already", code="import_token_used")
    items = spreadsheet.read_ledger_xlsx(grant.content)
    ledger = await create_ledger(
        session,
        code=grant.code,
        name=grant.name,
        rows=items,
        issuer=grant.issuer,
        document_no=grant.document_no,
        plan_end=grant.plan_end,
        source=f"imported from {grant.filename}",
        now=now,
    )
    return ledger, len(items)
