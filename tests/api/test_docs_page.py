"""``/api/docs`` in a real Chromium with no way out of the machine: Swagger UI comes from this
server, so the page works offline, under its own Content-Security-Policy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Browser, Route, expect, sync_playwright

from tests.conftest import LiveServer

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Headless Chromium; its absence is a failure, never a skip."""
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: install Debian's chromium package"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield browser
        browser.close()


def test_the_docs_page_shows_the_operations_offline(live_server: LiveServer, chromium: Browser):
    context = chromium.new_context()
    elsewhere: list[str] = []

    def offline(route: Route) -> None:
        if urlparse(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    context.route("**/*", offline)
    page = context.new_page()
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else None)
    page.goto(f"{live_server.url}/api/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Assay", timeout=20_000)
    expect(page.get_by_text("/api/v1/models/{name}/versions", exact=True).first).to_be_visible()
    context.close()
    assert elsewhere == []
    assert refused == []
