"""Templates over HTTP: the list and a preview with sample or given data (模板预览)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlmodel import Field, SQLModel

from services.notify.deps import CurrentOperator
from services.notify.messages.models import Channel
from services.notify.templates.service import Rendered, TemplateInfo, templates

router = APIRouter(tags=["templates"])


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


@router.get("/templates", summary="Message types and their templates per channel (消息模板)")
async def list_templates(_operator: CurrentOperator) -> list[TemplateInfo]:
    shipped = templates()
    return [shipped.info(kind) for kind in shipped.kinds()]


@router.post("/templates/{kind}/preview", summary="Render a template (模板预览)")
async def preview(_operator: CurrentOperator, kind: str, body: PreviewRequest) -> Preview:
    shipped = templates()
    data = body.data if body.data is not None else shipped.sample(kind)
    rendered = shipped.render(kind, body.channel, data)
    return Preview(
        kind=kind,
        channel=body.channel,
        template=shipped.source_of(kind, body.channel),
        data=data,
        subject=rendered.subject,
        body=rendered.body,
    )
