"""Every table of the intake service, imported so that its metadata is complete."""

from services.intake.applications.models import (
    Application,
    ApplicationEvent,
    ApplicationPause,
    ApplicationStage,
)
from services.intake.db import IntakeTable
from services.intake.documents.models import ApplicationDocument, ChangeOfUseLink, DocumentRequest
from services.intake.due_changes.models import DueChange
from services.intake.external_lines.models import ExternalLineRecord
from services.intake.fees.models import ApplicationFee
from services.intake.idempotency import IdempotencyRecord
from services.intake.integrity.models import ClockParameter
from services.intake.monitoring.models import Escalation
from services.intake.outbox.models import OutboxEvent
from services.intake.policies.models import TimeLimitPolicy
from services.intake.portal.models import (
    LicenceCheck,
    PortalClient,
    PortalNonce,
    PreApplication,
    WebhookDelivery,
)
from services.intake.whitelist.models import GridArea, ThreeZeroAssessment, WhitelistEntry
from services.intake.workdays.models import CalendarYear
from shared.ratelimit import rate_limit_table

metadata = IntakeTable.metadata
# Query-code tries counted across processes (shared.ratelimit).
rate_limits = rate_limit_table(metadata)
__all__ = [
    "Application",
    "ApplicationDocument",
    "ApplicationEvent",
    "ApplicationFee",
    "ApplicationPause",
    "ApplicationStage",
    "CalendarYear",
    "ChangeOfUseLink",
    "ClockParameter",
    "DocumentRequest",
    "DueChange",
    "Escalation",
    "ExternalLineRecord",
    "GridArea",
    "IdempotencyRecord",
    "LicenceCheck",
    "OutboxEvent",
    "PortalClient",
    "PortalNonce",
    "PreApplication",
    "ThreeZeroAssessment",
    "TimeLimitPolicy",
    "WebhookDelivery",
    "WhitelistEntry",
    "metadata",
    "rate_limits",
]
