"""/docs and /redoc work offline (离线接口文档): every asset they name is served by the service
itself, at its own root path too (behind nginx each service lives under /intake, /ledger, ...)."""

from __future__ import annotations

import re

import httpx
import pytest

# What the pages load: script and style files, the favicon, and the OpenAPI document.
_REFERENCES = re.compile(r"""(?:src|href)="([^"]+)"|url: ?'([^']+)'|spec-url="([^"]+)\"""")


def _references(html: str) -> list[str]:
    return [next(g for g in match.groups() if g) for match in _REFERENCES.finditer(html)]


@pytest.mark.parametrize("service", ["intake", "ledger", "notify"])
@pytest.mark.parametrize("root", ["", "/intake"])
@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_load_nothing_from_outside(apps, service, root, page):
    # As uvicorn --root-path hands a request on: the prefix in both the path and root_path.
    transport = httpx.ASGITransport(app=apps.app(service), root_path=root)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get(f"{root}{page}")
        assert response.status_code == 200
        html = response.text
        assert "://" not in html, "the page names an outside address"
        found = _references(html)
        assert len(found) >= 3  # the script, the favicon, the OpenAPI document at least
        for url in found:
            assert url.startswith(f"{root}/"), f"{url} is not under the service's root path"
            asset = await client.get(url)
            assert asset.status_code == 200, url
            assert asset.content, url
