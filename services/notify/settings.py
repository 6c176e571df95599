"""Settings of the notify service (消息通知), read from ``HUODIAN_NOTIFY_*`` environment variables.

The common settings (database, ports, secret key) stay in :class:`shared.settings.Settings`; these
are the channels, the delivery worker, quiet hours, outage rules and the scheduler.
"""

from __future__ import annotations

from datetime import time
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.notify.messages.models import DeliveryWindow

DEFAULT_RATES = {"email": 600, "sms": 300, "wecom": 20, "dingtalk": 20, "webhook": 600}


class NotifySettings(BaseSettings):
    """One per notify process; every field has a ``HUODIAN_NOTIFY_`` variable."""

    model_config = SettingsConfigDict(env_prefix="HUODIAN_NOTIFY_", extra="ignore")

    # The delivery worker (投递进程).
    worker_enabled: bool = Field(default=True, description="Run the delivery worker in the app.")
    worker_poll_seconds: float = Field(default=2.0, gt=0, description="Idle wait between rounds.")
    worker_batch: int = Field(
        default=10, ge=1, le=5000, description="Messages claimed per channel a round (a lease)."
    )
    max_attempts: int = Field(
        default=8, ge=1, description="A message's own failed attempts before it is dead."
    )
    backoff_base_seconds: int = Field(default=30, ge=1, description="Wait after the 1st failure.")
    backoff_max_seconds: int = Field(default=6 * 3600, ge=1, description="Longest wait.")
    lease_seconds: int = Field(
        default=60, ge=1, description="A claimed message is retried if no outcome is recorded."
    )
    channel_probe_max_seconds: int = Field(
        default=300, ge=1, description="Longest wait between probes of a channel that is down."
    )
    rate_per_minute: dict[str, int] = Field(
        default_factory=lambda: dict(DEFAULT_RATES),
        description='Per-channel sends per minute across all workers, JSON: {"sms": 300}.',
    )

    # Email over SMTP (邮件).
    smtp_host: str | None = Field(default=None, description="Unset: email is not sent.")
    smtp_port: int = 25
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_from: str = "获电通知 <noreply@huodian.local>"
    smtp_timeout_seconds: float = 10.0

    # SMS through an HTTP gateway (短信网关); see services/notify/delivery/channels.py.
    sms_gateway_url: str | None = Field(default=None, description="Unset: SMS is not sent.")
    sms_key_id: str = "huodian"
    sms_secret: str | None = Field(default=None, description="Signs gateway requests (HMAC).")
    sms_sign_name: str = "获电"

    # Group robots and webhooks (企业微信/钉钉群机器人, 通用回调).
    dingtalk_secrets: dict[str, str] = Field(
        default_factory=dict,
        description="DingTalk robot signing secrets (加签) by access_token, JSON.",
    )
    webhook_secret: str | None = Field(default=None, description="Signs generic webhook posts.")
    http_timeout_seconds: float = 10.0

    # When people may be messaged (Beijing time).
    quiet_start: time = Field(default=time(22, 0), description="Quiet hours (免打扰) begin.")
    quiet_end: time = Field(default=time(7, 0), description="Quiet hours end.")
    working_start: time = Field(default=time(8, 30), description="Staff reminders from.")
    working_end: time = Field(default=time(17, 30), description="Staff reminders until.")
    staff_window: DeliveryWindow = Field(
        default=DeliveryWindow.working_hours,
        description="When reminders and warnings to staff go out (working_hours, or anytime).",
    )

    # Outages (停电).
    planned_notice_days: int = Field(
        default=7, ge=0, description="A planned outage is announced at least this many days ahead."
    )
    repeat_window_days: int = Field(
        default=60, ge=1, description="一停多用: warn when customers had an outage this recently."
    )

    # Working-day calendar (工作日历): years loaded at intake are fetched this often.
    calendar_sync_seconds: float = Field(
        default=600, gt=0, description="How often to fetch the loaded calendar years from intake."
    )

    # The scheduler (定时任务).
    scheduler_enabled: bool = Field(default=True, description="Run the scheduler in the app.")
    reminder_time: time = Field(default=time(8, 30), description="Daily reminders, Beijing time.")
    reminder_days_before: int = Field(default=7, ge=0, le=60)
    report_reminder_days_before: int = Field(
        default=5, ge=1, le=30, description="Report reminders this many days before 25 Jun/4 Jan."
    )
    scheduler_lock_id: int = Field(
        default=7_203_103,
        description="PostgreSQL advisory lock key (with the schema) of the one active scheduler.",
    )
    scheduler_standby_seconds: float = Field(
        default=15.0, gt=0, description="How often a standby replica tries to take over."
    )
