"""Starting a rollout: who may, on which promotion, with which plan (every refusal a clear
4xx that stores nothing); the split without a rollout; the rollout policy rules; the gate
with a comparison given to the service directly."""

from __future__ import annotations

from typing import Any

import pytest

from assay_server.checks.comparison import Verdict
from assay_server.governance.rollouts import RolloutService
from assay_server.scheduler import MonitorScheduler
from tests.api.factories import declared_version, stage
from tests.governance.conftest import Store
from tests.monitoring.conftest import Monitored

from .release import (
    ALICE,
    CI,
    DEV,
    FakeComparison,
    checks_of,
    plan,
    prepare_release,
    split_of,
    start,
    status_of,
)

MIN_DURATION = """
name: rolled-out
applies_to: {stage: [production]}
rules:
  - {id: soak, check: rollout_min_duration, hours: 2}
  - {id: calm, check: no_open_incident, severity: critical}
"""


def _rollouts(api: Any) -> list[dict[str, Any]]:
    response = api.get("/models/churn/rollouts")
    assert response.status_code == 200, response.json
    return list(response.json)


@pytest.mark.parametrize(
    ("steps", "problem"),
    [
        ((10, 10, 100), "Steps must increase"),
        ((50, 20, 100), "Steps must increase"),
        ((10, 50), "The last step is 100"),
        ((100,), "at least two steps"),
    ],
)
def test_a_plan_whose_steps_do_not_rise_to_100_is_refused(
    monitored: Monitored, api: Any, steps: tuple[float, ...], problem: str
) -> None:
    promotion = prepare_release(monitored, api)
    response = start(api, plan(promotion["id"], steps=steps))
    assert response.status_code == 422, response.json
    assert any(problem in message for message in response.json["error"]["details"]["steps"])
    assert _rollouts(api) == []


@pytest.mark.parametrize(
    "body",
    [
        {"steps": [{"percent": 0}, {"percent": 100}]},
        {"steps": [{"percent": 10}, {"percent": 101}]},
        {"steps": []},
        {"steps": [{"percent": 10}, {"percent": 100}], "min_predictions": -1},
        {"steps": [{"percent": 10, "extra": 1}, {"percent": 100}]},
    ],
)
def test_a_malformed_plan_is_a_422(monitored: Monitored, api: Any, body: dict[str, Any]) -> None:
    promotion = prepare_release(monitored, api)
    response = start(api, {"promotion_id": promotion["id"], **body})
    assert response.status_code == 422, response.json
    assert response.json["error"]["code"] == "validation_error"


def test_a_promotion_not_approved_or_not_waiting_cannot_be_rolled_out(
    monitored: Monitored, api: Any
) -> None:
    pending = prepare_release(monitored, api, approve=False)
    assert pending["status"] == "pending_approval"
    refused = start(api, plan(pending["id"]))
    assert refused.status_code == 409
    assert "pending_approval" in refused.json["error"]["message"]
    assert start(api, plan(10_000)).status_code == 404

    declared_version(monitored.client, monitored.headers)  # v3, no rollout asked
    requested = api.post(
        "/models/churn/versions/3/promotions", CI, {"stage": "production", "reason": "now"}
    ).json
    approved = api.post(f"/promotions/{requested['id']}/approve", ALICE, {"comment": "ok"})
    assert approved.json["status"] == "approved"  # moved at once: nothing to roll out
    moved = start(api, plan(requested["id"]))
    assert moved.status_code == 409
    assert "does not wait for a rollout" in moved.json["error"]["message"]
    assert _rollouts(api) == []


def test_only_an_approver_or_the_requester_starts_a_rollout_and_one_runs_at_a_time(
    monitored: Monitored, api: Any
) -> None:
    promotion = prepare_release(monitored, api)
    assert start(api, plan(promotion["id"]), who=DEV).status_code == 403
    started = start(api, plan(promotion["id"]), who=CI)  # the promotion's requester
    assert started.status_code == 201, started.json
    again = start(api, plan(promotion["id"]))
    assert again.status_code == 409 and "already has rollout" in again.json["error"]["message"]


def test_the_split_is_the_production_version_alone_without_a_rollout(
    monitored: Monitored, api: Any
) -> None:
    assert split_of(api) == {}  # nothing in production yet
    stage(monitored.client, monitored.headers, 1, stage="production")
    assert split_of(api) == {"1": 1.0}
    assert api.get("/models/nope/rollout").status_code == 404
    assert api.get("/models/churn/rollout/status").status_code == 404


