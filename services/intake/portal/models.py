"""Government portal clients (政务服务平台接入方) and their API keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, String
from sqlmodel import Field

from services.intake.db import IntakeTable
from shared.db import UTCDateTime, utcnow


class PortalClient(IntakeTable, table=True):
    """A portal that calls intake with a key id and an HMAC signature.

    The secret is kept as issued because the server must recompute each request's HMAC.
    """

    __tablename__ = "portal_clients"
    id: int | None = Field(default=None, primary_key=True)
    key_id: str = Field(sa_column=Column(String(40), nullable=False, unique=True))
    name: str = Field(max_length=200)
    secret: str = Field(max_length=128)
    is_active: bool = True
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )
