"""Every table of the notify service, imported so that its metadata is complete."""

from services.notify.db import NotifyTable
from services.notify.delivery.models import ChannelHealth, DeliveryAttempt, FallbackRule
from services.notify.events.models import ReceivedEvent
from services.notify.messages.models import Message
from services.notify.outages.models import Outage, OutageImpact, OutageScope, OutageUpdate
from services.notify.reliability.models import OfficialCustomerCount
from services.notify.scheduler.models import ScheduledJobRun, scheduled_jobs
from services.notify.subscribers.models import Subscriber, SubscriberImport, SubscriberOptOut

metadata = NotifyTable.metadata
__all__ = [
    "ChannelHealth",
    "DeliveryAttempt",
    "FallbackRule",
    "Message",
    "OfficialCustomerCount",
    "Outage",
    "OutageImpact",
    "OutageScope",
    "OutageUpdate",
    "ReceivedEvent",
    "ScheduledJobRun",
    "Subscriber",
    "SubscriberImport",
    "SubscriberOptOut",
    "metadata",
    "scheduled_jobs",
]
