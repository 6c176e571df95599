"""Templates over HTTP: the list and a preview with sample or given data (模板预览)."""

from __future__ import annotations

from fastapi import APIRouter

from services.notify.deps import CurrentOperator
from services.notify.templates.models import Preview, PreviewRequest, TemplateInfo
from services.notify.templates.service import templates

router = APIRouter(tags=["templates"])


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
