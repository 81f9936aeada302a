"""Phased rollouts: a candidate goes 10% → 50% → 100% as each step's gate passes (the
scheduler's clock moved by hand, the comparison faked through its seam), a critical drift
incident on the candidate halts and rolls it back, every change reaches a webhook."""

from __future__ import annotations

from typing import Any

from assay_server.checks.comparison import Verdict
from assay_server.scheduler import MonitorScheduler
from tests.alerts.conftest import add_webhook_channel
from tests.alerts.receivers import WebhookReceiver
from tests.api.factories import API, audit_events
from tests.monitoring.conftest import Monitored

from .release import (
    ALICE,
    BOB,
    FakeComparison,
    checks_of,
    plan,
    prepare_release,
    split_of,
    start,
    status_of,
)


def _subscribe(monitored: Monitored, receiver: WebhookReceiver) -> None:
    channel = add_webhook_channel(monitored, receiver, name="releases")
    response = monitored.client.patch(
        f"{API}/channels/{channel}", json={"events": ["rollout.*"]}, headers=monitored.headers
    )
    assert response.status_code == 200, response.get_data(as_text=True)


def _stage_of(monitored: Monitored, version: int) -> str:
    response = monitored.client.get(
        f"{API}/models/churn/versions/{version}", headers=monitored.headers
    )
    return str(response.json["stage"])


def test_a_rollout_advances_10_50_100_as_each_step_gate_passes_and_every_step_is_delivered(
    monitored: Monitored,
    api: Any,
    comparison: FakeComparison,
    db: Any,
    settings: Any,
    clock: Any,
    outbox: Any,
    webhook: WebhookReceiver,
) -> None:
    _subscribe(monitored, webhook)
    promotion = prepare_release(monitored, api)
    assert promotion["status"] == "approved" and promotion["rollout"] is True
    assert _stage_of(monitored, 2) == "none"  # the approval waits for the rollout
    assert split_of(api) == {"1": 1.0}

    started = start(api, plan(promotion["id"]))
    assert started.status_code == 201, started.json
    rollout = started.json
    assert (rollout["status"], rollout["percent"], rollout["step"]) == ("running", 10.0, 0)
    assert (rollout["candidate_version"], rollout["baseline_version"]) == (2, 1)
    assert split_of(api) == {"1": 0.9, "2": 0.1}

    scheduler = MonitorScheduler(db, settings, clock=clock)
    assert scheduler.advance_rollouts() == 0
    assert checks_of(status_of(api, rollout["id"])) == {
        "duration": False,
        "predictions": False,
        "comparison": True,
        "incidents": True,
    }
    clock.advance(minutes=61)
    assert scheduler.advance_rollouts() == 0  # an hour, but no predictions served yet
    monitored.log(150, version=2, prefix="step1")
    assert scheduler.advance_rollouts() == 1
    assert split_of(api) == {"1": 0.5, "2": 0.5}
    assert scheduler.advance_rollouts() == 0  # the new step's minimums count from now

    clock.advance(minutes=61)
    monitored.log(150, version=2, prefix="step2", seed=3)
    assert scheduler.advance_rollouts() == 1
    done = status_of(api, rollout["id"])
    assert done["gate"] is None
    assert (done["rollout"]["status"], done["rollout"]["percent"]) == ("completed", 100.0)
    assert split_of(api) == {"2": 1.0}
    assert (_stage_of(monitored, 2), _stage_of(monitored, 1)) == ("production", "archived")

    history = done["rollout"]["history"]
    assert [e["kind"] for e in history] == ["started", "advanced", "completed"]
    assert [(e["from_percent"], e["to_percent"]) for e in history] == [
        (0.0, 10.0),
        (10.0, 50.0),
        (50.0, 100.0),
    ]
    assert history[1]["gate"]["passed"] and history[1]["created_by"] == "scheduler"
    served = next(c for c in history[2]["gate"]["checks"] if c["name"] == "predictions")
    assert served["observed"] == 150
    # the comparison was asked of v1 against v2 over each step
    assert {call[:3] for call in comparison.calls} == {("churn", 1, 2)}

    actions = [
        e["action"]
        for e in audit_events(api.client, api.as_("root", "admin"), "rollout", str(rollout["id"]))
    ]
    assert actions == ["rollout.started", "rollout.advanced", "rollout.completed"]
    outbox.run_once()
    assert all(verified for _headers, _body, verified in webhook.received), webhook.rejections
    delivered = [(e["type"], e["data"]["figures"]["percent"]) for e in webhook.events]
    assert delivered == [
        ("rollout.started", 10.0),
        ("rollout.advanced", 50.0),
        ("rollout.completed", 100.0),
    ]
    assert "rollout" in webhook.events[0]["data"]["summary"]


