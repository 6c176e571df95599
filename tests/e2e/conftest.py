"""Fixtures every browser test of tests/e2e shares."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, async_playwright

from tests.e2e.support import CHROMIUM_ARGS, require_chromium


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Debian's chromium, headless, for one test."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(require_chromium()), args=CHROMIUM_ARGS
        )
        yield launched
        await launched.close()
