"""The intake service (用电报装): connection applications and the portal integration."""

from __future__ import annotations

from fastapi import FastAPI

from services.intake.applications.routes import public_router as applicant_router
from services.intake.applications.routes import router as applications_router
from services.intake.disclosure.routes import router as disclosure_router
from services.intake.documents.routes import router as documents_router
from services.intake.due_changes.routes import router as due_changes_router
from services.intake.external_lines.routes import portal_router as approvals_router
from services.intake.external_lines.routes import router as external_lines_router
from services.intake.fees.routes import router as fees_router
from services.intake.flows.stage_log import attach_keyring
from services.intake.integrity.clock_record import record_clock_at_startup
from services.intake.integrity.routes import router as integrity_router
from services.intake.jobs import restore_calendar, start_jobs, stop_jobs
from services.intake.kpis.routes import router as kpis_router
from services.intake.monitoring.metrics import intake_figures
from services.intake.monitoring.routes import router as monitoring_router
from services.intake.outbox.routes import router as outbox_router
from services.intake.policies.routes import router as policies_router
from services.intake.portal.jobs import (
    close_portal,
    open_portal,
    start_portal_jobs,
    stop_portal_jobs,
)
from services.intake.portal.routes import portal_router
from services.intake.portal.routes import router as portal_staff_router
from services.intake.regulator.routes import router as regulator_router
from services.intake.settings import IntakeSettings
from services.intake.web.application import router as web_application_router
from services.intake.web.counter import router as web_counter_router
from services.intake.web.info import router as web_info_router
from services.intake.web.kpis import router as web_kpis_router
from services.intake.web.monitoring import router as web_monitoring_router
from services.intake.web.regulator import router as web_regulator_router
from services.intake.web.routes import router as web_router
from services.intake.whitelist.routes import router as whitelist_router
from services.intake.workdays.routes import router as calendar_router
from shared.app import create_service_app
from shared.settings import Settings


def create_app(
    settings: Settings | None = None, intake_settings: IntakeSettings | None = None
) -> FastAPI:
    app = create_service_app(
        "intake",
        title="Huodian intake (获电·用电报装)",
        description=(
            "Electricity connection applications from the government portal, online and the "
            "counter, timed in Chinese working days.\n\n用电报装受理、环节时限、预警督办。"
        ),
        routers=[
            policies_router,
            calendar_router,
            applications_router,
            due_changes_router,
            applicant_router,
            monitoring_router,
            outbox_router,
            kpis_router,
            regulator_router,
            portal_router,
            approvals_router,
            portal_staff_router,
            external_lines_router,
            documents_router,
            fees_router,
            whitelist_router,
            disclosure_router,
            integrity_router,
            web_router,
            web_monitoring_router,
            web_application_router,
            web_kpis_router,
            web_regulator_router,
            web_counter_router,
            web_info_router,
        ],
        metrics=intake_figures,
        settings=settings,
        on_startup=[
            attach_keyring,
            restore_calendar,
            record_clock_at_startup,
            start_jobs,
            open_portal,
            start_portal_jobs,
        ],
        on_shutdown=[stop_jobs, stop_portal_jobs, close_portal],
    )
    app.state.intake_settings = intake_settings or IntakeSettings()
    return app
