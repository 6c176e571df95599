"""The checks every page of every browser test passes: it fits its width (no sideways scroll)
and axe-core finds nothing serious or critical (无障碍检查)."""

from __future__ import annotations

from axe_core_python.async_playwright import Axe
from playwright.async_api import Page

_OVERFLOW = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
# The first elements that stick out on the right: what to fix when a page scrolls sideways.
_WIDE = (
    "[...document.querySelectorAll('body *')]"
    ".filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth)"
    ".map(e => e.tagName + '.' + e.className).slice(0, 5)"
)


async def assert_fits(page: Page, name: str = "") -> None:
    """The page does not scroll sideways at its viewport's width."""
    await page.wait_for_load_state("load")  # the stylesheet applied, on a busy machine too
    overflow = await page.evaluate(_OVERFLOW)
    if overflow > 0:
        wide = await page.evaluate(_WIDE)
        width = page.viewport_size["width"] if page.viewport_size else "?"
        raise AssertionError(
            f"{name or page.url} scrolls sideways by {overflow} px at {width} px: {wide}"
        )


async def serious_violations(page: Page) -> list[str]:
    """What axe-core finds serious or critical on the page."""
    results = await Axe().run(page)
    assert results["passes"], "axe checked nothing"
    return [
        f"{v['id']} ({v['impact']}): {v['help']} {[n['target'] for n in v['nodes']][:3]}"
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]


async def assert_page_ok(page: Page, name: str = "") -> None:
    """Fits its width, and passes axe."""
    await assert_fits(page, name)
    bad = await serious_violations(page)
    assert not bad, f"{name or page.url}: {bad}"
