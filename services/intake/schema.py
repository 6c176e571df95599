"""Every table of the intake service, imported so that its metadata is complete."""

from services.intake.db import IntakeTable
from services.intake.portal.models import PortalClient

metadata = IntakeTable.metadata
__all__ = ["PortalClient", "metadata"]
