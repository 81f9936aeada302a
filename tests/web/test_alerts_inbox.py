"""The alerts inbox: one row per incident, filters by status, severity, model and kind, the
single and bulk actions (acknowledge, resolve, silence) through the services into the audit
trail, and each incident's delivery log behind a <details>."""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.api.factories import API
from tests.monitoring.conftest import Monitored

from .html_tables import table_rows
from .scenario import Scenario


def _api(monitored: Monitored, path: str, **query: Any) -> Any:
    response = monitored.client.get(f"{API}{path}", headers=monitored.headers, query_string=query)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json


def _audited(monitored: Monitored, action: str) -> list[int]:
    items = _api(monitored, "/audit", action=action)["items"]
    return sorted(event["payload"]["alert_id"] for event in items)


def _rows(browser: Any, query: str = "") -> list[str]:
    page = browser.get(f"/alerts{query}").get_data(as_text=True)
    if 'id="alerts"' not in page:
        return []
    return [row.id for row in table_rows(page, "alerts")]


def _flashes(page: str) -> list[str]:
    return [
        " ".join(html.unescape(text).split())
        for text in re.findall(r'class="flash flash-\w+"[^>]*>(.*?)</p>', page)
    ]


def _when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def test_each_filter_narrows_the_incidents(scenario: Scenario, signed_in):
    browser = signed_in("viewer")
    quality, drift = (
        scenario.quality_alert,
        next(a for a in scenario.alerts if a["check"] == "drift"),
    )
    everything = {f"alert-{alert['id']}" for alert in scenario.alerts}
    assert set(_rows(browser)) == everything
    assert _rows(browser, "?kind=data_quality") == [f"alert-{quality['id']}"]
    assert _rows(browser, "?kind=drift") == [f"alert-{drift['id']}"]
    assert set(_rows(browser, "?model=churn&status=firing")) == everything
    assert _rows(browser, "?status=acknowledged") == []
    assert _rows(browser, "?kind=bias") == []
    assert "No open alerts from bias." in browser.get("/alerts?kind=bias").get_data(as_text=True)
    for wrong in ("?model=nobody", "?kind=weather", "?status=everything"):
        assert browser.get(f"/alerts{wrong}").status_code == 422


def test_a_viewer_gets_no_checkboxes_no_bulk_form_and_a_403_for_a_bulk_post(
    scenario: Scenario, monitored: Monitored, signed_in
):
    browser = signed_in("viewer")
    page = browser.get("/alerts").get_data(as_text=True)
    assert 'type="checkbox"' not in page and 'id="bulk"' not in page
    ids = [str(alert["id"]) for alert in scenario.alerts]
    refused = browser.post("/alerts/bulk", data={"action": "resolve", "ids": ids})
    assert refused.status_code == 403
    assert _audited(monitored, "alert.resolved") == []


def test_bulk_resolve_changes_every_ticked_alert_and_flashes_the_one_it_could_not(
    scenario: Scenario, monitored: Monitored, signed_in
):
    browser = signed_in("contributor", "on-call")
    page = browser.get("/alerts").get_data(as_text=True)
    for alert in scenario.alerts:  # each open incident can be ticked into the one bulk form
        assert f'name="ids" value="{alert["id"]}" form="bulk"' in page
    first, second = sorted(alert["id"] for alert in scenario.alerts)
    browser.post(f"/alerts/{first}/resolve", data={"comment": "done already"})
    browser.get("/alerts")  # the single change's flash is read
    response = browser.post(
        "/alerts/bulk",
        data={"action": "resolve", "ids": [str(first), str(second)], "comment": "backfill fixed"},
    )
    assert response.status_code == 302 and response.headers["Location"] == "/alerts"
    page = browser.get("/alerts?status=all").get_data(as_text=True)
    assert _flashes(page) == [f"Resolved: #{second}.", f"Alert {first}: Alert {first} is resolved."]
    stored = _api(monitored, f"/alerts/{second}")
    assert (stored["status"], stored["resolved_by"], stored["resolve_comment"]) == (
        "resolved",
        "on-call",
        "backfill fixed",
    )
    assert _audited(monitored, "alert.resolved") == [first, second]
    assert _rows(browser) == []
    resolved = browser.get("/alerts?status=resolved").get_data(as_text=True)
    assert len(table_rows(resolved, "alerts")) == 2 and 'id="bulk"' not in resolved


