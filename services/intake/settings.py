"""Settings of the intake service alone, read from ``HUODIAN_INTAKE_*`` environment variables.

The settings every service shares (database, ports, secret) are in :mod:`shared.settings`.
"""

from __future__ import annotations

from datetime import time

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class IntakeSettings(BaseSettings):
    """How the clock warns, when the watch runs and how events reach notify."""

    model_config = SettingsConfigDict(env_prefix="HUODIAN_INTAKE_", extra="ignore")

    at_risk_percent: int = Field(
        default=80,
        ge=1,
        le=100,
        description="A stage is at risk (预警) once this share of its limit is used.",
    )
    office_opens: time = Field(default=time(8, 30), description="Beijing time the watch starts.")
    office_closes: time = Field(default=time(17, 30), description="Beijing time the watch stops.")
    background_jobs: bool = Field(
        default=True, description="Run the watch scan and the outbox delivery in the app process."
    )
    scan_interval_seconds: float = Field(default=300, gt=0)
    outbox_interval_seconds: float = Field(default=5, gt=0)
    outbox_batch: int = Field(default=100, ge=1, le=10_000)
    outbox_retry_base_seconds: float = Field(default=10, gt=0)
    outbox_retry_max_seconds: float = Field(default=3600, gt=0)

    @model_validator(mode="after")
    def _office_hours_in_order(self) -> IntakeSettings:
        if self.office_opens >= self.office_closes:
            raise ValueError("office_opens must be before office_closes")
        return self
