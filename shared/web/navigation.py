"""The pages of the three services and who may use them (导航), by the URL a browser reaches.

Each service serves its own pages under ``/ui/``. A browser reaches them under one public base
when Huodian runs behind nginx (``HUODIAN_PUBLIC_URL``: ``/intake/ui/``, ``/ledger/ui/``,
``/notify/ui/``), else at each service's own URL (``huodian up``: one port each). Links to a
page of the service that renders them stay relative to that service (its root path), so they
hold whatever address the browser used.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from shared.auth import Role
from shared.settings import ServiceName, Settings

ROLE_LABELS = {
    Role.admin: "管理员",
    Role.dept_head: "部门负责人",
    Role.viewer: "查看者",
    Role.clerk: "受理人员",
    Role.supervisor: "监管督办人员",
    Role.dispatcher: "调度人员",
}
_ALL = frozenset(Role)


@dataclass(frozen=True)
class Page:
    """A page in the navigation: ``path`` below its service's ``/ui``."""

    label: str
    service: ServiceName
    path: str
    description: str
    roles: frozenset[Role]
    # The roles whose own work (本职工作) this page is: the start page puts it first.
    own_work_of: frozenset[Role] = frozenset()


START = Page("工作台", "ledger", "/start", "您的工作与可用页面", _ALL)
PAGES = (
    Page(
        "报装申请",
        "intake",
        "/",
        "办理中的用电报装申请，按环节统计",
        frozenset({Role.admin, Role.clerk, Role.supervisor, Role.viewer}),
        own_work_of=frozenset({Role.admin, Role.clerk, Role.supervisor}),
    ),
    Page(
        "任务台账",
        "ledger",
        "/",
        "任务台账事项的进展与完成时限",
        _ALL,
        own_work_of=frozenset({Role.admin, Role.dept_head, Role.viewer, Role.supervisor}),
    ),
    Page(
        "各供电单位对比",
        "intake",
        "/regulator",
        "各供电单位获得电力指标对比、通报排名与 Excel 下载",
        frozenset({Role.admin, Role.supervisor, Role.viewer}),
        own_work_of=frozenset({Role.supervisor, Role.viewer}),
    ),
    Page(
        "停电信息",
        "notify",
        "/",
        "当前的停电计划与故障停电",
        frozenset({Role.admin, Role.dispatcher}),
        own_work_of=frozenset({Role.admin, Role.dispatcher}),
    ),
    Page(
        "供电可靠性",
        "notify",
        "/reliability",
        "户均停电时间对照行动计划目标",
        frozenset({Role.admin, Role.dispatcher}),
    ),
    Page(
        "消息投递",
        "notify",
        "/delivery",
        "消息队列、渠道状态与死信重发",
        frozenset({Role.admin}),
    ),
    Page("消息模板", "notify", "/templates", "各类消息的模板与预览", frozenset({Role.admin})),
    Page(
        "用户管理",
        "ledger",
        "/admin/users",
        "用户、所属单位与启用停用",
        frozenset({Role.admin}),
        own_work_of=frozenset({Role.admin}),
    ),
    Page(
        "台账管理",
        "ledger",
        "/admin/ledgers",
        "台账下载、归档与取消归档",
        frozenset({Role.admin}),
        own_work_of=frozenset({Role.admin}),
    ),
)


def pages_for(role: Role) -> list[Page]:
    """The pages ``role`` may use, its own work first."""
    allowed = [p for p in PAGES if role in p.roles]
    return sorted(allowed, key=lambda p: role not in p.own_work_of)


def ui_base(settings: Settings, service: ServiceName) -> str:
    """Where a browser reaches ``service``'s pages from anywhere."""
    if settings.public_url:
        return f"{settings.public_url.rstrip('/')}/{service}/ui"
    return f"{settings.url_of(service)}/ui"


def own_base(request: Request) -> str:
    """This service's pages, relative to the address the browser used (its root path)."""
    return f"{request.scope.get('root_path', '')}/ui"


def page_url(request: Request, service: ServiceName, path: str) -> str:
    """The URL of ``path`` below ``service``'s ``/ui``, from a page of the requesting service."""
    here: ServiceName = request.app.state.service
    base = own_base(request) if service == here else ui_base(request.app.state.settings, service)
    return f"{base}{path}"


def start_url(request: Request) -> str:
    return page_url(request, START.service, START.path)


def sign_in_url(request: Request) -> str:
    return page_url(request, "ledger", "/login")


def safe_next(request: Request, target: str) -> str | None:
    """``target`` if it is a Huodian page a sign-in may return to, else None (no open
    redirect: a link from elsewhere cannot send a person signing in to another site)."""
    settings: Settings = request.app.state.settings
    bases = [own_base(request)] + [ui_base(settings, s) for s in ("intake", "ledger", "notify")]
    if target.startswith("//") or "\\" in target:
        return None
    return target if any(target == b or target.startswith(f"{b}/") for b in bases) else None
