"""An admin's direct move to staging or production overrides the gate: it needs a reason, is
recorded and audited as an override, and the gate answers ``override``, passing only where
the policies let overrides pass. Archiving overrides nothing."""

from __future__ import annotations

from typing import Any

import pytest

from assay_server.errors import PermissionDenied, ValidationFailed
from assay_server.governance.stages import StageService

from .test_promotions_api import ALICE, GATE, ROOT, V1, benchmark, request, setup_model

PERMISSIVE = """
name: permissive
applies_to: {stage: [production]}
rules:
  - {id: card, check: metadata_present, fields: [intended_use]}
approvals: {required: 1, overrides_pass: true}
"""


def override(
    api: Any, stage: str = "production", reason: str = "incident 4711", **body: Any
) -> Any:
    response = api.post(f"{V1}/stage", ROOT, {"stage": stage, "reason": reason, **body})
    assert response.status_code == 200, response.json
    return response.json


def gate(api: Any, stage: str = "production") -> dict[str, Any]:
    return api.get(f"{V1}/gate?stage={stage}").json


def apply(api: Any, *sources: str) -> None:
    files = [{"filename": f"p{i}.yaml", "content": text} for i, text in enumerate(sources)]
    assert api.post("/policies", ROOT, {"files": files}).status_code == 200


def test_after_an_override_the_gate_says_override_and_does_not_pass_by_default(api: Any) -> None:
    setup_model(api, required=2)
    blocked = request(api)
    assert blocked["status"] == "blocked"

    override(api)

    answer = gate(api)
    assert (answer["current_stage"], answer["status"], answer["passed"]) == (
        "production",
        "override",
        False,
    )
    assert (answer["approvals"], answer["required_approvals"]) == (0, 2)
    assert [rule["id"] for rule in answer["failing_rules"]] == ["acc"]
    assert answer["evaluation"]["outcome"] == "blocked"
    assert answer["promotion_id"] != blocked["id"]


def test_an_override_without_a_reason_is_refused_and_moves_nothing(api: Any) -> None:
    setup_model(api)

    refused = api.post(f"{V1}/stage", ROOT, {"stage": "production", "comment": "trust me"})

    assert refused.status_code == 422
    assert "reason" in refused.json["error"]["details"]
    assert api.get(V1).json["stage"] == "none"
    assert api.get("/promotions").json["total"] == 0
    assert gate(api)["status"] == "not_requested"


def test_the_override_is_recorded_and_audited_with_its_reason_and_what_it_skipped(
    api: Any,
) -> None:
    setup_model(api, required=2)
    blocked = request(api)

    override(api, reason="regulator deadline", comment="signed off by the CRO")

    [record] = api.get("/promotions?status=overridden").json["items"]
    assert (record["reason"], record["requested_by"], record["approvals"]) == (
        "regulator deadline",
        "root",
        0,
    )
    assert record["evaluation"]["outcome"] == "blocked"
    [evaluation] = api.get(f"/promotions/{record['id']}/evaluations").json
    assert (evaluation["trigger"], evaluation["outcome"]) == ("override", "blocked")
    # the request the override made moot is closed, saying why
    moot = api.get(f"/promotions/{blocked['id']}").json
    assert moot["status"] == "cancelled"
    [event] = api.get("/audit?action=stage.overridden").json["items"]
    assert (event["actor_name"], event["target_type"], event["target_id"]) == (
        "root",
        "promotion",
        str(record["id"]),
    )
    assert event["payload"] == {
        "model": "churn",
        "version": 1,
        "stage": "production",
        "from": "none",
        "reason": "regulator deadline",
        "outcome": "blocked",
        "policies": [{"name": "gate", "version": 1, "status": "blocked"}],
        "failing_rules": ["gate/acc"],
        "approvals_skipped": 2,
        "passes_gate": False,
        "cancelled": [blocked["id"]],
    }
    [stay] = api.get("/models/churn/stage-history").json
    assert stay["comment"] == "override: regulator deadline — signed off by the CRO"


def test_a_policy_may_let_an_override_pass_the_gate(api: Any) -> None:
    setup_model(api)
    apply(api, GATE.replace("{required: %d}", "{required: 1, overrides_pass: true}"))

    override(api)

    answer = gate(api)
    assert (answer["status"], answer["passed"]) == ("override", True)


def test_an_override_passes_only_when_every_applicable_policy_lets_it(api: Any) -> None:
    setup_model(api)  # the gate policy says nothing: overrides do not pass it
    apply(api, PERMISSIVE)

    override(api)

    answer = gate(api)
    assert answer["evaluation"]["approvals"]["overrides_pass"] is False
    assert (answer["status"], answer["passed"]) == ("override", False)


def test_with_no_policy_to_override_an_override_passes(api: Any) -> None:
    setup_model(api)  # its policy applies to production only

    override(api, stage="staging")

    answer = gate(api, "staging")
    assert answer["evaluation"]["policies"] == []
    assert (answer["status"], answer["passed"]) == ("override", True)


def test_a_version_overridden_into_production_does_not_pass_the_staging_gate(api: Any) -> None:
    setup_model(api)

    override(api)

    answer = gate(api, "staging")
    assert (answer["current_stage"], answer["status"], answer["passed"]) == (
        "production",
        "override",
        False,
    )


def test_archiving_is_not_an_override(api: Any) -> None:
    setup_model(api)
    override(api)

    archived = api.post(f"{V1}/stage", ROOT, {"stage": "archived"})

    assert archived.status_code == 200
    assert (gate(api)["status"], gate(api)["passed"]) == ("superseded", False)
    assert len(api.get("/audit?action=stage.overridden").json["items"]) == 1
    assert api.get("/promotions").json["total"] == 1


def test_an_approved_promotion_after_an_override_passes_the_gate_again(api: Any) -> None:
    setup_model(api, required=1)
    override(api)
    api.post(f"{V1}/stage", ROOT, {"stage": "archived"})
    benchmark(api, 0.9)
    promotion = request(api)

    approved = api.post(f"/promotions/{promotion['id']}/approve", ALICE).json

    assert approved["status"] == "approved"
    answer = gate(api)
    assert (answer["status"], answer["passed"], answer["promotion_id"]) == (
        "approved",
        True,
        promotion["id"],
    )


def test_an_overridden_request_cannot_be_approved(api: Any) -> None:
    setup_model(api)
    override(api)
    [record] = api.get("/promotions?status=overridden").json["items"]

    refused = api.post(f"/promotions/{record['id']}/approve", ALICE)

    assert refused.status_code == 409 and "is overridden" in refused.json["error"]["message"]


@pytest.mark.parametrize("stage", ["staging", "production"])
def test_the_service_refuses_an_override_without_a_reason_or_by_a_non_admin(
    store: Any, stage: str
) -> None:
    store.model()
    store.version()
    with store.session() as (session, ctx), pytest.raises(ValidationFailed) as refused:
        StageService(session, ctx).set_stage("churn", 1, stage, reason="  ")
    assert "reason" in refused.value.details
    with (
        store.session("alice", "approver") as (session, ctx),
        pytest.raises(PermissionDenied),
    ):
        StageService(session, ctx).set_stage("churn", 1, stage, reason="because")
