"""Every table of the notify service, imported so that its metadata is complete."""

from services.notify.db import NotifyTable
from services.notify.messages.models import Message

metadata = NotifyTable.metadata
__all__ = ["Message", "metadata"]
