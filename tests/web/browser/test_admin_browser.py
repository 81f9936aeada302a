"""The audit log, policy and admin pages in a real Chromium against a live server: each page's
content, no horizontal scrolling at 1366×768, no console message, no serious or critical
axe-core violation, and a screenshot of each in ``docs/screenshots/``.

As in ``test_browser.py``, the data is made beforehand on the live server's own store: the
fixtures ``settings`` and ``clock`` are overridden so the seeding app writes where the live
server reads, with a clock at the real time.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from assay.auditchain import verify_export_lines
from tests.api.factories import API, CHURN_FEATURES
from tests.conftest import LiveServer
from tests.web.browser_checks import (
    fits_and_is_accessible,
    sign_in,
)

from ..test_policy_pages import GATE_V1, GATE_V2

pytestmark = pytest.mark.slow

TIMEOUT_MS = 20_000


def _post(client: Any, path: str, headers: dict[str, str], body: Any) -> Any:
    response = client.post(f"{API}{path}", json=body, headers=headers)
    assert response.status_code in (200, 201), response.get_data(as_text=True)
    return response.json


@pytest.fixture
def seeded(client: Any, headers_for: Any) -> None:
    """A policy in two versions that judged two requests, a model, and a second policy."""
    admin, dev = headers_for("admin", "root"), headers_for("contributor", "dev")
    files = [{"filename": "gate.yaml", "content": GATE_V1}]
    _post(client, "/policies", admin, {"files": files})
    _post(client, "/models", admin, {"name": "churn", "task": "binary_classification"})
    for _ in range(2):
        body = {"features": CHURN_FEATURES, "target": "churned"}
        _post(client, "/models/churn/versions", dev, body)
    _post(client, "/models/churn/versions/1/promotions", dev, {"stage": "production"})
    files = [{"filename": "gate.yaml", "content": GATE_V2}]
    _post(client, "/policies", admin, {"files": files})
    _post(client, "/models/churn/versions/2/promotions", dev, {"stage": "production"})


def test_an_admin_issues_and_revokes_a_token_and_runs_the_channels(
    live_server: LiveServer, seeded: None, token_factory: Any, page: Page
):
    sign_in(page, live_server, "/admin/tokens", token_factory("admin", "root"))
    form = page.locator("#create-token")
    form.get_by_label("Name").fill("ci-pipeline")
    form.get_by_label("Role").select_option("contributor")
    form.get_by_role("button", name="Create token").click()
    secret = page.locator("#shown-secret").input_value()
    assert secret.startswith("asy_")
    fits_and_is_accessible(page)
    page.goto(f"{live_server.url}/admin/tokens")
    expect(page.locator("#shown-secret")).to_have_count(0)
    assert secret not in page.content()
    row = page.locator("#tokens tr", has_text="ci-pipeline")
    expect(row).to_contain_text(f"{secret[:8]}…{secret[-4:]}")
    row.get_by_role("button", name=re.compile("^Revoke token")).click()
    expect(page.locator(".flash-ok")).to_have_text("Token 'ci-pipeline' revoked.")
    expect(page.locator("#tokens tr", has_text="ci-pipeline")).to_contain_text("revoked by root")

    page.click("text=Channels")
    form = page.locator("#create-channel")
    form.get_by_label("Name").fill("ops-webhook")
    form.get_by_label("URL (webhook, Slack)").fill("http://127.0.0.1:9/assay-hook")
    form.get_by_label("Events").fill("alert.*, promotion.*")
    form.get_by_role("button", name="Create channel").click()
    first = page.locator("#shown-secret").input_value()
    assert first.startswith("whsec_")
    page.get_by_role("button", name="Test channel ops-webhook").click()
    expect(page.locator(".flash-ok")).to_contain_text("Test queued as delivery #")
    page.get_by_role("button", name="Rotate the secret of channel ops-webhook").click()
    second = page.locator("#shown-secret").input_value()
    assert second.startswith("whsec_") and second != first
    page.goto(f"{live_server.url}/admin/channels")
    defaults = page.locator("#defaults-churn")
    defaults.get_by_label("ops-webhook").check()
    defaults.get_by_role("button", name="Save the default channels of churn").click()
    expect(page.locator(".flash-ok")).to_have_text("Default channels of 'churn': ops-webhook.")
    expect(page.locator("#defaults-churn").get_by_label("ops-webhook")).to_be_checked()
    fits_and_is_accessible(page, "admin.png")


def test_an_auditor_reads_filters_and_exports_the_trail(
    live_server: LiveServer, seeded: None, token_factory: Any, page: Page, tmp_path: Path
):
    sign_in(page, live_server, "/audit", token_factory("viewer", "auditor"))
    expect(page.locator("#chain-status")).to_contain_text("Chain intact")
    expect(page.locator("#audit-events tbody tr").first).to_be_visible()
    fits_and_is_accessible(page)
    form = page.locator("#audit-filters")
    form.get_by_label("Action").select_option("policy.applied")
    form.get_by_role("button", name="Filter").click()
    rows = page.locator("#audit-events tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("policy gate")
    expect(rows.first).to_contain_text("version 2")

    with page.expect_download() as download:
        page.click("#audit-export")
    saved = tmp_path / "trail.jsonl"
    download.value.save_as(saved)
    verified = verify_export_lines(saved.read_bytes().splitlines())
    assert verified.ok, verified.message
    page.goto(f"{live_server.url}/audit")
    expect(page.locator("#chain-status")).to_contain_text("last signed checkpoint at event")
    fits_and_is_accessible(page, "audit.png")

    # a viewer is refused the admin pages (asked without navigating: a 403 is a console error)
    refused = page.request.get(f"{live_server.url}/admin/tokens")
    assert refused.status == 403 and "needs the admin role" in refused.text()


def test_a_policys_yaml_versions_diff_and_judged_requests(
    live_server: LiveServer, seeded: None, token_factory: Any, page: Page
):
    sign_in(page, live_server, "/policies", token_factory("viewer", "auditor"))
    expect(page.locator("#policy-gate")).to_contain_text("v2")
    fits_and_is_accessible(page)
    page.click("#policy-gate a")
    expect(page.locator("#policy-source .y-key").first).to_have_text("name")
    expect(page.locator("#policy-diff tr.diff-added")).to_have_count(2)
    expect(page.locator("#policy-diff tr.diff-removed")).to_have_count(2)
    expect(page.locator("#judged tbody tr")).to_have_count(2)
    colour = page.locator("#policy-diff tr.diff-added").first.evaluate(
        "row => getComputedStyle(row).backgroundColor"
    )
    assert colour == "rgb(227, 247, 232)"  # the stylesheet's, not blocked
    fits_and_is_accessible(page, "policies.png")
    page.click("#policy-versions >> text=v1")
    expect(page.locator("h2")).to_contain_text("(in force: v2)")
