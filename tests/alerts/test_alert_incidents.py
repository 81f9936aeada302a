"""One incident, not ten alerts: one alert per (monitor, check) carrying all its findings;
new findings update it, a worse one escalates it once; older duplicates are merged; several
alerts are acknowledged or resolved at once."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from assay_server.alerts.models import Alert
from tests.api.factories import API, audit_actions
from tests.monitoring.conftest import Monitored

from .conftest import add_webhook_channel
from .receivers import WebhookReceiver

QUALITY = {"data_quality": {"warning": 0.05, "alert": 0.2}}


def _monitor(
    monitored: Monitored, checks: list[str], channels: tuple[str, ...] = ("ops",), **options: Any
) -> dict[str, Any]:
    return monitored.create_monitor(
        checks=checks,
        window={"hours": 1},
        thresholds=QUALITY,
        channels=list(channels),
        options=options,
    )


def _next_run(monitored: Monitored, monitor_id: int, seed: int, **batch: Any) -> dict[str, Any]:
    """An hour on, a batch of 400 rows (``shift`` moves age and income out of range)."""
    monitored.clock.advance(hours=1)
    monitored.log(400, seed=seed, prefix=f"r{seed}", **batch)
    return monitored.run(monitor_id)


def _alerts(monitored: Monitored, **query: Any) -> list[dict[str, Any]]:
    response = monitored.client.get(f"{API}/alerts", headers=monitored.headers, query_string=query)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json


def test_one_drifted_batch_gives_one_alert_per_check_listing_every_failing_column(
    monitored: Monitored, webhook: WebhookReceiver, outbox: Any
) -> None:
    add_webhook_channel(monitored, webhook)
    monitor = _monitor(monitored, ["drift", "data_quality"])
    run = _next_run(monitored, monitor["id"], seed=1, shift=60.0, missing_age=0.1)
    assert run["statuses"] == {"drift": "alert", "data_quality": "alert"}
    [quality_report] = monitored.reports(kind="data_quality")
    failing_columns = {f["subject"] for f in quality_report["findings"]}
    assert {"age", "income"} <= failing_columns  # several columns fail in this batch

    alerts = {a["check"]: a for a in _alerts(monitored)}
    assert sorted(alerts) == ["data_quality", "drift"]  # one per check, not one per column
    quality = alerts["data_quality"]
    findings = quality["findings"]
    assert {f["subject"] for f in findings} == failing_columns
    assert quality["subject"] == findings[0]["subject"]  # the worst finding's, as before
    assert quality["severity"] == "critical"
    for finding in findings:
        assert {"subject", "status", "severity", "metric", "value", "threshold"} <= set(finding)
    excess = [abs(f["value"] - f["threshold"]) for f in findings if f["status"] == "alert"]
    assert excess == sorted(excess, reverse=True)  # worst first
    assert f"{len(findings)} findings" in quality["summary"]

    outbox.run_once()
    events = {e["data"]["check"]: e for e in webhook.events}
    assert sorted(events) == ["data_quality", "drift"]
    assert [t["subject"] for t in events["data_quality"]["data"]["top"]] == [
        f["subject"] for f in findings
    ]
    # drift has one finding (the dataset): its notification lists the drifted columns
    assert {t["feature"] for t in events["drift"]["data"]["top"]} >= {"age", "income"}
    assert "findings" in events["data_quality"]["data"]["figures"]


def test_a_new_failing_column_joins_the_open_incident(
    monitored: Monitored, webhook: WebhookReceiver, outbox: Any
) -> None:
    add_webhook_channel(monitored, webhook)
    monitor = _monitor(monitored, ["data_quality"], cooldown_minutes=24 * 60)
    _next_run(monitored, monitor["id"], seed=1, missing_age=0.3)
    [first] = _alerts(monitored)
    assert [f["subject"] for f in first["findings"]] == ["age"]
    _next_run(monitored, monitor["id"], seed=2, missing_age=0.3, shift=60.0)
    [alert] = _alerts(monitored)
    assert alert["id"] == first["id"] and alert["count"] == 2
    assert {"age", "income"} <= {f["subject"] for f in alert["findings"]}
    outbox.run_once()
    assert [e["type"] for e in webhook.events] == ["alert.firing"]  # same severity: no noise


def test_a_worse_new_finding_escalates_the_incident_and_notifies_once(
    monitored: Monitored, webhook: WebhookReceiver, outbox: Any
) -> None:
    add_webhook_channel(monitored, webhook)
    monitor = _monitor(monitored, ["data_quality"], cooldown_minutes=24 * 60)
    _next_run(monitored, monitor["id"], seed=1, missing_age=0.1)
    assert [(a["severity"], a["subject"]) for a in _alerts(monitored)] == [("warning", "age")]
    for seed in (2, 3):  # income goes out of range: critical, twice
        _next_run(monitored, monitor["id"], seed=seed, missing_age=0.1, shift=60.0)
    [alert] = _alerts(monitored)
    assert alert["severity"] == "critical" and alert["count"] == 3
    assert alert["findings"][0]["severity"] == "critical"
    outbox.run_once()
    assert [(e["type"], e["data"]["severity"]) for e in webhook.events] == [
        ("alert.firing", "warning"),
        ("alert.escalated", "critical"),
    ]
    target = f"churn/alerts/{alert['id']}"
    actions = audit_actions(monitored.client, monitored.headers, "alert", target)
    assert actions == ["alert.fired", "alert.escalated"]


def test_the_incident_resolves_when_no_finding_fails(
    monitored: Monitored, webhook: WebhookReceiver, outbox: Any
) -> None:
    add_webhook_channel(monitored, webhook)
    monitor = _monitor(monitored, ["data_quality"], resolve_after_ok_runs=2)
    _next_run(monitored, monitor["id"], seed=1, missing_age=0.3, shift=60.0)
    _next_run(monitored, monitor["id"], seed=2, missing_age=0.3)  # income fine, age not
    _next_run(monitored, monitor["id"], seed=3)
    [alert] = _alerts(monitored)
    assert alert["status"] == "firing"
    _next_run(monitored, monitor["id"], seed=4)
    [alert] = _alerts(monitored)
    assert (alert["status"], alert["resolved_by"]) == ("resolved", "auto")


def test_open_alerts_from_before_incidents_are_merged_into_the_oldest(
    monitored: Monitored, db: Any
) -> None:
    monitor = _monitor(monitored, ["data_quality"], channels=())
    _next_run(monitored, monitor["id"], seed=1, missing_age=0.3)
    [oldest] = _alerts(monitored)
    with db.unit_of_work() as session:  # a second open alert of the check, as 0.x raised them
        row = session.get(Alert, oldest["id"])
        session.add(
            Alert(
                **{
                    column.name: getattr(row, column.name)
                    for column in Alert.__table__.columns
                    if column.name not in ("id", "subject")
                },
                subject="income",
            )
        )
    _next_run(monitored, monitor["id"], seed=2, missing_age=0.3)
    alerts = _alerts(monitored)
    merged = next(a for a in alerts if a["id"] != oldest["id"])
    incident = next(a for a in alerts if a["id"] == oldest["id"])
    assert (incident["status"], incident["count"]) == ("firing", 2)
    assert (merged["status"], merged["resolved_by"]) == ("resolved", "auto")
    assert f"Merged into alert {oldest['id']}" in merged["resolve_comment"]
    actions = audit_actions(
        monitored.client, monitored.headers, "alert", f"churn/alerts/{merged['id']}"
    )
    assert actions == ["alert.resolved"]
    with db.unit_of_work(write=False) as session:
        open_ones = session.scalars(select(Alert.id).where(Alert.status != "resolved")).all()
    assert open_ones == [oldest["id"]]


def _bulk(monitored: Monitored, body: dict[str, Any], headers: Any = None) -> Any:
    return monitored.client.post(
        f"{API}/alerts/bulk", json=body, headers=headers or monitored.headers
    )


def test_bulk_acknowledge_and_resolve_report_each_alert(
    monitored: Monitored, contributor_headers: dict[str, str]
) -> None:
    quality = _monitor(monitored, ["data_quality"], channels=())
    second = monitored.create_monitor(
        name="second", checks=["data_quality"], window={"hours": 1}, thresholds=QUALITY
    )
    monitored.clock.advance(hours=1)
    monitored.log(400, seed=1, missing_age=0.3)
    monitored.run(quality["id"])
    monitored.run(second["id"])
    first_id, second_id = sorted(a["id"] for a in _alerts(monitored))
    done = _bulk(monitored, {"ids": [first_id], "action": "resolve"}, headers=contributor_headers)
    assert done.status_code == 200 and done.json["changed"] == 1

    answer = _bulk(
        monitored,
        {
            "ids": [second_id, first_id, 999_999, second_id],
            "action": "acknowledge",
            "comment": "on it",
        },
        headers=contributor_headers,
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert (answer.json["changed"], answer.json["refused"]) == (1, 2)
    results = answer.json["results"]
    assert [(r["id"], r["ok"]) for r in results] == [
        (second_id, True),
        (first_id, False),
        (999_999, False),
    ]
    assert results[0]["alert"]["status"] == "acknowledged"
    assert results[0]["alert"]["acknowledge_comment"] == "on it"
    assert results[1]["error"]["code"] == "conflict" and results[1]["alert"] is None
    assert results[2]["error"]["code"] == "not_found"
    actions = audit_actions(
        monitored.client, monitored.headers, "alert", f"churn/alerts/{second_id}"
    )
    assert actions == ["alert.fired", "alert.acknowledged"]
    actions = audit_actions(
        monitored.client, monitored.headers, "alert", f"churn/alerts/{first_id}"
    )
    assert actions == ["alert.fired", "alert.resolved"]


def test_bulk_requests_are_validated_and_need_a_contributor(
    monitored: Monitored, headers_for: Any
) -> None:
    viewer_headers = headers_for("viewer")
    for body in (
        {"ids": [1], "action": "silence"},
        {"ids": [], "action": "resolve"},
        {"ids": [0], "action": "resolve"},
        {"action": "resolve"},
        {"ids": list(range(1, 502)), "action": "resolve"},
    ):
        assert _bulk(monitored, body).status_code == 422, body
    assert _bulk(monitored, {"ids": [1], "action": "resolve"}, viewer_headers).status_code == 403
