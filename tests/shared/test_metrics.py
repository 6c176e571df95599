"""/metrics on each service (监控指标): request counts and latencies by route template, and each
service's own figures counted from its database at scrape time."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import client_for


async def scrape(client: httpx.AsyncClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.mark.parametrize("service", ["intake", "ledger", "notify"])
async def test_requests_are_counted_by_route_template(apps, service):
    async with client_for(apps.app(service)) as client:
        before = await scrape(client)
        for _ in range(3):
            assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/no/such/thing")).status_code == 404
        after = await scrape(client)
    name = f"huodian_{service}_http_requests_total"
    ok = {"handler": "/healthz", "method": "GET", "status": "200"}
    assert value(after, name, **ok) - value(before, name, **ok) == 3
    # The scrape itself is not counted, and latencies are a histogram per route.
    assert not any(labels and ("handler", "/metrics") in labels for _, labels in after)
    latency = f"huodian_{service}_http_request_duration_seconds_count"
    assert value(after, latency, handler="/healthz", method="GET") >= 3


async def test_a_templated_route_keeps_its_template_after_the_first_request(apps):
    """The template of a route is worked out once (shared.metrics._RouteTemplateOnce): the
    second and third applications are counted under the same template as the first."""
    async with client_for(apps.intake) as client:
        before = await scrape(client)
        for number in ("GD-1", "GD-2", "GD-3"):
            assert (await client.get(f"/applications/{number}")).status_code == 401
        after = await scrape(client)
    name = "huodian_intake_http_requests_total"
    labels = {"handler": "/applications/{number}", "method": "GET", "status": "401"}
    assert value(after, name, **labels) - value(before, name, **labels) == 3
    assert not any(labels and ("handler", "/applications/GD-2") in labels for _, labels in after)
    stack, kinds = apps.intake.middleware_stack, []
    while stack is not None:
        kinds.append(type(stack).__name__)
        stack = getattr(stack, "app", None)
    assert "_RouteTemplateOnce" in kinds
    assert "PrometheusInstrumentatorMiddleware" not in kinds
