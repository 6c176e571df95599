"""Every table of the intake service, imported so that its metadata is complete."""

from services.intake.applications.models import (
    Application,
    ApplicationEvent,
    ApplicationPause,
    ApplicationStage,
)
from services.intake.db import IntakeTable
from services.intake.monitoring.models import Escalation
from services.intake.outbox.models import OutboxEvent
from services.intake.policies.models import TimeLimitPolicy
from services.intake.portal.models import PortalClient
from services.intake.workdays.models import CalendarYear

metadata = IntakeTable.metadata
__all__ = [
    "Application",
    "ApplicationEvent",
    "ApplicationPause",
    "ApplicationStage",
    "CalendarYear",
    "Escalation",
    "OutboxEvent",
    "PortalClient",
    "TimeLimitPolicy",
    "metadata",
]
