"""Governed aliases move through the promotion flow: a request naming the alias, judged by the
policies that govern it, approved with separation of duties, then the alias moved by
governance (audited, published); a direct move stays refused."""

from __future__ import annotations

from typing import Any

import pytest

from assay_server.alerts.outbox import Outbox
from assay_server.alerts.signing import generate_secret
from tests.alerts.receivers import WebhookReceiver
from tests.api.factories import CHURN_FEATURES

CHAMPION_POLICY = """
name: champion-gate
applies_to: {risk_tier: [medium]}
rules:
  - {id: lineage, check: lineage_present, fields: [git_commit]}
approvals: {required: %d}
governed_aliases: [champion]
"""
ROOT = ("root", "admin")
DEV = ("dev", "contributor")
CI = ("ci", "contributor")
ALICE = ("alice", "approver")
BOB = ("bob", "approver")
ALIASES = "/models/churn/aliases"


def setup_model(api: Any, required: int = 1, git_commit: str | None = "a1b2c3d") -> None:
    """``churn`` (medium risk) with v1 (registered by ``dev``) and the policy governing
    ``champion``."""
    policy = {"files": [{"filename": "champion.yaml", "content": CHAMPION_POLICY % required}]}
    assert api.post("/policies", ROOT, policy).status_code == 200
    model = {"name": "churn", "task": "binary_classification", "risk_tier": "medium"}
    assert api.post("/models", ROOT, model).status_code == 201
    body = {"features": CHURN_FEATURES, "target": "churned"}
    if git_commit:
        body["lineage"] = {"git_commit": git_commit}
    assert api.post("/models/churn/versions", DEV, body).status_code == 201


def request_alias(api: Any, alias: str = "champion", version: int = 1, who=CI) -> Any:
    return api.post(
        f"/models/churn/versions/{version}/promotions", who, {"alias": alias, "reason": "won"}
    )


def aliases(api: Any) -> dict[str, int]:
    return {a["alias"]: a["version"] for a in api.get(ALIASES).json}


def test_an_approved_promotion_moves_a_governed_alias_audited_with_its_request(api: Any) -> None:
    setup_model(api)
    opened = request_alias(api)
    assert opened.status_code == 201, opened.json
    promotion = opened.json
    assert (promotion["stage"], promotion["alias"], promotion["target"]) == (
        None,
        "champion",
        "alias champion",
    )
    assert promotion["status"] == "pending_approval"
    [judged] = promotion["evaluation"]["policies"]
    assert (judged["name"], judged["rules"][0]["status"]) == ("champion-gate", "pass")
    assert aliases(api) == {}

    approved = api.post(f"/promotions/{promotion['id']}/approve", ALICE)
    assert approved.status_code == 200, approved.json
    assert approved.json["status"] == "approved"
    assert aliases(api) == {"champion": 1}
    [stay] = api.get("/models/churn/alias-history").json
    assert (stay["entered_by"], stay["comment"]) == (
        "alice",
        f"promotion request {promotion['id']} approved",
    )
    version = api.get("/models/churn/versions/1").json
    assert version["stage"] == "none"  # an alias promotion moves no stage

    audit = api.get("/audit", query_string={"target_type": "model", "target_id": "churn"}).json
    [alias_set] = [e for e in audit["items"] if e["action"] == "alias.set"]
    assert alias_set["payload"]["promotion_id"] == promotion["id"]
    about = {"target_type": "promotion", "target_id": str(promotion["id"])}
    items = api.get("/audit", query_string=about).json["items"]
    actions = {e["action"]: e["payload"] for e in items}
    assert actions["promotion.requested"]["alias"] == "champion"
    assert actions["promotion.approved"]["target"] == "alias champion"


def test_a_governed_alias_is_still_refused_a_direct_move(api: Any) -> None:
    setup_model(api)
    refused = api.client.put(
        "/api/v1" + ALIASES + "/champion", headers=api.as_(*DEV), json={"version": 1}
    )
    assert refused.status_code == 409
    assert refused.json["error"]["details"]["policies"] == ["champion-gate"]
    assert "promotion request" in refused.json["error"]["message"]
    assert aliases(api) == {}


