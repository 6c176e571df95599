"""Fixtures the tests of tests/e2e share: the browser, and a real SMTP server (aiosmtpd)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from playwright.async_api import Browser, async_playwright

from tests.e2e.support import CHROMIUM_ARGS, require_chromium
from tests.notify.sinks import SmtpSink


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Debian's chromium, headless, for one test."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(require_chromium()), args=CHROMIUM_ARGS
        )
        yield launched
        await launched.close()


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpSink]:
    """A real SMTP server on a free port, for the stack of one test module."""
    sink = SmtpSink()
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()
