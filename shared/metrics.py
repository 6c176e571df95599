"""Prometheus metrics at ``/metrics`` (监控指标).

Requests by route, method and status, and their latencies, come from
prometheus-fastapi-instrumentator (a maintained instrumentator: the route template, not the raw
path, is the label, so ``/applications/{number}`` is one series, not one per application). Each
service adds its own figures (queue depth, open stages, outbox lag, …), read from its database at
scrape time: a figure is then the same whichever replica is scraped, and nothing has to be
counted in memory and lost at a restart.

Every app has its own registry, so several apps in one process (the tests) do not collide.
``/metrics`` is for the operator's scraper: nginx does not route it from outside (deploy/).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_fastapi_instrumentator import Instrumentator
from prometheus_fastapi_instrumentator.middleware import PrometheusInstrumentatorMiddleware
from starlette.requests import Request as StarletteRequest


@dataclass(frozen=True)
class Figure:
    """One sample of a service's own metric: ``huodian_<name>{labels} value``."""

    name: str
    help: str
    value: float
    labels: Mapping[str, str] = field(default_factory=dict)
    kind: Literal["gauge", "counter"] = "gauge"


FigureSource = Callable[[FastAPI], Awaitable[list[Figure]]]


class _Figures(Collector):
    """Hands the registry the figures of the scrape in progress, grouped into families."""

    def __init__(self, figures: list[Figure]) -> None:
        self.figures = figures

    def collect(self) -> Iterator[Metric]:
        families: dict[str, GaugeMetricFamily | CounterMetricFamily] = {}
        for figure in self.figures:
            name = f"huodian_{figure.name}"
            family = families.get(name)
            if family is None:
                family_type = CounterMetricFamily if figure.kind == "counter" else GaugeMetricFamily
                family = family_type(name, figure.help, labels=sorted(figure.labels))
                families[name] = family
            family.add_metric([figure.labels[key] for key in sorted(figure.labels)], figure.value)
        yield from families.values()


class _RouteTemplateOnce(PrometheusInstrumentatorMiddleware):
    """The instrumentator's middleware, with each route's template worked out once.

    It finds the template of every request by matching the path against every route of the
    app again (FastAPI's included routers flattened each time): ~0.5 ms of CPU per request
    here. The route that answered is in ``scope["route"]`` (set by FastAPI), and its template
    does not change, so it is kept per route (each router is included once, so a route object
    has one template). A request no route took (a 404) is matched as before.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._templates: dict[int, tuple[str, bool]] = {}

    def _get_handler(self, request: StarletteRequest) -> tuple[str, bool]:
        route = request.scope.get("route")
        if route is None:
            return super()._get_handler(request)
        known = self._templates.get(id(route))
        if known is None:
            known = super()._get_handler(request)
            if known[1]:  # a template, not a raw path: the same for every request it takes
                self._templates[id(route)] = known
        return known


def install_metrics(app: FastAPI, service: str, source: FigureSource | None = None) -> None:
    """Instrument the app's requests and serve ``/metrics`` with the service's figures."""
    registry = CollectorRegistry()
    Instrumentator(
        should_group_status_codes=False,
        excluded_handlers=["/metrics"],
        registry=registry,
    ).instrument(app, metric_namespace="huodian", metric_subsystem=service)
    for entry in app.user_middleware:  # the stack is built at the first request
        # Starlette types ``cls`` as a factory protocol, not as the class it is.
        if entry.cls is PrometheusInstrumentatorMiddleware:  # type: ignore[comparison-overlap]
            entry.cls = _RouteTemplateOnce

    router = APIRouter(tags=["health"])

    @router.get(
        "/metrics",
        summary="Prometheus metrics (监控指标)",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
    )
    async def metrics(request: Request) -> Response:
        # The figures get a registry of their own per scrape: two scrapes at once never mix.
        scrape = CollectorRegistry()
        scrape.register(_Figures(await source(request.app) if source is not None else []))
        body = generate_latest(registry) + generate_latest(scrape)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    app.include_router(router)