def test_an_alias_promotion_whose_rules_fail_is_blocked_and_the_alias_stays(api: Any) -> None:
    setup_model(api, git_commit=None)
    promotion = request_alias(api).json
    assert promotion["status"] == "blocked"
    assert [(r["policy"], r["id"]) for r in promotion["failing_rules"]] == [
        ("champion-gate", "lineage")
    ]
    refused = api.post(f"/promotions/{promotion['id']}/approve", ALICE)
    assert refused.status_code == 409
    assert "champion-gate/lineage" in refused.json["error"]["message"]
    assert aliases(api) == {}


def test_separation_of_duties_holds_for_an_alias_promotion(api: Any, headers_for: Any) -> None:
    setup_model(api, required=2)
    promotion = request_alias(api).json
    # the requester and the version's registrant may not approve, even as approvers
    requester = headers_for("approver", "ci")
    registrant = headers_for("approver", "dev")
    for headers in (requester, registrant):
        refused = api.client.post(
            f"/api/v1/promotions/{promotion['id']}/approve", headers=headers, json={}
        )
        assert refused.status_code == 403, refused.json
        assert "Separation of duties" in refused.json["error"]["message"]
    assert api.post(f"/promotions/{promotion['id']}/approve", ALICE).json["approvals"] == 1
    assert aliases(api) == {}  # one of two approvals
    twice = api.post(f"/promotions/{promotion['id']}/approve", ALICE)
    assert twice.status_code == 409
    assert api.post(f"/promotions/{promotion['id']}/approve", BOB).json["status"] == "approved"
    assert aliases(api) == {"champion": 1}


def test_an_alias_promotion_moves_the_alias_from_the_version_it_named(api: Any) -> None:
    setup_model(api)
    body = {"features": CHURN_FEATURES, "target": "churned", "lineage": {"git_commit": "b2c3d4e"}}
    assert api.post("/models/churn/versions", DEV, body).status_code == 201
    first = request_alias(api).json
    api.post(f"/promotions/{first['id']}/approve", ALICE)
    already = request_alias(api)
    assert already.status_code == 409 and "names v1 already" in already.json["error"]["message"]
    second = request_alias(api, version=2).json
    duplicate = request_alias(api, version=2)
    assert duplicate.status_code == 409
    assert duplicate.json["error"]["details"]["promotion_id"] == second["id"]
    api.post(f"/promotions/{second['id']}/approve", ALICE)
    assert aliases(api) == {"champion": 2}
    history = api.get("/models/churn/alias-history", query_string={"alias": "champion"}).json
    assert [(h["version"], h["left_by"]) for h in history] == [(1, "alice"), (2, None)]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"stage": "production", "alias": "champion"}, "stage"),
        ({"reason": "neither"}, "stage"),
        ({"alias": "Champion"}, "alias"),
    ],
)
def test_a_promotion_names_a_stage_or_a_valid_alias(api: Any, body: Any, field: str) -> None:
    setup_model(api)
    response = api.post("/models/churn/versions/1/promotions", CI, body)
    assert response.status_code == 422, response.json
    assert field in response.json["error"]["details"]


def test_an_alias_no_policy_governs_is_set_directly_not_promoted(api: Any) -> None:
    setup_model(api)
    refused = request_alias(api, alias="challenger")
    assert refused.status_code == 409
    assert "governed by no policy" in refused.json["error"]["message"]
    listed = api.get("/promotions", query_string={"model": "churn"}).json
    assert listed["items"] == []


