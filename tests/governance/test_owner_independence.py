"""``independent_of_owner`` holds: a model's owner cannot hand the model to someone else,
approve its promotion and take it back. Its owner does not change while a promotion is open,
and an approver is judged against the owner when the request was opened and every owner the
model had in the ``owner_lookback_days`` before it (and since)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from assay_server.errors import PermissionDenied
from assay_server.governance.decisions import approve_promotion
from assay_server.governance.promotions import PromotionService
from assay_server.registry.benchmarks import BenchmarkService
from assay_server.registry.models import RegisteredModel
from assay_server.registry.service import RegistryService
from assay_server.settings import Settings
from tests.api.factories import CHURN_FEATURES

from .conftest import Store
from .test_promotions_api import ALICE, CI, ROOT, benchmark, request

INDEPENDENT = """
name: independent
applies_to: {stage: [production]}
rules:
  - {id: acc, check: benchmark_metric, benchmark: holdout, metric: accuracy, op: ">=", value: 0.8}
approvals: {required: 1, independent_of_owner: true}
"""
OLGA = ("olga", "approver")  # the model's owner, who may also approve other teams' models


def setup_owned_model(api: Any) -> None:
    policy = {"files": [{"filename": "independent.yaml", "content": INDEPENDENT}]}
    assert api.post("/policies", ROOT, policy).status_code == 200
    model = {"name": "churn", "task": "binary_classification", "owner": "olga"}
    assert api.post("/models", ROOT, model).status_code == 201
    version = {"features": CHURN_FEATURES, "target": "churned"}
    assert api.post("/models/churn/versions", ("dev", "contributor"), version).status_code == 201


def hand_over(api: Any, to: str | None, who: tuple[str, str] = OLGA) -> Any:
    return api.client.patch("/api/v1/models/churn", json={"owner": to}, headers=api.as_(*who))


@pytest.mark.parametrize("evidence", [False, True], ids=["blocked", "pending_approval"])
def test_the_owner_cannot_change_while_a_promotion_is_open(api: Any, evidence: bool) -> None:
    setup_owned_model(api)
    if evidence:
        benchmark(api, 0.9)
    promotion = request(api)

    refused = hand_over(api, "sam")

    assert refused.status_code == 409
    assert f"Promotion request {promotion['id']}" in refused.json["error"]["message"]
    assert refused.json["error"]["details"]["promotion_id"] == promotion["id"]
    assert api.get("/models/churn").json["owner"] == "olga"
    assert api.get("/audit?action=model.updated").json["items"] == []
    # and so the owner still cannot approve
    if evidence:
        own = api.post(f"/promotions/{promotion['id']}/approve", OLGA)
        assert own.status_code == 403 and "owns model" in own.json["error"]["message"]


def test_other_changes_and_changes_after_the_decision_are_allowed(api: Any) -> None:
    setup_owned_model(api)
    promotion = request(api)
    described = api.client.patch(
        "/api/v1/models/churn", json={"description": "churn risk"}, headers=api.as_(*OLGA)
    )
    assert described.status_code == 200
    assert api.post(f"/promotions/{promotion['id']}/cancel", CI).status_code == 200

    assert hand_over(api, "sam").status_code == 200


def test_an_owner_who_handed_the_model_over_before_the_request_cannot_approve(
    api: Any, clock: Any
) -> None:
    setup_owned_model(api)
    assert hand_over(api, "sam").status_code == 200
    clock.advance(days=29)
    benchmark(api, 0.9)
    promotion = request(api)

    refused = api.post(f"/promotions/{promotion['id']}/approve", OLGA)

    assert refused.status_code == 403
    message = refused.json["error"]["message"]
    assert (
        "'olga' owned model 'churn' in the 30 days before this promotion was requested" in message
    )
    assert api.get(f"/promotions/{promotion['id']}").json["status"] == "pending_approval"
    assert api.post(f"/promotions/{promotion['id']}/approve", ALICE).json["status"] == "approved"


def test_the_owner_it_was_handed_to_cannot_approve_either(api: Any) -> None:
    setup_owned_model(api)
    assert hand_over(api, "sam").status_code == 200
    assert hand_over(api, "olga", who=("sam", "approver")).status_code == 200
    benchmark(api, 0.9)
    promotion = request(api)

    refused = api.post(f"/promotions/{promotion['id']}/approve", ("sam", "approver"))

    assert refused.status_code == 403 and "'sam' owned model" in refused.json["error"]["message"]


def test_an_owner_from_before_the_lookback_may_approve(api: Any, clock: Any) -> None:
    setup_owned_model(api)
    assert hand_over(api, "sam").status_code == 200
    clock.advance(days=31)
    benchmark(api, 0.9)
    promotion = request(api)

    approved = api.post(f"/promotions/{promotion['id']}/approve", OLGA)

    assert approved.status_code == 200 and approved.json["status"] == "approved"


def pending_request(store: Store) -> int:
    """Log the benchmark the policy asks for, and open a request (pending approval)."""
    with store.session("dev", "contributor") as (session, ctx):
        BenchmarkService(session, ctx).log("churn", 1, name="holdout", metrics={"accuracy": 0.9})
    with store.session("ci", "contributor") as (session, ctx):
        promotion = PromotionService(session, ctx).request("churn", 1, stage="production")
        assert promotion.status == "pending_approval"
        return promotion.id


def test_the_lookback_is_a_setting(db: Any, settings: Any, clock: Any) -> None:
    assert Settings().owner_lookback_days == 30
    assert Settings.from_env({"ASSAY_OWNER_LOOKBACK_DAYS": "7"}).owner_lookback_days == 7
    store = Store(db, settings.with_overrides(owner_lookback_days=7), clock)
    store.apply(INDEPENDENT)
    store.model(owner="olga")
    store.version()
    with store.session("olga", "approver") as (session, ctx):
        RegistryService(session, ctx).update_model("churn", {"owner": "sam"})
    clock.advance(days=8)
    promotion_id = pending_request(store)

    with store.session("olga", "approver") as (session, ctx):
        approved = approve_promotion(db, session, ctx, promotion_id, "")
        assert approved.status == "approved"


def test_the_owner_at_request_time_is_kept_and_judged_against(store: Store, db: Any) -> None:
    store.apply(INDEPENDENT)
    store.model(owner="olga")
    store.version()
    promotion_id = pending_request(store)
    with store.session() as (session, ctx):
        assert PromotionService(session, ctx).get(promotion_id).owner_at_request == "olga"
        # the owner changes behind the services' back: no audit event, no open-request check
        session.execute(
            update(RegisteredModel).where(RegisteredModel.name == "churn").values(owner="sam")
        )

    with (
        store.session("olga", "approver") as (session, ctx),
        pytest.raises(PermissionDenied, match="owned model 'churn' when this promotion was"),
    ):
        approve_promotion(db, session, ctx, promotion_id, "")
