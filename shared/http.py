"""The service-to-service HTTP client: one ``httpx.AsyncClient`` per process, built in lifespan."""

from __future__ import annotations

from typing import Any

import httpx

from shared.auth import issue_service_token
from shared.clock import SYSTEM_CLOCK, Clock
from shared.errors import UpstreamUnavailable
from shared.logs import REQUEST_ID_HEADER, current_request_id
from shared.settings import ServiceName, Settings


class ServiceClient:
    """Calls another Huodian service with a fresh service token on every request, and the
    current request id (``X-Request-Id``, :mod:`shared.logs`) when there is one."""

    def __init__(
        self,
        settings: Settings,
        caller: ServiceName,
        client: httpx.AsyncClient | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._settings = settings
        self._caller = caller
        self._clock = clock
        self._client = client or httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=3.0))

    async def aclose(self) -> None:
        await self._client.aclose()

    async def request(
        self, target: ServiceName, method: str, path: str, **kwargs: Any
    ) -> httpx.Response:
        """Send a request; network failures and 5xx answers raise :class:`UpstreamUnavailable`."""
        url = f"{self._settings.url_of(target)}{path}"
        token = issue_service_token(self._settings, self._caller, self._clock.now())
        headers = {"Authorization": f"Bearer {token}"}
        request_id = current_request_id()
        if request_id is not None:  # passed on, so the other service's lines carry it too
            headers[REQUEST_ID_HEADER] = request_id
        headers.update(kwargs.pop("headers", {}))
        try:
            response = await self._client.request(method, url, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"{target} could not be reached: {exc!r}") from exc
        if response.status_code >= 500:
            raise UpstreamUnavailable(f"{target} answered {response.status_code} for {path}")
        return response

    async def get_json(self, target: ServiceName, path: str, **kwargs: Any) -> Any:
        response = await self.request(target, "GET", path, **kwargs)
        if response.is_error:
            raise UpstreamUnavailable(
                f"{target} refused GET {path}: {response.status_code} {response.text[:200]}"
            )
        return response.json()
