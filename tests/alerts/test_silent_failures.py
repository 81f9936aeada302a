"""Silent failures raise alerts: a dead feed (``no_data``), a failed run (``monitor_failed``);
both resolve when the monitor runs with data again; a monitor with nothing to watch raises
nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from assay_server.alerts.outbox import Outbox
from assay_server.monitoring import evaluate
from assay_server.monitoring.runner import SCHEDULER_ACTOR, MonitorRunner
from assay_server.wiring import wire
from tests.api.factories import API, audit_actions
from tests.monitoring.conftest import Monitored

from .conftest import add_webhook_channel
from .receivers import WebhookReceiver


def _monitor(monitored: Monitored, **body: Any) -> dict[str, Any]:
    body.setdefault("channels", ["ops"])
    return monitored.create_monitor(checks=["data_quality"], window={"hours": 1}, **body)


def _empty_run(monitored: Monitored, monitor_id: int) -> dict[str, Any]:
    monitored.clock.advance(hours=1)
    return monitored.run(monitor_id)


def _alerts(monitored: Monitored, **query: Any) -> list[dict[str, Any]]:
    response = monitored.client.get(f"{API}/alerts", headers=monitored.headers, query_string=query)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json


def test_a_dead_feed_raises_no_data_after_three_runs_and_resolves_when_data_returns(
    monitored: Monitored, webhook: WebhookReceiver, outbox: Outbox
) -> None:
    add_webhook_channel(monitored, webhook)
    monitor = _monitor(monitored, options={"cooldown_minutes": 24 * 60})
    for _ in range(2):
        run = _empty_run(monitored, monitor["id"])
        assert run["statuses"] == {"data_quality": "insufficient_data"}
    assert _alerts(monitored) == []
    _empty_run(monitored, monitor["id"])
    [alert] = _alerts(monitored)
    assert (alert["check"], alert["status"], alert["severity"]) == ("no_data", "firing", "critical")
    assert alert["findings"][0]["metric"] == "runs_without_data"
    assert "0 rows" in alert["summary"]
    _empty_run(monitored, monitor["id"])  # still dead: the same incident
    [alert] = _alerts(monitored)
    assert alert["count"] == 2

    monitored.clock.advance(hours=1)
    monitored.log(300, seed=5)
    monitored.run(monitor["id"])
    [alert] = _alerts(monitored)
    assert (alert["status"], alert["resolved_by"]) == ("resolved", "auto")
    outbox.run_once()
    assert [(e["type"], e["data"]["check"]) for e in webhook.events] == [
        ("alert.firing", "no_data"),
        ("alert.resolved", "no_data"),
    ]
    actions = audit_actions(
        monitored.client, monitored.headers, "alert", f"churn/alerts/{alert['id']}"
    )
    assert actions == ["alert.fired", "alert.resolved"]


def test_too_few_rows_count_as_no_data_and_the_option_sets_how_many_runs(
    monitored: Monitored,
) -> None:
    monitor = _monitor(monitored, channels=[], options={"no_data_after_runs": 1})
    monitored.clock.advance(hours=1)
    monitored.log(20, seed=3)  # below min_rows: every report insufficient_data
    monitored.run(monitor["id"])
    [alert] = _alerts(monitored)
    assert alert["check"] == "no_data" and "20 rows" in alert["summary"]
    bad = monitored.client.post(
        monitored.url("/monitors"),
        json={"checks": ["drift"], "options": {"no_data_after_runs": 0}},
        headers=monitored.headers,
    )
    assert bad.status_code == 422


def test_a_run_with_data_in_between_starts_the_count_again(monitored: Monitored) -> None:
    monitor = _monitor(monitored, channels=[])
    _empty_run(monitored, monitor["id"])
    _empty_run(monitored, monitor["id"])
    monitored.clock.advance(hours=1)
    monitored.log(300, seed=4)
    monitored.run(monitor["id"])
    _empty_run(monitored, monitor["id"])
    _empty_run(monitored, monitor["id"])
    assert _alerts(monitored) == []


def test_a_failed_run_raises_monitor_failed_and_a_good_run_resolves_it(
    monitored: Monitored, webhook: WebhookReceiver, outbox: Outbox, monkeypatch: Any
) -> None:
    add_webhook_channel(monitored, webhook)
    monitor = _monitor(monitored)

    def explode(inputs: Any) -> Any:
        raise RuntimeError("the disk is on fire")

    monkeypatch.setitem(evaluate.CHECK_FUNCTIONS, "data_quality", explode)
    monitored.clock.advance(hours=1)
    monitored.log(300, seed=6)
    run = monitored.run(monitor["id"])
    assert run["status"] == "failed"
    [alert] = _alerts(monitored)
    assert (alert["check"], alert["subject"], alert["severity"]) == (
        "monitor_failed",
        "run",
        "critical",
    )
    assert alert["report_id"] is None and alert["figures"]["run_id"] == run["id"]
    assert "failed on the server" in alert["summary"]
    assert "disk" not in alert["summary"]  # what the exception said stays in the log
    monkeypatch.undo()
    monitored.run(monitor["id"])
    [alert] = _alerts(monitored)
    assert (alert["status"], alert["resolved_by"]) == ("resolved", "auto")
    outbox.run_once()
    firing, resolved = webhook.events
    assert (firing["type"], firing["data"]["check"]) == ("alert.firing", "monitor_failed")
    assert firing["data"]["report_url"] is None and firing["data"]["report_id"] is None
    assert resolved["type"] == "alert.resolved"


def test_a_stuck_scheduled_run_alerts_only_when_its_retry_fails_too(
    monitored: Monitored, db: Any, settings: Any, clock: Any
) -> None:
    monitor = _monitor(monitored, channels=[], schedule={"interval_seconds": 3600})
    runner = MonitorRunner(db, wire().context(SCHEDULER_ACTOR, settings, clock=clock))
    slot = clock() + timedelta(hours=1)
    assert runner.claim(monitor["id"], slot) is not None
    clock.advance(seconds=settings.run_deadline_seconds + 1)
    [retry] = runner.reap()  # attempt 1 failed, attempt 2 claimed: nothing raised yet
    assert _alerts(monitored) == []
    clock.advance(seconds=settings.run_deadline_seconds + 1)
    assert runner.reap()  # the retry got stuck too
    [alert] = _alerts(monitored)
    assert alert["check"] == "monitor_failed" and alert["findings"][0]["attempt"] == 2
    assert "its retry" in alert["summary"] and "deadline" in alert["summary"]
    assert alert["figures"]["run_id"] == retry


def test_a_stage_bound_monitor_with_nothing_in_its_stage_raises_nothing(
    monitored: Monitored,
) -> None:
    monitor = _monitor(monitored, channels=[], stage="production")
    for _ in range(4):
        assert _empty_run(monitored, monitor["id"])["status"] == "skipped"
    assert _alerts(monitored) == []
