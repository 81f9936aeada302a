"""The version page and the approvals inbox in a real Chromium against a live server: the
reference histograms and LIME's weights drawn, an approval from the inbox, the requester's
separation-of-duties refusal; no horizontal scrolling at 1366×768, no console message, no
serious or critical axe-core violation, and a screenshot of each page in
``docs/screenshots/``.

As in ``test_browser.py``, the data is made beforehand on the live server's own store: the
fixtures ``settings`` and ``clock`` are overridden so the seeding app writes where the live
server reads, with a clock at the real time.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.api.factories import API
from tests.conftest import LiveServer
from tests.web.browser_checks import (
    charts_drawn,
    fits_and_is_accessible,
    sign_in,
)

from ..test_version_pages import CHAMPION, MODEL, Seeded, seed

pytestmark = pytest.mark.slow

TIMEOUT_MS = 30_000  # the first explanation starts a worker process
VERSION = f"/models/{MODEL}/versions/1"


@pytest.fixture
def seeded(client: Any, token_for: Any) -> Seeded:
    """``plans`` v1 with a request to staging pending two approvals (rita asked), and an
    earlier request to production that rita withdrew (the inbox's history)."""
    made = seed(client, token_for, required=2)
    earlier = client.post(
        f"{API}/models/{MODEL}/versions/1/promotions",
        json={"stage": "production", "reason": "too early"},
        headers=made.headers("rita"),
    ).json
    cancelled = client.post(
        f"{API}/promotions/{earlier['id']}/cancel",
        json={"comment": "wait for staging"},
        headers=made.headers("rita"),
    )
    assert cancelled.status_code == 200, cancelled.get_data(as_text=True)
    return made


def test_an_approver_reads_the_version_explains_a_prediction_and_approves_from_the_inbox(
    live_server: LiveServer, seeded: Seeded, token_factory: Any, page: Page
):
    sign_in(page, live_server, VERSION, token_factory("approver", "alice"))
    charts_drawn(page, 2)  # a histogram per feature, from the stored profile
    expect(page.locator("#policy-ui-gate")).to_contain_text("pass")
    fits_and_is_accessible(page)

    form = page.locator("form.version-explain")
    form.get_by_label("plan").fill("basic")
    form.get_by_role("button", name="Explain").click()
    expect(page).to_have_url(re.compile(r"explanation=\d+"))
    charts_drawn(page, 3)  # and LIME's weights
    expect(page.locator("#lime-weights tbody tr").first.locator("td").first).to_have_text(
        "plan=basic"
    )
    bars = page.locator("#chart-lime .bars .point")
    assert bars.count() == page.locator("#lime-weights tbody tr").count()
    fits_and_is_accessible(page, "version.png")

    page.goto(f"{live_server.url}/approvals")
    row = page.locator(f"#waiting-{seeded.promotion_id}")
    expect(row).to_contain_text("by rita")
    expect(row).to_contain_text("ui-gate/accuracy: pass")
    expect(page.locator(f"#decided-{seeded.promotion_id + 1}")).to_contain_text("cancelled")
    fits_and_is_accessible(page, "approvals.png")

    row.get_by_label(f"Comment on approving promotion request {seeded.promotion_id}").fill(
        "holdout checked"
    )
    row.get_by_role("button", name="Approve").click()
    expect(page.locator(".flash-ok")).to_have_text(
        f"Promotion request {seeded.promotion_id}: your approval is recorded (1 of 2)."
    )
    expect(page.locator(f"#waiting-{seeded.promotion_id}")).to_have_count(0)
    page.goto(f"{live_server.url}{VERSION}#promotions")
    expect(page.locator(f"#promotion-{seeded.promotion_id}")).to_contain_text(
        "alice approved: “holdout checked”"
    )


def test_the_requester_sees_the_refusal_and_a_viewer_sees_no_buttons(
    live_server: LiveServer, seeded: Seeded, token_factory: Any, page: Page
):
    sign_in(page, live_server, VERSION, token_factory("approver", "rita"))
    page.locator(f"#promotion-{seeded.promotion_id}").get_by_role("button", name="Approve").click()
    expect(page.locator(".flash-error")).to_have_text(
        "Separation of duties: 'rita' requested this promotion and cannot approve it."
    )
    expect(page.locator(f"#promotion-{seeded.promotion_id}")).to_contain_text("pending approval")
    charts_drawn(page, 2)
    fits_and_is_accessible(page)

    page.click("#account button")  # sign out
    sign_in(page, live_server, VERSION, token_factory("viewer", "ann"))
    charts_drawn(page, 2)
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    expect(page.get_by_role("button", name="Explain")).to_have_count(0)
    page.goto(f"{live_server.url}/approvals")
    expect(page.locator("#waiting-title")).to_contain_text("(0)")
    fits_and_is_accessible(page)


def test_a_viewer_judges_the_version_for_a_governed_alias(
    live_server: LiveServer, seeded: Seeded, client: Any, token_factory: Any, page: Page, tmp_path
):
    files = {"files": [{"filename": "champion.yaml", "content": CHAMPION}]}
    applied = client.post(f"{API}/policies", json=files, headers=seeded.headers("root"))
    assert applied.status_code == 200, applied.get_data(as_text=True)
    sign_in(page, live_server, VERSION, token_factory("viewer", "vic"))
    page.get_by_role("link", name="alias champion").click()
    expect(page).to_have_url(re.compile(r"alias=champion"))
    expect(page.locator("#policies")).to_contain_text("Policy evaluation for alias champion")
    expect(page.locator("#policy-ui-champion")).to_contain_text("missing evidence")
    expect(page.get_by_role("link", name="alias champion")).to_have_attribute(
        "aria-current", "page"
    )
    fits_and_is_accessible(page)
    page.locator("#policies").scroll_into_view_if_needed()
    page.screenshot(path=tmp_path / "version-alias.png")
