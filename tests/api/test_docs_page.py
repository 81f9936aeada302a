"""``/api/docs`` in a real Chromium with no way out of the machine: Swagger UI comes from this
server, so the page works offline, under its own Content-Security-Policy."""

from __future__ import annotations

from urllib.parse import urlparse

from playwright.sync_api import Browser, Route, expect

from tests.conftest import LiveServer


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
