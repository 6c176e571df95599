"""The shapes of message templates (消息模板): a rendered text, a template's channels and sample
data, and the preview request and answer."""

from __future__ import annotations

from typing import Any

from sqlmodel import Field, SQLModel

from services.notify.messages.models import Channel


class Rendered(SQLModel):
    subject: str
    body: str


class TemplateInfo(SQLModel):
    kind: str
    channels: dict[Channel, str]
    sample: dict[str, Any]


class PreviewRequest(SQLModel):
    channel: Channel = Channel.email
    data: dict[str, Any] | None = Field(
        default=None, description="Template data; the template's sample data when left out."
    )


class Preview(Rendered):
    kind: str
    channel: Channel
    template: str
    data: dict[str, Any]
