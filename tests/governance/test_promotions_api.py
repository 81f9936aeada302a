"""The approval gate over HTTP: requests, evaluation, separation of duties, stage changes."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from tests.api.factories import CHURN_FEATURES

GATE = """
name: gate
applies_to: {stage: [production]}
rules:
  - {id: acc, check: benchmark_metric, benchmark: holdout, metric: accuracy, op: ">=", value: 0.8}
approvals: {required: %d}
"""
ROOT = ("root", "admin")
DEV = ("dev", "contributor")
CI = ("ci", "contributor")
ALICE = ("alice", "approver")
BOB = ("bob", "approver")
V1 = "/models/churn/versions/1"


def setup_model(api: Any, required: int = 2, versions: int = 1) -> None:
    policy = {"files": [{"filename": "gate.yaml", "content": GATE % required}]}
    assert api.post("/policies", ROOT, policy).status_code == 200
    model = {"name": "churn", "task": "binary_classification"}
    assert api.post("/models", ROOT, model).status_code == 201
    for _ in range(versions):
        body = {"features": CHURN_FEATURES, "target": "churned"}
        assert api.post("/models/churn/versions", DEV, body).status_code == 201


def benchmark(api: Any, accuracy: float, version: int = 1) -> None:
    body = {"name": "holdout", "metrics": {"accuracy": accuracy, "f1": accuracy - 0.05}}
    response = api.post(f"/models/churn/versions/{version}/benchmarks", DEV, body)
    assert response.status_code == 201, response.json


def request(api: Any, version: int = 1, stage: str = "production") -> dict[str, Any]:
    response = api.post(
        f"/models/churn/versions/{version}/promotions", CI, {"stage": stage, "reason": "ship"}
    )
    assert response.status_code == 201, response.json
    return response.json


def test_a_request_without_evidence_is_blocked_with_the_rule_and_its_evidence(api: Any) -> None:
    setup_model(api)
    promotion = request(api)
    assert promotion["status"] == "blocked"
    [rule] = promotion["failing_rules"]
    assert (rule["policy"], rule["id"], rule["status"]) == ("gate", "acc", "missing_evidence")
    policy = promotion["evaluation"]["policies"][0]
    assert (policy["name"], policy["version"]) == ("gate", 1)
    assert api.get(f"/promotions/{promotion['id']}").json["status"] == "blocked"


def test_a_blocked_request_cannot_be_approved_and_409_names_the_failing_rules(api: Any) -> None:
    setup_model(api)
    promotion = request(api)
    refused = api.post(f"/promotions/{promotion['id']}/approve", ALICE)
    assert refused.status_code == 409
    assert "gate/acc (missing_evidence)" in refused.json["error"]["message"]
    assert refused.json["error"]["details"]["failing_rules"][0]["id"] == "acc"


def test_re_evaluation_once_evidence_arrives_unblocks_the_request(api: Any) -> None:
    setup_model(api)
    promotion = request(api)
    benchmark(api, 0.7)
    again = api.post(f"/promotions/{promotion['id']}/evaluate", CI).json
    assert again["status"] == "blocked"
    assert again["failing_rules"][0]["observed"] == 0.7
    benchmark(api, 0.9)
    assert api.post(f"/promotions/{promotion['id']}/evaluate", CI).json["status"] == (
        "pending_approval"
    )
    evaluations = api.get(f"/promotions/{promotion['id']}/evaluations").json
    assert [e["outcome"] for e in evaluations] == ["blocked", "blocked", "pass"]


@pytest.mark.parametrize("who,why", [(CI, "requested"), (DEV, "registered version 1")])
def test_separation_of_duties_refuses_the_requester_and_the_registrant(
    api: Any, headers_for: Any, who: tuple[str, str], why: str
) -> None:
    setup_model(api)
    benchmark(api, 0.9)
    promotion = request(api)
    # the same person holding an approver token under the same name is still refused
    api._headers[who[0]] = headers_for("approver", who[0])
    refused = api.post(f"/promotions/{promotion['id']}/approve", who)
    assert refused.status_code == 403
    assert "Separation of duties" in refused.json["error"]["message"]
    assert why in refused.json["error"]["message"]


def test_two_approvals_promote_and_archive_the_previous_production(api: Any) -> None:
    setup_model(api, versions=2)
    assert (
        api.post(f"{V1}/stage", ROOT, {"stage": "production", "reason": "launch"}).status_code
        == 200
    )
    benchmark(api, 0.9, version=2)
    promotion = request(api, version=2)
    first = api.post(f"/promotions/{promotion['id']}/approve", ALICE, {"comment": "ok"}).json
    assert (first["status"], first["approvals"], first["required_approvals"]) == (
        "pending_approval",
        1,
        2,
    )
    again = api.post(f"/promotions/{promotion['id']}/approve", ALICE)
    assert again.status_code == 409 and "already decided" in again.json["error"]["message"]
    done = api.post(f"/promotions/{promotion['id']}/approve", BOB).json
    assert done["status"] == "approved"
    assert [d["approver"] for d in done["decisions"]] == ["alice", "bob"]
    assert api.get("/models/churn/versions/2").json["stage"] == "production"
    assert api.get(V1).json["stage"] == "archived"
    actions = [e["action"] for e in api.get("/audit?target_type=promotion").json["items"]]
    assert actions == [
        "stage.overridden",  # v1's direct move to production
        "promotion.requested",
        "promotion.approval_recorded",
        "promotion.approval_recorded",
        "promotion.approved",
    ]


def test_an_approval_after_the_evidence_changed_re_blocks_the_request(api: Any) -> None:
    setup_model(api)
    benchmark(api, 0.9)
    promotion = request(api)
    assert promotion["status"] == "pending_approval"
    api.client.application.extensions["assay_clock"].advance(seconds=5)
    benchmark(api, 0.6)  # a newer holdout run, worse
    refused = api.post(f"/promotions/{promotion['id']}/approve", ALICE)
    assert refused.status_code == 409
    assert "no longer pass" in refused.json["error"]["message"]
    stored = api.get(f"/promotions/{promotion['id']}").json
    assert stored["status"] == "blocked" and stored["approvals"] == 0
    assert stored["failing_rules"][0]["observed"] == 0.6
    events = api.get("/audit?target_type=promotion&action=promotion.evaluated").json["items"]
    assert events[-1]["payload"]["trigger"] == "approval"
    assert (events[-1]["payload"]["from"], events[-1]["payload"]["to"]) == (
        "pending_approval",
        "blocked",
    )


def test_a_rejected_request_cannot_be_approved(api: Any) -> None:
    setup_model(api)
    benchmark(api, 0.9)
    promotion = request(api)
    no_reason = api.post(f"/promotions/{promotion['id']}/reject", ALICE, {})
    assert no_reason.status_code == 422
    rejected = api.post(f"/promotions/{promotion['id']}/reject", ALICE, {"comment": "not yet"})
    assert rejected.json["status"] == "rejected"
    refused = api.post(f"/promotions/{promotion['id']}/approve", BOB)
    assert refused.status_code == 409 and "is rejected" in refused.json["error"]["message"]
    assert api.get(V1).json["stage"] == "none"


def test_only_one_open_request_per_version_and_stage(api: Any) -> None:
    setup_model(api)
    promotion = request(api)
    again = api.post(f"{V1}/promotions", CI, {"stage": "production"})
    assert (
        again.status_code == 409
        and again.json["error"]["details"]["promotion_id"] == (promotion["id"])
    )
    assert api.post(f"/promotions/{promotion['id']}/cancel", DEV).status_code == 403
    assert api.post(f"/promotions/{promotion['id']}/cancel", CI).json["status"] == "cancelled"
    assert request(api)["id"] != promotion["id"]


@pytest.mark.parametrize("required,outcomes", [(1, [200, 409]), (2, [200, 200])])
@pytest.mark.commits  # concurrent threads share the store
def test_two_concurrent_approvals_promote_exactly_once(
    app: Any, api: Any, required: int, outcomes: list[int]
) -> None:
    setup_model(api, required=required)
    benchmark(api, 0.9)
    promotion = request(api)
    headers = [api.as_(*ALICE), api.as_(*BOB)]
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def approve(h: dict[str, str]) -> None:
        client = app.test_client()
        barrier.wait()
        statuses.append(
            client.post(
                f"/api/v1/promotions/{promotion['id']}/approve", json={}, headers=h
            ).status_code
        )

    threads = [threading.Thread(target=approve, args=(h,)) for h in headers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(statuses) == outcomes
    stored = api.get(f"/promotions/{promotion['id']}").json
    assert stored["status"] == "approved" and stored["approvals"] == required
    moves = api.get("/audit?action=version.stage_changed").json["items"]
    assert [(m["target_id"], m["payload"]["to"]) for m in moves] == [("churn/1", "production")]


def test_gate_answers_for_ci(api: Any) -> None:
    setup_model(api, required=1)
    before = api.get(f"{V1}/gate?stage=production").json
    assert (before["status"], before["passed"]) == ("not_requested", False)
    assert before["failing_rules"][0]["id"] == "acc"
    benchmark(api, 0.9)
    promotion = request(api)
    assert api.get(f"{V1}/gate?stage=production").json["status"] == "pending_approval"
    api.post(f"/promotions/{promotion['id']}/approve", ALICE)
    after = api.get(f"{V1}/gate?stage=production").json
    assert (after["status"], after["passed"], after["promotion_id"]) == (
        "approved",
        True,
        promotion["id"],
    )


def test_promotions_are_listed_with_filters(api: Any) -> None:
    setup_model(api, versions=2)
    request(api, 1)
    request(api, 2, stage="staging")
    page = api.get("/promotions?model=churn&stage=staging").json
    assert page["total"] == 1 and page["items"][0]["version"] == 2
    # no policy applies to staging here: nothing blocks it, one approver is still needed
    assert api.get("/promotions?status=pending_approval").json["items"][0]["stage"] == "staging"
    assert api.get("/promotions?status=blocked").json["total"] == 1
    assert len(api.get(f"{V1}/promotions").json) == 1
    assert api.get("/promotions?colour=red").status_code == 422


def test_a_policy_needing_no_approval_promotes_as_soon_as_its_rules_pass(api: Any) -> None:
    setup_model(api, required=0)
    assert request(api)["status"] == "blocked"
    benchmark(api, 0.9)
    [promotion] = api.get("/promotions").json["items"]
    done = api.post(f"/promotions/{promotion['id']}/evaluate", CI).json
    assert (done["status"], done["approvals"]) == ("approved", 0)
    assert api.get(V1).json["stage"] == "production"
