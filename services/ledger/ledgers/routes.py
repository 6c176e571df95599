"""Ledgers, items, units, dashboards, 通报 and the deadline feed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Response, UploadFile, status

from services.ledger.deps import AsOf, CurrentAdmin, CurrentReader
from services.ledger.escalations.service import escalations
from services.ledger.ledgers import (
    archiving,
    dashboards,
    feed,
    importing,
    items,
    service,
    spreadsheet,
    units,
    why,
)
from services.ledger.ledgers.items import ItemFilter
from services.ledger.ledgers.models import (
    DeadlineFeed,
    ItemDetail,
    ItemPage,
    LedgerArchive,
    LedgerPublic,
    UnitDashboard,
    UnitPublic,
    UnitStanding,
)
from services.ledger.ledgers.state import DEFAULT_DUE_SOON_DAYS
from services.ledger.updates.models import TaskStatus
from services.ledger.updates.service import history
from shared.app import Session
from shared.auth import require_service
from shared.clock import Now
from shared.errors import Unprocessable
from shared.pagination import Paging
from shared.validation import Day, Id

router = APIRouter(tags=["ledgers"])


@router.get("/ledgers", summary="All ledgers in use, or with the archived too (任务台账列表)")
async def list_ledgers(
    _reader: CurrentReader, session: Session, include_archived: bool = False
) -> list[LedgerPublic]:
    return await service.list_ledgers(session, include_archived=include_archived)


@router.get("/ledgers/{code}", summary="One ledger, archived or not (任务台账)")
async def get_ledger(code: str, _reader: CurrentReader, session: Session) -> LedgerPublic:
    return await service.get_ledger_public(session, code)


@router.post("/ledgers/{code}/archive", summary="Archive a ledger, history kept (台账归档)")
async def archive_ledger(
    code: str, body: LedgerArchive, admin: CurrentAdmin, session: Session, now: Now
) -> LedgerPublic:
    return await archiving.archive_ledger(
        session, code, by=admin.username, reason=body.reason, now=now
    )


@router.post("/ledgers/{code}/restore", summary="Bring an archived ledger back (取消归档)")
async def restore_ledger(code: str, _admin: CurrentAdmin, session: Session) -> LedgerPublic:
    return await archiving.restore_ledger(session, code)


@router.post(
    "/ledgers/import",
    status_code=status.HTTP_201_CREATED,
    summary="Import a ledger from .xlsx or .csv in the Annex 2 layout (导入台账)",
)
async def import_ledger(
    _admin: CurrentAdmin,
    session: Session,
    now: Now,
    file: Annotated[UploadFile, File(description="序号/分类/工作目标任务/责任单位/完成时间")],
    code: Annotated[str, Form(min_length=2, max_length=64, pattern=importing.CODE_PATTERN)],
    name: Annotated[str, Form(min_length=1, max_length=200)],
    issuer: Annotated[str, Form(max_length=200)] = "",
    document_no: Annotated[str, Form(max_length=100)] = "",
    plan_end: Annotated[Day | None, Form()] = None,
) -> LedgerPublic:
    content = await file.read(spreadsheet.MAX_IMPORT_BYTES + 1)
    filename = (file.filename or "").lower()
    if filename.endswith(".csv"):
        rows = spreadsheet.read_ledger_csv(content)
    elif filename.endswith(".xlsx"):
        rows = spreadsheet.read_ledger_xlsx(content)
    else:
        raise Unprocessable("upload an .xlsx or .csv file", code="unsupported_file_type")
    ledger = await service.create_ledger(
        session,
        code=code,
        name=name,
        rows=rows,
        issuer=issuer,
        document_no=document_no,
        plan_end=plan_end,
        source=f"imported from {file.filename}",
        now=now,
    )
    assert ledger.id is not None
    return LedgerPublic(**ledger.model_dump(), item_count=len(rows))


@router.post(
    "/ledgers/import/preview",
    summary="Check an .xlsx row by row; nothing is written (导入预览)",
)
async def preview_import(
    admin: CurrentAdmin,
    session: Session,
    now: Now,
    file: Annotated[UploadFile, File(description="序号/分类/工作目标任务/责任单位/完成时间")],
    draft: Annotated[importing.LedgerDraft, Form()],
) -> importing.ImportPreview:
    content = await file.read(spreadsheet.MAX_IMPORT_BYTES + 1)
    return await importing.preview_import(
        session, content, draft, filename=file.filename or "", admin=admin.username, now=now
    )


@router.post(
    "/ledgers/import/confirm",
    status_code=status.HTTP_201_CREATED,
    summary="Create the ledger a clean preview checked, with its token (确认导入)",
)
async def confirm_import(
    body: importing.ImportConfirm, admin: CurrentAdmin, session: Session, now: Now
) -> LedgerPublic:
    ledger, count = await importing.confirm_import(
        session, body.token, admin=admin.username, now=now
    )
    return LedgerPublic(**ledger.model_dump(), item_count=count)


@router.get(
    "/ledgers/{code}/export.{fmt}",
    summary="Export a ledger with status (导出台账)",
    response_class=Response,
)
async def export_ledger(
    code: str, fmt: str, _reader: CurrentReader, session: Session, as_of: AsOf
) -> Response:
    return await spreadsheet.export_ledger(session, code, fmt, as_of=as_of)


@router.get("/items", summary="Items with filters (任务事项查询)")
async def list_items(
    _reader: CurrentReader,
    session: Session,
    as_of: AsOf,
    paging: Paging,
    ledger: str | None = None,
    category: str | None = None,
    unit_id: Id | None = None,
    status_: Annotated[TaskStatus | None, Query(alias="status")] = None,
    due_before: Day | None = None,
    overdue: bool | None = None,
    due_soon: bool | None = None,
    due_soon_days: Annotated[int, Query(ge=0, le=365)] = DEFAULT_DUE_SOON_DAYS,
) -> ItemPage:
    flt = ItemFilter(
        ledger_code=ledger,
        category=category,
        unit_id=unit_id,
        status=status_,
        due_before=due_before,
        overdue=overdue,
        due_soon=due_soon,
    )
    return await items.list_items(
        session, flt, as_of=as_of, due_soon_days=due_soon_days, paging=paging
    )


@router.get("/items/{item_id}", summary="One item with its whole history (事项详情)")
async def get_item(
    item_id: Id, _reader: CurrentReader, session: Session, as_of: AsOf
) -> ItemDetail:
    item = await items.get_item_public(session, item_id, as_of=as_of)
    return ItemDetail(
        **item.model_dump(),
        history=await history(session, item_id),
        escalations=await escalations(session, item_id=item_id),
    )


@router.get("/items/{item_id}/why", summary="Why an item is overdue or due soon (事项期限说明)")
async def item_why(
    item_id: Id, _reader: CurrentReader, session: Session, as_of: AsOf
) -> why.ItemWhy:
    return await why.item_why(session, item_id, as_of=as_of)


@router.get("/units", summary="Responsible units (责任单位)")
async def list_units(_reader: CurrentReader, session: Session) -> list[UnitPublic]:
    return [
        UnitPublic(id=u.id, name=u.name)
        for u in await units.list_units(session)
        if u.id is not None
    ]


@router.get("/units/{unit_id}/dashboard", summary="A unit's dashboard (单位看板)")
async def unit_dashboard(
    unit_id: Id, _reader: CurrentReader, session: Session, as_of: AsOf, ledger: str | None = None
) -> UnitDashboard:
    return await dashboards.unit_dashboard(session, unit_id, as_of=as_of, ledger_code=ledger)


@router.get("/ranking", summary="Units ranked by overdue and stale items (通报排名)")
async def ranking(
    _reader: CurrentReader,
    session: Session,
    as_of: AsOf,
    ledger: str | None = None,
    stale_days: Annotated[int, Query(ge=1, le=365)] = 30,
) -> list[UnitStanding]:
    return await dashboards.unit_ranking(
        session, as_of=as_of, stale_days=stale_days, ledger_code=ledger
    )


@router.get("/feed/deadlines", summary="Items due soon or overdue, for notify (临期逾期提醒源)")
async def deadline_feed(
    reader: CurrentReader,
    session: Session,
    as_of: AsOf,
    within_days: Annotated[int, Query(ge=0, le=365)] = 7,
) -> DeadlineFeed:
    require_service(reader, "notify")
    return await feed.deadline_feed(session, as_of=as_of, within_days=within_days)
