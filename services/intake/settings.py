"""Settings of the intake service alone, read from ``HUODIAN_INTAKE_*`` environment variables.

The settings every service shares (database, ports, secret) are in :mod:`shared.settings`.
"""

from __future__ import annotations

from datetime import time
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class IntakeSettings(BaseSettings):
    """How the clock warns, when the watch runs, how events reach notify, and the portal."""

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

    # The government portal (政务服务平台对接).
    elicense_url: str = Field(
        default="http://127.0.0.1:8104",
        description="Base URL of the e-license service (电子证照核验); `huodian up` runs a "
        "stand-in.",
    )
    elicense_api_key: str | None = Field(default=None, description="Sent as X-Api-Key if set.")
    portal_timeout_seconds: float = Field(
        default=10, gt=0, description="Timeout of calls to the e-license service and webhooks."
    )
    portal_signature_window_seconds: int = Field(
        default=300, ge=10, le=3600, description="How far a signed timestamp may be off."
    )
    idempotency_retention_hours: float = Field(
        default=24, gt=0, description="How long a portal POST's first answer is kept for retries."
    )
    service_areas_file: Path | None = Field(
        default=None,
        description="JSON mapping administrative regions to units; default: the shipped one.",
    )
    webhook_interval_seconds: float = Field(default=2, gt=0)
    webhook_batch: int = Field(default=100, ge=1, le=10_000)
    webhook_retry_base_seconds: float = Field(default=10, gt=0)
    webhook_retry_max_seconds: float = Field(default=3600, gt=0)

    # The stage record's anchor outside the database (记录锚定) and its periodic check.
    checkpoint_file: Path | None = Field(
        default=None,
        description="Append-only file of signed checkpoints of the stage log; default: "
        "<var dir>/intake-checkpoints.jsonl. Keep it off the database's host.",
    )
    checkpoint_interval_seconds: float = Field(
        default=3600, gt=0, description="How often the background job writes a checkpoint."
    )
    verify_interval_seconds: float = Field(
        default=6 * 3600, gt=0, description="How often the background job verifies everything."
    )
    integrity_lock_id: int = Field(
        default=7_203_104,
        description="PostgreSQL advisory lock key (with the schema) of the one replica that "
        "runs the integrity jobs (checkpoints, verification).",
    )

    @model_validator(mode="after")
    def _office_hours_in_order(self) -> IntakeSettings:
        if self.office_opens >= self.office_closes:
            raise ValueError("office_opens must be before office_closes")
        return self
