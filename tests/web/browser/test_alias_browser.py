"""Aliases on the model page in a real Chromium against a live server: a contributor sets and
removes an alias with the page's forms, requests a promotion of a governed alias, and an
approver approves it on the version page, after which the model page shows the alias moved;
no horizontal scrolling at 1366×768, no console message, no serious axe-core violation.

As in ``test_version_browser.py``, the data is made beforehand on the live server's store.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.api.factories import API, CHURN_FEATURES, create_model
from tests.conftest import LiveServer
from tests.web.browser_checks import fits_and_is_accessible, sign_in

from ..test_alias_pages import GOVERNING

pytestmark = pytest.mark.slow

MODEL_URL = "/models/churn"


@pytest.fixture
def seeded(client: Any, headers_for: Any) -> None:
    """``churn`` (medium risk) with v1 and v2 by ``dev``, and ``champion`` governed."""
    root = headers_for("admin", "root")
    policy = {"files": [{"filename": "champion.yaml", "content": GOVERNING}]}
    assert client.post(f"{API}/policies", json=policy, headers=root).status_code == 200
    create_model(client, root, "churn", risk_tier="medium")
    dev = headers_for("contributor", "dev")
    body = {"features": CHURN_FEATURES, "target": "churned", "lineage": {"git_commit": "abc1234"}}
    for _ in range(2):
        response = client.post(f"{API}/models/churn/versions", json=body, headers=dev)
        assert response.status_code == 201, response.get_data(as_text=True)


def test_aliases_are_set_removed_and_a_governed_one_promoted_from_the_pages(
    live_server: LiveServer, seeded: None, token_factory: Any, page: Page
) -> None:
    sign_in(page, live_server, MODEL_URL, token_factory("contributor", "carl"))
    setter = page.locator("#set-alias")
    setter.get_by_label("Alias", exact=True).fill("challenger")
    setter.get_by_label("Version").select_option("2")
    setter.get_by_label("Comment on setting the alias").fill("shadow test")
    setter.get_by_role("button", name="Set or move").click()
    expect(page.locator(".flash-ok")).to_have_text("Alias challenger now names v2.")
    row = page.locator("#alias-challenger")
    expect(row).to_contain_text("v2")
    expect(row).to_contain_text("carl")
    page.locator("#alias-history summary").click()
    expect(page.locator("#alias-history")).to_contain_text("shadow test")
    fits_and_is_accessible(page, "model-aliases.png")

    row.get_by_role("button", name="Remove alias challenger").click()
    expect(page.locator(".flash-ok")).to_have_text("Alias challenger removed.")
    expect(page.locator("#alias-challenger")).to_have_count(0)

    promote = page.locator("#promote-champion")
    promote.get_by_label("Version").select_option("1")
    promote.get_by_label("Why champion should move").fill("won the shadow test")
    promote.get_by_role("button", name="Request promotion to champion").click()
    expect(page).to_have_url(re.compile(r"/models/churn/versions/1#promotions$"))
    expect(page.locator(".flash-ok")).to_contain_text("to alias champion is pending approval")
    expect(page.locator("#promotion-requests")).to_contain_text("→ alias champion")

    page.click("#account button")  # sign out
    sign_in(page, live_server, f"{MODEL_URL}/versions/1", token_factory("approver", "alice"))
    page.locator("#promotion-requests").get_by_role("button", name="Approve").click()
    expect(page.locator(".flash-ok")).to_contain_text("churn v1 is now champion.")
    expect(page.locator("#version-aliases")).to_contain_text("champion")
    fits_and_is_accessible(page)

    page.goto(f"{live_server.url}{MODEL_URL}")
    champion = page.locator("#alias-champion")
    expect(champion).to_contain_text("v1")
    expect(champion).to_contain_text("alice")
    expect(champion).to_contain_text("champion-gate")
    fits_and_is_accessible(page)