def test_bulk_acknowledge_and_bulk_silence_go_through_the_services(
    scenario: Scenario, monitored: Monitored, signed_in
):
    browser = signed_in("contributor", "on-call")
    ids = sorted(str(alert["id"]) for alert in scenario.alerts)
    browser.post("/alerts/bulk", data={"action": "acknowledge", "ids": ids, "comment": "mine"})
    assert _audited(monitored, "alert.acknowledged") == [int(i) for i in ids]
    browser.post("/alerts/bulk", data={"action": "silence", "ids": ids, "hours": "4"})
    expected = monitored.clock() + timedelta(hours=4)
    for alert_id in ids:
        stored = _api(monitored, f"/alerts/{alert_id}")
        assert stored["status"] == "silenced"
        assert _when(stored["silenced_until"]) == expected
    assert _audited(monitored, "alert.silenced") == [int(i) for i in ids]
    page = browser.get("/alerts?status=silenced").get_data(as_text=True)
    assert [row.id for row in table_rows(page, "alerts")] == [f"alert-{i}" for i in reversed(ids)]
    assert "until " in table_rows(page, "alerts")[0].cells[1]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"action": "resolve"}, "Tick at least one alert."),
        ({"action": "explode", "ids": ["1"]}, "Unknown action 'explode'"),
        ({"action": "silence", "ids": ["1"], "hours": "9999"}, "Unknown hours '9999'"),
        ({"action": "resolve", "ids": ["1"], "comment": "x" * 5001}, "comment: Longer than"),
    ],
)
def test_a_bulk_form_that_cannot_apply_changes_nothing_and_says_why(
    scenario: Scenario, monitored: Monitored, signed_in, data: dict[str, Any], message: str
):
    browser = signed_in("contributor")
    browser.post("/alerts/bulk", data=data)
    [flashed] = _flashes(browser.get("/alerts").get_data(as_text=True))
    assert flashed.startswith(message)
    assert {a["status"] for a in _api(monitored, "/alerts", status="open")} == {"firing"}


def test_silencing_one_alert_from_its_row(scenario: Scenario, monitored: Monitored, signed_in):
    alert_id = scenario.quality_alert["id"]
    browser = signed_in("contributor", "on-call")
    response = browser.post(
        f"/alerts/{alert_id}/silence", data={"hours": "24", "comment": "maintenance window"}
    )
    assert response.headers["Location"] == "/alerts"
    page = browser.get("/alerts").get_data(as_text=True)
    assert _flashes(page) == [f"Alert {alert_id} silenced."]
    row = next(r for r in table_rows(page, "alerts") if r.id == f"alert-{alert_id}")
    assert row.cells[1].startswith("silenced until ") and row.cells[1].endswith("by on-call")
    stored = _api(monitored, f"/alerts/{alert_id}")
    assert _when(stored["silenced_until"]) == monitored.clock() + timedelta(hours=24)
    assert _audited(monitored, "alert.silenced") == [alert_id]


def test_each_incident_carries_its_delivery_log_and_links_to_it(
    failed_deliveries: Scenario, monitored: Monitored, signed_in
):
    browser = signed_in("viewer")
    page = browser.get("/alerts").get_data(as_text=True)
    for alert in failed_deliveries.alerts:
        mine = [d for d in failed_deliveries.deliveries if d["alert_id"] == alert["id"]]
        assert mine
        start = page.index(f'<details class="delivery-log" id="deliveries-{alert["id"]}">')
        log = page[start : page.index("</details>", start)]
        assert f"Deliveries ({len(mine)}, {len(mine)} failed)" in log
        for delivery in mine:
            assert f"#delivery-{delivery['id']}" in log
            assert f"after {delivery['attempts']} attempts" in log
        only = browser.get(f"/deliveries?alert={alert['id']}").get_data(as_text=True)
        listed = [row.id for row in table_rows(only, "deliveries")]
        assert listed == [f"delivery-{d['id']}" for d in sorted(mine, key=lambda d: -d["id"])]
