"""The ledger service (任务台账): plans, items, status updates, reports and accounts."""

from fastapi import FastAPI

from services.ledger.accounts.routes import router as accounts_router
from services.ledger.escalations.routes import router as escalations_router
from services.ledger.ledgers import spreadsheet
from services.ledger.ledgers.routes import router as ledgers_router
from services.ledger.reports.routes import router as reports_router
from services.ledger.updates import service as updates
from services.ledger.updates.routes import router as updates_router
from services.ledger.web.admin import router as admin_web_router
from services.ledger.web.reports import router as report_web_router
from services.ledger.web.routes import router as web_router
from shared.app import create_service_app
from shared.limits import upload_limit
from shared.settings import Settings

_EVIDENCE = upload_limit(updates.MAX_EVIDENCE_BYTES, files=updates.MAX_EVIDENCE_FILES)
# The routes that take uploads, and how large a body each takes (the default is 1 MiB).
BODY_LIMITS = {
    "/items/{item_id}/updates": _EVIDENCE,
    "/ui/items/{item_id}/updates": _EVIDENCE,
    "/ledgers/import": upload_limit(spreadsheet.MAX_IMPORT_BYTES),
    "/ledgers/import/preview": upload_limit(spreadsheet.MAX_IMPORT_BYTES),
    "/ui/admin/ledgers/import": upload_limit(spreadsheet.MAX_IMPORT_BYTES),
}


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        "ledger",
        title="Huodian ledger (获电·任务台账)",
        description=(
            "Task ledgers such as Dongying's 68 items: responsible units, due dates, status "
            "updates by department heads, reports, and the deadline feed for notify.\n\n"
            "任务台账：责任单位、完成时限、部门填报进展、半年及年度报告、提醒数据源。"
        ),
        routers=[
            accounts_router,
            ledgers_router,
            updates_router,
            reports_router,
            escalations_router,
            web_router,
            admin_web_router,
            report_web_router,
        ],
        settings=settings,
        body_limits=BODY_LIMITS,
    )
