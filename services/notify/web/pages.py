"""What notify's pages (网页) share: their templates, the labels of channels and message states,
the table of messages by state and channel, and the page that says why something was refused."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from fastapi import Request, Response
from pydantic import ValidationError

from services.notify.messages.models import Channel, MessageState
from shared.auth import Role
from shared.errors import HuodianError, chinese_detail
from shared.web.pages import PageForm, Person, Refused, render, submit_form, templates_for

templates = templates_for(Path(__file__).parent / "templates")
# The roles of the outage API (services.notify.deps.Dispatcher).
STAFF = (Role.dispatcher, Role.admin)
CHANNEL_LABELS = {
    Channel.email: "邮件",
    Channel.sms: "短信",
    Channel.wecom: "企业微信",
    Channel.dingtalk: "钉钉",
    Channel.webhook: "回调",
}
MESSAGE_STATE_LABELS = {
    MessageState.queued: "待发送",
    MessageState.sending: "发送中",
    MessageState.sent: "已发送",
    MessageState.failed: "发送失败",
    MessageState.dead: "死信",
    MessageState.superseded: "已取代",
}


def count_table(counts: dict[tuple[MessageState, Channel], int]) -> dict[str, object]:
    """Messages by state and channel as ``counts.html`` draws them: the rows and columns that
    have any."""
    return {
        "counts": counts,
        "channels": sorted({c for _, c in counts}, key=list(Channel).index),
        "message_states": sorted({s for s, _ in counts}, key=list(MessageState).index),
        "channel_labels": CHANNEL_LABELS,
        "message_state_labels": MESSAGE_STATE_LABELS,
        "total_messages": sum(counts.values()),
    }


def error_text(exc: HuodianError | ValidationError) -> str:
    """What a person reads when ``exc`` refused their request (the API's detail, in Chinese)."""
    if isinstance(exc, ValidationError):
        fields = ", ".join(sorted({str(e["loc"][0]) for e in exc.errors() if e["loc"]}))
        return chinese_detail("validation_failed", f"Invalid input: {fields}")
    return chinese_detail(exc.code, exc.detail)


def refused(
    request: Request, person: Person, exc: HuodianError, heading: str = "无法打开此停电"
) -> Response:
    """The page saying ``exc`` refused to show what was asked for, with its status."""
    return render(
        templates,
        request,
        "refused.html",
        person,
        status_code=exc.status,
        error=error_text(exc),
        heading=heading,
    )


async def submit_page_form(
    request: Request,
    person: Person,
    posted: PageForm,
    act: Callable[[], Awaitable[Response]],
    refused: Refused,
    *,
    longest: Mapping[str, int] | None = None,
) -> Response:
    """A form of notify's pages, as shared.web.pages.submit_form takes it (its message:
    :func:`error_text`)."""
    return await submit_form(
        request,
        person.token,
        posted.csrf,
        act,
        refused,
        values=posted.typed(),
        longest=longest,
        message=error_text,
    )