def test_a_worse_challenger_holds_its_step_and_insufficient_data_does_not(
    monitored: Monitored, api: Any, comparison: FakeComparison, db: Any, settings: Any, clock: Any
) -> None:
    promotion = prepare_release(monitored, api)
    rollout = start(api, plan(promotion["id"], steps=(25, 100), min_predictions=10)).json
    clock.advance(minutes=61)
    monitored.log(50, version=2, prefix="w")
    comparison.verdict = Verdict.CHALLENGER_WORSE
    scheduler = MonitorScheduler(db, settings, clock=clock)
    assert scheduler.advance_rollouts() == 0
    gate = status_of(api, rollout["id"])["gate"]
    [compared] = [c for c in gate["checks"] if c["name"] == "comparison"]
    assert (compared["passed"], compared["observed"]) == (False, "challenger_worse")
    assert split_of(api) == {"1": 0.75, "2": 0.25}

    comparison.verdict = Verdict.INSUFFICIENT_DATA
    advanced = api.post(f"/rollouts/{rollout['id']}/advance", ("ci", "contributor"))
    assert advanced.status_code == 200, advanced.json
    assert advanced.json["advanced"] is True
    assert advanced.json["rollout"]["status"] == "completed"


def test_a_critical_drift_incident_on_the_candidate_halts_and_rolls_back_the_rollout(
    monitored: Monitored,
    api: Any,
    comparison: FakeComparison,
    outbox: Any,
    webhook: WebhookReceiver,
) -> None:
    _subscribe(monitored, webhook)
    promotion = prepare_release(monitored, api)
    rollout = start(api, plan(promotion["id"])).json
    monitor = monitored.create_monitor(checks=["drift"], window={"hours": 1}, version=2)
    monitored.clock.advance(hours=1)
    monitored.log(400, version=2, shift=60.0, prefix="drifted")
    run = monitored.run(monitor["id"])
    assert run["statuses"] == {"drift": "alert"}
    [alert] = monitored.client.get(f"{API}/alerts", headers=monitored.headers).json
    assert (alert["severity"], alert["version"]) == ("critical", 2)

    halted = status_of(api, rollout["id"])["rollout"]
    assert (halted["status"], halted["percent"]) == ("rolled_back", 0.0)
    assert f"critical alert {alert['id']}" in halted["halted_reason"]
    assert [e["kind"] for e in halted["history"]] == ["started", "halted", "rolled_back"]
    assert split_of(api) == {"1": 1.0}
    assert _stage_of(monitored, 2) == "none" and _stage_of(monitored, 1) == "production"

    outbox.run_once()
    delivered = [e["type"] for e in webhook.events]
    assert delivered == ["rollout.started", "rollout.halted", "rollout.rolled_back"]
    halted_event = webhook.events[1]["data"]
    assert halted_event["figures"]["alert_id"] == alert["id"]
    assert halted_event["figures"]["from_percent"] == 10.0


def test_a_warning_alert_does_not_halt_and_a_halt_without_rollback_keeps_the_split(
    monitored: Monitored,
    api: Any,
    comparison: FakeComparison,
    outbox: Any,
    webhook: WebhookReceiver,
) -> None:
    _subscribe(monitored, webhook)
    promotion = prepare_release(monitored, api)
    rollout = start(api, plan(promotion["id"], rollback_on_halt=False)).json
    url = f"/rollouts/{rollout['id']}"
    assert api.post(f"{url}/halt", ("ci", "contributor"), {"reason": "x"}).status_code == 403
    assert api.post(f"{url}/halt", ALICE, {"reason": "  "}).status_code == 422
    halted = api.post(f"{url}/halt", BOB, {"reason": "latency spike"})
    assert halted.status_code == 200, halted.json
    assert (halted.json["status"], halted.json["percent"]) == ("halted", 10.0)
    assert split_of(api) == {"1": 0.9, "2": 0.1}  # halted where it was
    assert api.post(f"{url}/advance", ("ci", "contributor")).status_code == 409
    assert api.post(f"{url}/halt", BOB, {"reason": "again"}).status_code == 409

    resumed = api.post(f"{url}/resume", BOB, {"reason": "latency fixed"})
    assert resumed.status_code == 200 and resumed.json["status"] == "running"
    rolled = api.post(f"{url}/rollback", ALICE, {"reason": "changed our mind"})
    assert rolled.status_code == 200 and rolled.json["status"] == "rolled_back"
    assert split_of(api) == {"1": 1.0}
    assert api.post(f"{url}/resume", BOB, {"reason": "no"}).status_code == 409

    outbox.run_once()
    assert [e["type"] for e in webhook.events] == [
        "rollout.started",
        "rollout.halted",
        "rollout.resumed",
        "rollout.rolled_back",
    ]
