"""The UI in a real Chromium (Playwright, Debian's /usr/bin/chromium) against a live server.

The data is made beforehand on the live server's own store and data directory: the fixtures
``settings`` and ``clock`` are overridden here so the seeding app (``monitored``, the outbox)
writes where the live server reads, with a clock starting at the real time. A missing
Chromium fails these tests: CI must have the browser.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from assay_server.alerts.outbox import Outbox
from tests.api.factories import API
from tests.conftest import FakeClock, LiveServer
from tests.monitoring.conftest import Monitored

from ..scenario import (
    BREAKOUT,
    HOSTILE,
    breakout_drift_report,
    fail_every_delivery,
    hostile_alert,
    monitor_and_alert,
)

TIMEOUT_MS = 20_000


@pytest.fixture
def page(chromium: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies) and page; any JavaScript dialog, or anything the
    Content-Security-Policy of our pages refused (an inline style, a script), fails the test."""
    context = chromium.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    dialogs: list[str] = []
    refused: list[str] = []
    tab.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    tab.on(
        "console",
        lambda message: (
            refused.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    yield tab
    context.close()
    assert dialogs == [], f"a page ran script: {dialogs}"
    assert refused == [], f"the Content-Security-Policy refused: {refused}"


def _sign_in(page: Page, live_server: LiveServer, path: str, token: str) -> None:
    page.goto(f"{live_server.url}{path}")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.fill("#token", token)
    page.click("button:has-text('Sign in')")
    expect(page).to_have_url(re.compile(re.escape(f"{live_server.url}{path}") + r"\??$"))


def _api(monitored: Monitored, path: str) -> Any:
    response = monitored.client.get(f"{API}{path}", headers=monitored.headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json


def test_on_call_acknowledges_finds_the_failed_delivery_and_bulk_resolves_the_incident(
    live_server: LiveServer,
    monitored: Monitored,
    receiver: Any,
    outbox: Outbox,
    token_factory: Any,
    page: Page,
):
    scenario = fail_every_delivery(
        monitor_and_alert(monitored, receiver), monitored, receiver, outbox
    )
    alert = scenario.quality_alert

    _sign_in(page, live_server, "/alerts", token_factory("contributor", "on-call"))
    expect(page.locator("#signed-in-as")).to_have_text("on-call")
    [cookie] = page.context.cookies()
    assert (cookie["name"], cookie["httpOnly"], cookie["sameSite"]) == ("session", True, "Lax")
    row = page.locator(f"#alert-{alert['id']}")
    expect(row.locator("td").nth(1)).to_have_text("firing")
    expect(row).to_contain_text(alert["summary"])

    row.locator("form", has_text="Acknowledge").locator("input[name=comment]").fill("on it")
    row.get_by_role("button", name="Acknowledge").click()
    expect(page.locator(".flash-ok")).to_have_text(f"Alert {alert['id']} acknowledged.")
    expect(row.locator("td").nth(1)).to_contain_text("acknowledged by on-call: on it")
    expect(row.get_by_role("button", name="Acknowledge")).to_have_count(0)
    stored = _api(monitored, f"/alerts/{alert['id']}")
    assert (stored["status"], stored["acknowledged_by"]) == ("acknowledged", "on-call")

    page.click("nav >> text=Deliveries")
    for delivery in scenario.deliveries:
        line = page.locator(f"#delivery-{delivery['id']}")
        expect(line.locator(".status").first).to_have_text("failed")
        expect(page.locator(f"#attempts-{delivery['id']} tbody tr")).to_have_count(8)
        background = line.evaluate("row => getComputedStyle(row).backgroundColor")
        assert background == "rgb(255, 240, 240)"  # highlighted
    expect(page.get_by_role("button", name="Redeliver")).to_have_count(0)  # not an admin

    page.click("nav >> text=Alerts")
    page.locator(f"#alert-{alert['id']}").get_by_role(
        "link", name=f"report #{alert['report_id']}"
    ).click()
    expect(page.locator("h2")).to_have_text(f"data quality report #{alert['report_id']}")
    page.click("#evidently-link")
    expect(page).to_have_title(f"churn v1: data_quality report #{alert['report_id']}")

    # the incident is handled: every open alert ticked and resolved with one form
    page.click("nav >> text=Alerts")
    boxes = page.locator("input[type=checkbox][name=ids]")
    ticked = [int(boxes.nth(i).get_attribute("value") or 0) for i in range(boxes.count())]
    assert alert["id"] in ticked and len(ticked) == len(scenario.alerts)
    for i in range(boxes.count()):
        boxes.nth(i).check()
    page.select_option("#bulk-action", "resolve")
    page.fill("form#bulk input[name=comment]", "fixed upstream")
    page.get_by_role("button", name="Apply to ticked").click()
    expect(page.locator(".flash-ok")).to_have_text(
        "Resolved: " + ", ".join(f"#{i}" for i in ticked) + "."
    )
    for alert_id in ticked:
        assert _api(monitored, f"/alerts/{alert_id}")["status"] == "resolved"


def test_hostile_text_never_runs_in_the_browser(
    live_server: LiveServer, monitored: Monitored, clock: FakeClock, token_factory: Any, page: Page
):
    alert = hostile_alert(monitored.client, monitored.headers, clock())
    _sign_in(page, live_server, "/alerts", token_factory("viewer", "auditor"))
    expect(page.locator(f"#alert-{alert['id']} td").nth(5)).to_have_text(HOSTILE)
    expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)  # a viewer
    page.goto(f"{live_server.url}/models/hostile")
    expect(page.locator("#description")).to_contain_text("<script>alert('d')</script>")
    expect(page.locator("img")).to_have_count(0)
    page.goto(f"{live_server.url}/reports/{alert['report_id']}")
    expect(page.locator("#findings td").first).to_have_text(HOSTILE)
    page.click("#account button")
    expect(page).to_have_url(f"{live_server.url}/login")


@pytest.mark.slow
def test_logged_values_that_close_a_script_element_stay_text_in_evidentlys_report(
    live_server: LiveServer, monitored: Monitored, clock: FakeClock, token_factory: Any, page: Page
):
    report_id = breakout_drift_report(monitored.client, monitored.headers, clock())
    _sign_in(page, live_server, f"/reports/{report_id}", token_factory("viewer", "auditor"))
    page.click("#evidently-link")
    expect(page).to_have_title(f"breakout v1: drift report #{report_id}")
    frame = page.frame_locator("#evidently-frame")
    # Evidently's page drew itself (its scripts run, in the sandbox) and shows the value as text
    # built on first opening (seconds), then 4 MB for the browser to draw: a longer wait
    expect(frame.get_by_text("Data Drift Summary")).to_be_visible(timeout=90_000)
    expect(frame.get_by_text(BREAKOUT).first).to_be_visible()
    origin = page.frames[1].evaluate("() => window.origin")
    assert origin == "null", "the report must run in an opaque origin, apart from Assay"
    # the page fixture fails the test if any alert() ran