def test_the_promotion_steps_of_an_alias_reach_subscribed_channels(
    api: Any, client: Any, db: Any, settings: Any, clock: Any
) -> None:
    setup_model(api)
    delivering = settings.with_overrides(webhook_allow_private=True)
    client.application.extensions["assay_settings"] = delivering  # the app fixture restores it
    with WebhookReceiver(generate_secret()) as releases:
        body = {"name": "releases", "kind": "webhook", "url": releases.url}
        body |= {"secret": releases.secret, "events": ["promotion.*", "alias.changed"]}
        assert api.post("/channels", ROOT, body).status_code == 201
        promotion = request_alias(api).json
        api.post(f"/promotions/{promotion['id']}/approve", ALICE)
        assert Outbox(db, delivering, clock=clock, worker="test").run_once() == 3
        requested, approved, moved = releases.events
    assert [e["type"] for e in (requested, approved, moved)] == [
        "promotion.requested",
        "promotion.approved",
        "alias.changed",
    ]
    assert requested["data"]["figures"]["alias"] == "champion"
    assert "to alias champion approved" in approved["data"]["summary"]
    assert moved["data"]["figures"]["promotion_id"] == promotion["id"]
    assert moved["data"]["figures"]["changed_by"] == "alice"


def gate(api: Any, version: int = 1, **query: str) -> Any:
    return api.get(f"/models/churn/versions/{version}/gate", query_string=query)


def test_the_gate_answers_for_a_governed_alias_as_for_a_stage(api: Any) -> None:
    setup_model(api)
    answer = gate(api, alias="champion").json
    assert (answer["alias"], answer["stage"], answer["status"], answer["passed"]) == (
        "champion",
        None,
        "not_requested",
        False,
    )
    assert answer["required_approvals"] == 1
    assert [p["name"] for p in answer["evaluation"]["policies"]] == ["champion-gate"]

    promotion = request_alias(api).json
    answer = gate(api, alias="champion").json
    assert (answer["status"], answer["promotion_id"]) == ("pending_approval", promotion["id"])
    assert gate(api, stage="production").json["status"] == "not_requested"  # not the stage's

    assert api.post(f"/promotions/{promotion['id']}/approve", ALICE).status_code == 200
    answer = gate(api, alias="champion").json
    assert (answer["status"], answer["passed"]) == ("approved", True)

    body = {"features": CHURN_FEATURES, "target": "churned", "lineage": {"git_commit": "b2c3d4e"}}
    assert api.post("/models/churn/versions", DEV, body).status_code == 201
    second = request_alias(api, version=2).json
    assert api.post(f"/promotions/{second['id']}/approve", ALICE).status_code == 200
    assert gate(api, 2, alias="champion").json["passed"] is True
    answer = gate(api, alias="champion").json
    assert (answer["status"], answer["passed"]) == ("superseded", False)


def test_an_alias_no_policy_governs_passes_its_gate_while_it_names_the_version(
    api: Any,
) -> None:
    setup_model(api)
    assert gate(api, alias="challenger").json["status"] == "not_requested"
    set_directly = api.client.put(
        "/api/v1" + ALIASES + "/challenger", headers=api.as_(*DEV), json={"version": 1}
    )
    assert set_directly.status_code == 200, set_directly.json
    answer = gate(api, alias="challenger").json
    assert (answer["status"], answer["passed"], answer["evaluation"]["policies"]) == (
        "approved",
        True,
        [],
    )


@pytest.mark.parametrize(
    "query", [{}, {"stage": "production", "alias": "champion"}, {"alias": "Champion"}]
)
def test_the_gate_asks_for_a_stage_or_a_valid_alias(api: Any, query: dict[str, str]) -> None:
    setup_model(api)
    response = gate(api, **query)
    assert response.status_code == 422, response.json
    assert set(response.json["error"]["details"]) & {"stage", "alias"}


def test_the_promotion_list_filters_by_alias(api: Any) -> None:
    setup_model(api)
    by_alias = request_alias(api).json
    by_stage = api.post(
        "/models/churn/versions/1/promotions", CI, {"stage": "staging", "reason": "next"}
    ).json
    listed = api.get("/promotions", query_string={"alias": "champion"}).json["items"]
    assert [p["id"] for p in listed] == [by_alias["id"]]
    staged = api.get("/promotions", query_string={"stage": "staging"}).json["items"]
    assert [p["id"] for p in staged] == [by_stage["id"]]
    assert api.get("/promotions", query_string={"alias": "Champion"}).status_code == 422
