"""What the browser tests of the UI share: the screen they use, signing in through the form,
waiting for charts, and the width, axe-core and screenshot checks of a page."""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from tests.conftest import LiveServer

SCREEN = {"width": 1366, "height": 768}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
#: Set to 1 to write the documentation's screenshots into ``docs/screenshots/``; otherwise they
#: are still taken, into a temporary directory, so an ordinary run leaves the checkout alone.
DOCS_SCREENSHOTS_VAR = "ASSAY_DOCS_SCREENSHOTS"
_AXE = Axe()
#: How long the charts of a page may take to draw: expect's default of 5 s was too short for
#: seven charts after parsing plotly.js on a 2-core machine running the suite (CI, anchor 1.24 s)
CHARTS_TIMEOUT_MS = 30_000


def sign_in(page: Page, live_server: LiveServer, path: str, token: str) -> None:
    """Open ``path``, sign in on the form it sends to, and land back on ``path``."""
    page.goto(f"{live_server.url}{path}")
    page.fill("#token", token)
    page.click("button:has-text('Sign in')")
    expect(page).to_have_url(re.compile(re.escape(f"{live_server.url}{path}") + r"(\?.*)?$"))


def charts_drawn(page: Page, count: int | None = None) -> int:
    """Wait until every chart of the page (or ``count`` of them) drew; how many there are."""
    count = page.locator("div.plot").count() if count is None else count
    # a locator, not wait_for_function: that evaluates a string, which the page's CSP refuses
    expect(page.locator("div.plot[data-drawn='true']")).to_have_count(
        count, timeout=CHARTS_TIMEOUT_MS
    )
    assert page.locator("div.plot .main-svg").count() >= count
    return count


def fits_and_is_accessible(page: Page, screenshot: str | None = None) -> None:
    """No sideways scrolling at the test screen's width, no serious or critical axe-core
    violation; with ``screenshot``, the full page saved under ``docs/screenshots/``."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= SCREEN["width"], f"{page.url} scrolls sideways: {width}px"
    serious = [
        (violation["id"], violation["impact"], [node["target"] for node in violation["nodes"]])
        for violation in _AXE.run(page).response["violations"]
        if violation["impact"] in ("serious", "critical")
    ]
    assert serious == [], f"{page.url}: {json.dumps(serious)}"
    if screenshot:
        page.screenshot(path=str(docs_screenshot(screenshot)), full_page=True)


def docs_screenshot(name: str) -> Path:
    """Where the documentation's screenshot ``name`` goes: ``docs/screenshots/`` when
    ``ASSAY_DOCS_SCREENSHOTS=1``, else a temporary directory of this process."""
    if os.environ.get(DOCS_SCREENSHOTS_VAR) == "1":
        folder = SCREENSHOTS
    else:
        folder = Path(tempfile.gettempdir()) / f"assay-screenshots-{os.getpid()}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name
