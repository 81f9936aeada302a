"""The model list and the model page in a real Chromium against a live server: every chart is
drawn (under the pages' Content-Security-Policy), nothing scrolls sideways at 1366×768, no
console message, no serious or critical axe-core violation; screenshots to docs/screenshots/.

The data is made beforehand on the live server's store, with a clock that starts four days
ago, so the model page has a week of runs to draw: drift that grows, alerts, a benchmark, a
stage change and a promotion.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from assay_server.alerts.outbox import Outbox
from tests.api.factories import API, create_model, register_version
from tests.conftest import FakeClock, LiveServer
from tests.monitoring.conftest import Monitored
from tests.web.browser_checks import (
    charts_drawn,
    fits_and_is_accessible,
    sign_in,
)

from ..scenario import monitor_and_alert

pytestmark = pytest.mark.slow

TIMEOUT_MS = 20_000


@pytest.fixture
def clock() -> FakeClock:
    """A hand-moved clock from four days ago: the runs it stamps fall in the page's range."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    return FakeClock(now - timedelta(days=4))


def _post(monitored: Monitored, path: str, body: dict[str, Any]) -> Any:
    response = monitored.client.post(f"{API}{path}", json=body, headers=monitored.headers)
    assert response.status_code in (200, 201), response.get_data(as_text=True)
    return response.json


@pytest.fixture
def seeded(monitored: Monitored, receiver: Any, outbox: Outbox) -> None:
    """``churn`` with seven runs over three days (drift growing), alerts and their deliveries,
    a benchmark, a stage change and a promotion; two quiet models beside it."""
    scenario = monitor_and_alert(monitored, receiver)
    outbox.run_once()
    for step, shift in enumerate((0.0, 1.0, 2.0, 4.0, 6.0, 9.0), start=1):
        monitored.clock.advance(hours=12)
        monitored.log(400, seed=20 + step, shift=shift, prefix=f"later{step}")
        assert monitored.run(scenario.monitor_id)["status"] == "succeeded"
    _post(
        monitored,
        "/models/churn/versions/1/benchmarks",
        {"name": "holdout", "metrics": {"accuracy": 0.76, "roc_auc": 0.81}},
    )
    _post(monitored, "/models/churn/versions/1/stage", {"stage": "staging", "reason": "canary"})
    _post(monitored, "/models/churn/versions/1/promotions", {"stage": "production"})
    client, headers = monitored.client, monitored.headers
    create_model(client, headers, "pricing", risk_tier="high", owner="growth", tags=["retail"])
    metadata = {"features": [{"name": "age", "kind": "numerical"}]}
    assert register_version(client, headers, "pricing", metadata=metadata).status_code == 201
    _post(monitored, "/models/pricing/versions/1/stage", {"stage": "production", "reason": "v1"})
    create_model(client, headers, "calm", owner="ops", tags=["batch"])


def test_the_model_list_shows_the_unhealthy_model_first_and_draws_its_trend(
    live_server: LiveServer, seeded: None, token_factory: Any, page: Page
) -> None:
    sign_in(page, live_server, "/", token_factory("viewer", "auditor"))
    rows = page.locator("#models tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.first).to_have_attribute("data-model", "churn")
    expect(rows.first).to_have_class("unhealthy")
    expect(rows.first.locator("td.checks .chip.status-alert").first).to_be_visible()
    expect(page.locator('tr[data-model="pricing"] td.production')).to_have_text("v1")
    assert charts_drawn(page) == 1  # churn's sparkline; the others have no runs

    page.get_by_label("Risk tier").select_option("high")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#models tbody tr")).to_have_count(1)
    expect(page.locator("#models tbody tr").first).to_have_attribute("data-model", "pricing")
    page.goto(f"{live_server.url}/")
    charts_drawn(page)
    fits_and_is_accessible(page, "models.png")


def test_the_model_page_draws_every_chart_over_time(
    live_server: LiveServer, seeded: None, token_factory: Any, page: Page
) -> None:
    sign_in(page, live_server, "/models/churn", token_factory("viewer", "auditor"))
    expect(page.locator("#over-time-title")).to_have_text("Over the last 30 days")
    assert charts_drawn(page) == 7
    share = page.locator("#chart-drift-share .scatterlayer .trace")
    expect(share).to_have_count(2)  # the share and the alert level
    expect(page.locator("#chart-feature-drift image")).to_have_count(1)  # the heatmap
    # realised accuracy and its benchmark (the scenario does not estimate performance)
    expect(page.locator("#chart-performance .scatterlayer .trace")).to_have_count(2)
    expect(page.locator("#facts-drift-share")).to_contain_text("runs at or over the alert level")
    expect(page.locator("#incidents li").first).to_be_visible()
    expect(page.locator("#stage-history li").first).to_contain_text("staging")
    expect(page.locator("#promotions tbody tr")).to_have_count(2)
    fits_and_is_accessible(page, "model.png")

    page.get_by_role("link", name="7 days").click()
    expect(page.locator("#over-time-title")).to_have_text("Over the last 7 days")
    charts_drawn(page)
    link = page.locator("#versions").get_by_role("link", name="1")
    expect(link).to_have_attribute("href", "/models/churn/versions/1")
