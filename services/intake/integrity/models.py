"""The clock's own inputs on the record (时钟参数记录): the warning share, the loaded years."""

from __future__ import annotations

from sqlalchemy import Column, String, Text
from sqlmodel import Field

from services.intake.db import IntakeTable
from shared.db import UTCDateTime
from shared.timeutil import BeijingTime


class ClockParameter(IntakeTable, table=True):
    """One parameter the clock computes with, as intake last recorded it, sealed with an HMAC
    (keyring purpose ``clock-parameter``) over its name, value and time.

    ``at_risk_percent`` — 预警比例, the share of a limit after which a stage is at risk;
    ``calendar_years`` — the years whose arrangement was loaded (``calendar_years`` rows), so
    that a row deleted behind intake's back is missed."""

    __tablename__ = "clock_parameters"
    name: str = Field(sa_column=Column(String(64), primary_key=True))
    value: str = Field(sa_column=Column(Text, nullable=False))
    recorded_at: BeijingTime = Field(sa_column=Column(UTCDateTime, nullable=False))
    recorded_by: str = Field(max_length=100)
    key_id: str = Field(max_length=32)
    mac: str = Field(max_length=64)
