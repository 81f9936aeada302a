"""The UI's pages through the Flask test client: what each page shows (checked against the API's
own answers), who may act, that actions go through the services into the audit trail, 404s as
pages, and that hostile text stays text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape

from assay_server.monitoring.html import build_page
from tests.alerts.receivers import SlackReceiver
from tests.api.factories import API
from tests.monitoring.conftest import Monitored

from .forms import FormClient
from .html_tables import cells_by_first, table_rows
from .scenario import HOSTILE, Scenario, hostile_alert


def _number(cell: str) -> float:
    return float(cell.replace(",", "").rstrip("%"))


def _api(client: Any, headers: dict[str, str], path: str, **query: Any) -> Any:
    response = client.get(f"{API}{path}", headers=headers, query_string=query)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json


def _audit(client: Any, headers: dict[str, str], action: str) -> list[dict[str, Any]]:
    return _api(client, headers, "/audit", action=action)["items"]


def _flashes(page: str) -> list[str]:
    start, found = 0, []
    while (at := page.find('class="flash flash-', start)) != -1:
        opened = page.index(">", at) + 1
        found.append(page[opened : page.index("</p>", opened)].strip())
        start = opened
    return found


# signing in and moving around ------------------------------------------------------------


def test_the_icon_is_where_a_browser_looks_unasked_for_any_visitor(app, client):
    # Chromium asks for /favicon.ico on a document that names no icon (the printable
    # compliance report): a 404 there was a console error on that page
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert response.data == (Path(app.static_folder) / "favicon.svg").read_bytes()
    assert response.data.lstrip().startswith(b"<svg")


def test_signing_in_from_a_page_comes_back_to_it(client, token_for):
    client = FormClient(client)
    bounced = client.get("/alerts?status=all")
    assert bounced.status_code == 302
    login = bounced.headers["Location"]
    assert login.startswith("/login?next=")
    response = client.post(login, data={"token": token_for("viewer", "ann")})
    assert response.headers["Location"] == "/alerts?status=all"
    page = client.get("/alerts?status=all").get_data(as_text=True)
    assert 'id="signed-in-as">ann</strong> (viewer)' in page
    for section in ('href="/">Models', 'href="/alerts">Alerts', 'href="/deliveries">Deliveries'):
        assert section in page


@pytest.mark.parametrize(
    "target",
    ["/\\evil.example/", "//evil.example/", "/\t/evil.example", "/\n/x", "https://evil.example"],
)
def test_login_never_redirects_off_site(client, token_for, target):
    response = FormClient(client).post(
        "/login", query_string={"next": target}, data={"token": token_for("viewer")}
    )
    assert response.headers["Location"] == "/"


def test_the_model_list_links_each_model_to_its_page(monitored: Monitored, signed_in):
    page = signed_in("viewer").get("/").get_data(as_text=True)
    assert '<a href="/models/churn">churn</a>' in page


# the model and its reports ---------------------------------------------------------------


def test_the_model_page_shows_versions_monitors_with_their_last_run_and_latest_reports(
    scenario: Scenario, monitored: Monitored, signed_in
):
    page = signed_in("viewer").get("/models/churn").get_data(as_text=True)
    [version] = table_rows(page, "versions")
    assert version.cells == ["1", "none", "2026-11-23 09:00:00 UTC", "root"]
    [monitor] = table_rows(page, "monitors")
    assert monitor.cells == [
        "hourly",
        "drift data quality bias performance",
        "manual runs only",
        "yes",
        "succeeded",
        "2026-11-23 09:00:00 UTC",
    ]
    listed = {row.cells[0]: row.cells for row in table_rows(page, "reports")}
    for report in monitored.reports():
        cells = listed[f"#{report['id']}"]
        assert cells[1:4] == [report["kind"].replace("_", " "), report["status"], "1"]
        assert cells[5] == str(report["rows_used"])
        assert f'href="/reports/{report["id"]}"' in page


def test_a_drift_report_shows_each_column_with_its_method_score_threshold_and_verdict(
    scenario: Scenario, monitored: Monitored, signed_in
):
    report = monitored.report(scenario.reports["drift"])
    page = signed_in("viewer").get(f"/reports/{report['id']}").get_data(as_text=True)
    facts = {row.cells[0]: row.cells[1] for row in table_rows(page, "report-facts", header=True)}
    assert facts["Status"] == "alert"
    assert facts["Model"] == "churn version 1"
    assert facts["Rows"] == "400 of 400 (not sampled)"
    assert facts["Window"] == "2026-11-23 08:00:00 UTC → 2026-11-23 09:00:00 UTC"
    rows = {row.cells[0]: row for row in table_rows(page, "detail-1")}
    assert set(rows) == {column["feature"] for column in report["detail"]["columns"]}
    for column in report["detail"]["columns"]:
        row = rows[column["feature"]]
        _, kind, method, score, threshold, drifted, n_reference, n_current = row.cells
        assert (kind, method) == (column["kind"], column["method"])
        assert _number(score) == pytest.approx(column["score"], rel=1e-3)
        assert _number(threshold) == pytest.approx(column["threshold"])
        assert drifted == ("yes" if column["drifted"] else "no")
        assert ("flagged" in row.classes) == column["drifted"]
        assert (_number(n_reference), _number(n_current)) == (
            column["n_reference"],
            column["n_current"],
        )
    [finding] = table_rows(page, "findings")
    assert finding.cells[:2] == ["dataset", "alert"]
    assert 'href="/reports/{}/evidently">Open Evidently'.format(report["id"]) in page


def test_a_data_quality_report_shows_the_shares_of_each_column(
    scenario: Scenario, monitored: Monitored, signed_in
):
    report = monitored.report(scenario.reports["data_quality"])
    page = signed_in("viewer").get(f"/reports/{report['id']}").get_data(as_text=True)
    rows = {row.cells[0]: row for row in table_rows(page, "detail-1")}
    for column in report["detail"]["columns"]:
        cells = rows[column["feature"]].cells
        assert _number(cells[3]) == pytest.approx(100 * column["missing_share"], abs=0.051)
        assert _number(cells[4]) == pytest.approx(
            100 * column["reference_missing_share"], abs=0.051
        )
    assert "flagged" in rows["age"].classes and _number(rows["age"].cells[3]) > 25
    assert "flagged" not in rows["plan"].classes
    [finding] = table_rows(page, "findings")
    assert finding.cells[:3] == ["age", "alert", "missing share"]


def test_a_bias_report_shows_the_four_disparities_and_the_groups_of_each_feature(
    scenario: Scenario, monitored: Monitored, signed_in
):
    report = monitored.report(scenario.reports["bias"])
    page = signed_in("viewer").get(f"/reports/{report['id']}").get_data(as_text=True)
    [sex] = report["detail"]["features"]
    assert "<h3>sex: disparities</h3>" in page
    disparities = cells_by_first(page, "detail-1")
    for metric in (
        "demographic_parity_difference",
        "demographic_parity_ratio",
        "equalized_odds_difference",
        "equalized_odds_ratio",
    ):
        value = disparities[metric.replace("_", " ")][1]
        assert _number(value) == pytest.approx(sex[metric], rel=1e-3)
    groups = cells_by_first(page, "detail-2")
    assert set(groups) == {group["group"] for group in sex["groups"]} == {"F", "M"}
    for group in sex["groups"]:
        cells = groups[group["group"]]
        assert _number(cells[1]) == group["count"]
        assert _number(cells[3]) == pytest.approx(group["selection_rate"], rel=1e-3)
        assert _number(cells[5]) == pytest.approx(group["tpr"], rel=1e-3)


def test_a_performance_report_shows_the_metrics_beside_the_baseline(
    scenario: Scenario, monitored: Monitored, signed_in
):
    report = monitored.report(scenario.reports["performance"])
    page = signed_in("viewer").get(f"/reports/{report['id']}").get_data(as_text=True)
    metrics = cells_by_first(page, "detail-1")
    accuracy = metrics["accuracy"]
    assert _number(accuracy[1]) == pytest.approx(report["summary"]["metrics"]["accuracy"], 1e-3)
    assert _number(accuracy[2]) == 0.75  # the training metric registered with the version
    assert "Baseline: training metrics." in page
    degradation = cells_by_first(page, "detail-2")
    assert degradation["status"][1] == report["summary"]["degradation"]["status"]
    assert _number(degradation["drop"][1]) == pytest.approx(
        report["summary"]["degradation"]["drop"], rel=1e-3
    )


def test_a_report_without_enough_rows_says_why(monitored: Monitored, signed_in):
    monitor = monitored.create_monitor(checks=["drift"], window={"hours": 1})
    monitored.run(monitor["id"])
    [report] = monitored.reports()
    page = signed_in("viewer").get(f"/reports/{report['id']}").get_data(as_text=True)
    assert "insufficient data" in page
    assert report["summary"]["reason"] in page


def test_the_evidently_link_frames_evidentlys_report_of_the_window_in_a_sandbox(
    scenario: Scenario, signed_in, db, settings
):
    report_id = scenario.reports["drift"]
    build_page(db, settings, report_id)  # what the scheduler does after the run
    viewer = signed_in("viewer")
    page = viewer.get(f"/reports/{report_id}/evidently").get_data(as_text=True)
    assert f"<title>churn v1: drift report #{report_id}</title>" in page
    document_url = f"/reports/{report_id}/evidently/page"
    assert f'sandbox="allow-scripts"\n          src="{document_url}"' in page

    response = viewer.get(document_url)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert f"<title>churn v1: drift report #{report_id}</title>" in response.get_data(True)
    assert response.cache_control.private and not response.cache_control.public
    policy = response.headers["Content-Security-Policy"]
    assert policy.startswith("sandbox allow-scripts;") and "connect-src 'none'" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_api_serves_evidentlys_page_sandboxed_too(
    scenario: Scenario, monitored: Monitored, db, settings
):
    report_id = scenario.reports["drift"]
    build_page(db, settings, report_id)
    response = monitored.client.get(f"{API}/reports/{report_id}/html", headers=monitored.headers)
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"].startswith("sandbox allow-scripts;")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/models/nope", "No model named &#39;nope&#39;."),
        ("/reports/999", "No report 999."),
        ("/reports/999/evidently", "No report 999."),
        ("/reports/999/evidently/page", "No report 999."),
    ],
)
def test_unknown_names_and_ids_are_404_pages(url, message, signed_in):
    response = signed_in("viewer").get(url)
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert message in response.get_data(as_text=True)


# alerts ----------------------------------------------------------------------------------


def test_the_alerts_page_lists_open_alerts_with_their_figures(scenario: Scenario, signed_in):
    page = signed_in("viewer").get("/alerts").get_data(as_text=True)
    rows = {row.id: row.cells for row in table_rows(page, "alerts")}
    assert set(rows) == {f"alert-{alert['id']}" for alert in scenario.alerts}
    alert = scenario.quality_alert
    cells = rows[f"alert-{alert['id']}"]
    assert cells[1:6] == ["firing", "critical", "churn v1", "data quality", "age"]
    assert cells[6].startswith(alert["summary"]) and f"report #{alert['report_id']}" in cells[6]
    assert cells[7:9] == ["1", "2026-11-23 09:00:00 UTC"]


def test_all_alerts_lists_the_open_ones_before_the_resolved(
    scenario: Scenario, monitored: Monitored, signed_in
):
    [first, second] = sorted(alert["id"] for alert in scenario.alerts)
    resolved = monitored.client.post(
        f"{API}/alerts/{second}/resolve", json={"comment": "fixed"}, headers=monitored.headers
    )
    assert resolved.status_code == 200
    browser = signed_in("viewer")
    open_only = table_rows(browser.get("/alerts").get_data(as_text=True), "alerts")
    assert [row.id for row in open_only] == [f"alert-{first}"]
    everything = table_rows(browser.get("/alerts?status=all").get_data(as_text=True), "alerts")
    assert [row.id for row in everything] == [f"alert-{first}", f"alert-{second}"]
    assert everything[1].cells[1].startswith("resolved")


def test_alerts_are_filtered_by_severity(scenario: Scenario, signed_in):
    browser = signed_in("viewer")
    assert "No open alerts of severity warning." in browser.get(
        "/alerts?severity=warning"
    ).get_data(as_text=True)
    critical = browser.get("/alerts?severity=critical").get_data(as_text=True)
    assert len(table_rows(critical, "alerts")) == len(scenario.alerts)
    wrong = browser.get("/alerts?status=everything")
    assert wrong.status_code == 422
    assert "Unknown status" in wrong.get_data(as_text=True)


def test_acknowledging_on_the_page_is_flashed_stored_and_audited(
    scenario: Scenario, monitored: Monitored, signed_in
):
    alert_id = scenario.quality_alert["id"]
    browser = signed_in("contributor", "on-call")
    response = browser.post(
        f"/alerts/{alert_id}/acknowledge",
        data={"comment": "looking at the ingest job", "next": "/alerts?severity=critical"},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/alerts?severity=critical"
    page = browser.get(response.headers["Location"]).get_data(as_text=True)
    assert _flashes(page) == [f"Alert {alert_id} acknowledged."]
    row = next(r for r in table_rows(page, "alerts") if r.id == f"alert-{alert_id}")
    assert row.cells[1] == "acknowledged by on-call: looking at the ingest job"
    assert "Resolve" in row.cells[9] and "Acknowledge" not in row.cells[9]
    assert _flashes(browser.get("/alerts").get_data(as_text=True)) == []  # shown once

    stored = _api(monitored.client, monitored.headers, f"/alerts/{alert_id}")
    assert (stored["status"], stored["acknowledged_by"], stored["acknowledge_comment"]) == (
        "acknowledged",
        "on-call",
        "looking at the ingest job",
    )
    [event] = _audit(monitored.client, monitored.headers, "alert.acknowledged")
    assert event["actor_name"] == "on-call" and event["request_id"]
    assert event["payload"]["alert_id"] == alert_id
    assert _api(monitored.client, monitored.headers, "/audit/verify")["ok"]


def test_resolving_on_the_page_closes_the_alert_and_a_second_try_flashes_why_not(
    scenario: Scenario, monitored: Monitored, signed_in
):
    alert_id = scenario.quality_alert["id"]
    browser = signed_in("contributor", "on-call")
    browser.post(f"/alerts/{alert_id}/resolve", data={"comment": "backfilled"})
    again = browser.post(f"/alerts/{alert_id}/resolve", data={"comment": "twice"})
    assert again.headers["Location"] == "/alerts"
    page = browser.get("/alerts").get_data(as_text=True)
    assert _flashes(page) == [f"Alert {alert_id} resolved.", f"Alert {alert_id} is resolved."]
    assert f'id="alert-{alert_id}"' not in page  # no longer open
    stored = _api(monitored.client, monitored.headers, f"/alerts/{alert_id}")
    assert (stored["status"], stored["resolved_by"], stored["resolve_comment"]) == (
        "resolved",
        "on-call",
        "backfilled",
    )
    assert len(_audit(monitored.client, monitored.headers, "alert.resolved")) == 1


def test_a_viewer_sees_no_actions_and_is_refused_with_a_403_page(
    scenario: Scenario, monitored: Monitored, signed_in
):
    alert_id = scenario.quality_alert["id"]
    browser = signed_in("viewer", "auditor")
    page = browser.get("/alerts").get_data(as_text=True)
    assert "Acknowledge" not in page and "Resolve" not in page
    refused = browser.post(f"/alerts/{alert_id}/acknowledge", data={"comment": "mine"})
    assert refused.status_code == 403
    assert refused.mimetype == "text/html"
    assert "This needs the contributor role" in refused.get_data(as_text=True)
    assert _api(monitored.client, monitored.headers, f"/alerts/{alert_id}")["status"] == "firing"
    assert _audit(monitored.client, monitored.headers, "alert.acknowledged") == []


def test_an_action_on_an_unknown_alert_flashes_the_services_message(signed_in):
    browser = signed_in("contributor")
    response = browser.post("/alerts/9999/acknowledge", data={"comment": ""})
    assert response.headers["Location"] == "/alerts"
    assert _flashes(browser.get("/alerts").get_data(as_text=True)) == ["No alert 9999."]


def test_a_comment_longer_than_the_api_accepts_is_refused_and_nothing_changes(
    scenario: Scenario, monitored: Monitored, signed_in
):
    alert_id = scenario.quality_alert["id"]
    browser = signed_in("contributor")
    browser.post(f"/alerts/{alert_id}/acknowledge", data={"comment": "x" * 5001})
    [message] = _flashes(browser.get("/alerts").get_data(as_text=True))
    assert message == "comment: Longer than maximum length 5000."
    assert _api(monitored.client, monitored.headers, f"/alerts/{alert_id}")["status"] == "firing"


# deliveries ------------------------------------------------------------------------------


def test_the_delivery_log_highlights_failed_deliveries_with_every_attempt(
    failed_deliveries: Scenario, signed_in
):
    page = signed_in("viewer").get("/deliveries").get_data(as_text=True)
    rows = {row.id: row for row in table_rows(page, "deliveries")}
    assert set(rows) == {f"delivery-{d['id']}" for d in failed_deliveries.deliveries}
    for delivery in failed_deliveries.deliveries:
        row = rows[f"delivery-{delivery['id']}"]
        assert "failed" in row.classes
        assert row.cells[1].startswith("failed HTTP 500 from http://127.0.0.1")
        attempts = table_rows(page, f"attempts-{delivery['id']}")
        assert len(attempts) == delivery["attempts"] == len(delivery["attempt_log"]) == 8
        for shown, attempt in zip(attempts, delivery["attempt_log"], strict=True):
            time, code, error, duration = shown.cells
            assert time == attempt["attempted_at"][:19].replace("T", " ") + " UTC"
            assert code == "500" == str(attempt["status_code"])
            assert error == attempt["error"]
            assert duration.endswith(" ms")
    failed_only = signed_in("viewer").get("/deliveries?status=delivered").get_data(True)
    assert "No deliveries that are delivered." in failed_only


@pytest.mark.parametrize("role", ["viewer", "contributor", "approver"])
def test_only_an_admin_sees_the_redeliver_button(failed_deliveries: Scenario, signed_in, role):
    browser = signed_in(role)
    assert "Redeliver" not in browser.get("/deliveries").get_data(as_text=True)
    delivery_id = failed_deliveries.deliveries[0]["id"]
    refused = browser.post(f"/deliveries/{delivery_id}/redeliver")
    assert refused.status_code == 403
    assert "This needs the admin role" in refused.get_data(as_text=True)


def test_an_admin_redelivers_from_the_page_and_it_is_audited(
    failed_deliveries: Scenario, monitored: Monitored, signed_in
):
    delivery_id = failed_deliveries.deliveries[0]["id"]
    browser = signed_in("admin", "ops-lead")
    page = browser.get("/deliveries").get_data(as_text=True)
    assert f'action="/deliveries/{delivery_id}/redeliver"' in page
    response = browser.post(f"/deliveries/{delivery_id}/redeliver", data={"next": "/deliveries"})
    assert response.headers["Location"] == "/deliveries"
    page = browser.get("/deliveries").get_data(as_text=True)
    assert _flashes(page) == [f"Delivery {delivery_id} queued again."]
    stored = _api(monitored.client, monitored.headers, f"/deliveries/{delivery_id}")
    assert stored["status"] == "pending"
    [event] = _audit(monitored.client, monitored.headers, "delivery.redelivered")
    assert event["actor_name"] == "ops-lead"
    again = browser.post(f"/deliveries/{delivery_id}/redeliver")
    assert again.status_code == 302
    assert _flashes(browser.get("/deliveries").get_data(as_text=True)) == [
        f"Delivery {delivery_id} is already queued."
    ]


def test_the_delivery_log_page_never_shows_a_channels_secret_url(
    client, admin_headers, outbox, signed_in
):
    secret_path = "/services/T0PAGEWS/B0PAGEHK/xoxPAGEtoken77"
    with SlackReceiver() as slack:
        url = slack.url.split("/services/")[0] + secret_path
        created = client.post(
            f"{API}/channels",
            json={"name": "chat", "kind": "slack", "url": url},
            headers=admin_headers,
        )
        assert created.status_code == 201, created.get_data(as_text=True)
        slack.fail_next(1, status=404, body=f"no_service: POST {secret_path}".encode())
        client.post(f"{API}/channels/{created.json['id']}/test", headers=admin_headers)
        assert outbox.run_once() == 1
    page = signed_in("viewer").get("/deliveries").get_data(as_text=True)
    [row] = table_rows(page, "deliveries")
    assert "HTTP 404 from http://127.0.0.1" in row.cells[1] and "no_service: POST …" in page
    for piece in ("T0PAGEWS", "B0PAGEHK", "xoxPAGEtoken77"):
        assert piece not in page


# escaping --------------------------------------------------------------------------------


def test_hostile_descriptions_and_subjects_are_shown_as_text(
    client, admin_headers, clock, signed_in
):
    alert = hostile_alert(client, admin_headers, clock())
    browser = signed_in("viewer")
    pages = {
        "model": browser.get("/models/hostile").get_data(as_text=True),
        "alerts": browser.get("/alerts").get_data(as_text=True),
        "report": browser.get(f"/reports/{alert['report_id']}").get_data(as_text=True),
    }
    assert "<script>alert('d')</script>" not in pages["model"]
    assert str(escape("<script>alert('d')</script>")) in pages["model"]
    for name, page in pages.items():
        assert HOSTILE not in page, name
    for name in ("alerts", "report"):
        assert str(escape(HOSTILE)) in pages[name], name