def test_a_policy_with_rollout_rules_makes_the_approval_wait_and_holds_the_last_step(
    monitored: Monitored,
    api: Any,
    comparison: FakeComparison,
    db: Any,
    settings: Any,
    clock: Any,
) -> None:
    applied = api.post(
        "/policies", ("root", "admin"), {"files": [{"filename": "r.yaml", "content": MIN_DURATION}]}
    )
    assert applied.status_code == 200, applied.json
    promotion = prepare_release(monitored, api, rollout=False)
    rules = {r["id"]: r for r in promotion["evaluation"]["policies"][0]["rules"]}
    assert rules["soak"]["status"] == "pass" and "no rollout yet" in rules["soak"]["message"]
    assert rules["calm"]["status"] == "pass"
    rollout = start(api, plan(promotion["id"], steps=(50, 100), min_predictions=0)).json

    scheduler = MonitorScheduler(db, settings, clock=clock)
    clock.advance(minutes=61)
    assert scheduler.advance_rollouts() == 0
    checks = checks_of(status_of(api, rollout["id"]))
    assert checks["policy:rolled-out:soak"] is False  # 1 hour of the 2 the policy asks
    assert checks["policy:rolled-out:calm"] is True
    clock.advance(minutes=60)
    assert scheduler.advance_rollouts() == 1
    assert split_of(api) == {"2": 1.0}


def test_the_gate_reads_the_comparison_the_service_is_given(
    monitored: Monitored, api: Any, db: Any, settings: Any, clock: Any
) -> None:
    promotion = prepare_release(monitored, api)
    rollout_id = start(api, plan(promotion["id"], min_predictions=0)).json["id"]
    clock.advance(hours=2)
    fake = FakeComparison()
    fake.verdict = Verdict.CHALLENGER_WORSE
    store = Store(db, settings, clock)
    with store.session("ci", "contributor") as (session, ctx):
        step = RolloutService(session, ctx, compare=fake).advance(rollout_id)
        assert not step.advanced
        assert [c.name for c in step.gate.checks if not c.passed] == ["comparison"]
    fake.verdict = Verdict.CHALLENGER_BETTER
    with store.session("ci", "contributor") as (session, ctx):
        assert RolloutService(session, ctx, compare=fake).advance(rollout_id).advanced
    assert split_of(api) == {"1": 0.5, "2": 0.5}


def test_without_monitoring_comparisons_the_comparison_check_fails_and_says_why(
    monitored: Monitored, api: Any, clock: Any
) -> None:
    promotion = prepare_release(monitored, api)
    rollout_id = start(api, plan(promotion["id"], min_predictions=0)).json["id"]
    clock.advance(hours=2)
    gate = status_of(api, rollout_id)["gate"]
    [compared] = [c for c in gate["checks"] if c["name"] == "comparison"]
    try:
        import assay_server.monitoring.comparisons  # noqa: F401
    except ModuleNotFoundError:
        assert compared["passed"] is False
        assert "no version comparisons" in compared["message"]
    else:  # once monitoring compares versions, the gate asks it
        assert compared["observed"] in {v.value for v in Verdict}


def test_the_stage_gate_follows_a_release_through_its_rollout(
    monitored: Monitored, api: Any, comparison: FakeComparison, clock: Any
) -> None:
    def gate() -> dict[str, Any]:
        answer = api.get("/models/churn/versions/2/gate", query_string={"stage": "production"})
        assert answer.status_code == 200, answer.json
        return dict(answer.json)

    promotion = prepare_release(monitored, api)
    assert (gate()["status"], gate()["passed"]) == ("awaiting_rollout", False)
    rollout = start(api, plan(promotion["id"], steps=(50, 100), min_predictions=0)).json
    assert gate()["status"] == "rolling_out"
    clock.advance(hours=2)
    assert api.post(f"/rollouts/{rollout['id']}/advance", CI).json["advanced"]
    assert (gate()["status"], gate()["passed"]) == ("approved", True)


def test_the_stage_gate_says_rolled_back_when_the_release_was(
    monitored: Monitored, api: Any
) -> None:
    promotion = prepare_release(monitored, api)
    rollout = start(api, plan(promotion["id"])).json
    api.post(f"/rollouts/{rollout['id']}/rollback", ALICE, {"reason": "no"})
    answer = api.get("/models/churn/versions/2/gate", query_string={"stage": "production"})
    assert (answer.json["status"], answer.json["passed"]) == ("rolled_back", False)
