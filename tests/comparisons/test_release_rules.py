"""The release rules in a policy: ``challenger_not_worse`` and ``shadow_min_predictions``
block or allow a promotion of the challenger, judged against the champion (the ``champion``
alias, else the production version) on the traffic logged in its shadow."""

from __future__ import annotations

from typing import Any

import pytest

from tests.comparisons.conftest import Churn

POLICY = """
name: release
applies_to: {stage: [production]}
rules:
  - {id: not-worse, check: challenger_not_worse, metric: accuracy, margin: %s, test: shadow}
  - {id: shadowed, check: shadow_min_predictions, n: 300}
approvals: {required: 1}
"""


@pytest.fixture
def release(churn: Churn, admin_headers) -> Churn:
    """The release policy with no margin, and v1 as champion."""
    apply(churn, admin_headers, "0")
    response = churn.client.put(
        churn.url("/aliases/champion"), json={"version": 1}, headers=churn.headers
    )
    assert response.status_code == 200
    return churn


def apply(churn: Churn, admin_headers, margin: str) -> None:
    body = {"files": [{"filename": "release.yaml", "content": POLICY % margin}]}
    response = churn.client.post("/api/v1/policies", json=body, headers=admin_headers)
    assert response.status_code == 200, response.get_data(as_text=True)


def promote_v2(churn: Churn) -> dict[str, Any]:
    response = churn.client.post(
        churn.url("/versions/2/promotions"),
        json={"stage": "production", "reason": "won the shadow test"},
        headers=churn.headers,
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.json


def rules_of(promotion: dict[str, Any]) -> dict[str, dict[str, Any]]:
    [policy] = promotion["evaluation"]["policies"]
    return {rule["id"]: rule for rule in policy["rules"]}


def test_a_better_challenger_with_enough_shadow_traffic_may_be_promoted(release: Churn):
    release.shadow(400, champion_accuracy=0.7, challenger_accuracy=0.85)
    promotion = promote_v2(release)
    rules = rules_of(promotion)
    assert rules["not-worse"]["status"] == "pass"
    assert rules["not-worse"]["evidence"]["verdict"] == "challenger_better"
    assert rules["not-worse"]["evidence"]["champion"] == 1
    assert (
        "/api/v1/models/churn/comparison?champion=1&challenger=2"
        in (rules["not-worse"]["evidence"]["link"])
    )
    assert (rules["shadowed"]["status"], rules["shadowed"]["observed"]) == ("pass", 400)
    assert promotion["status"] != "blocked"
    assert promotion["failing_rules"] == []


def test_a_worse_challenger_is_blocked(release: Churn):
    release.shadow(400, champion_accuracy=0.85, challenger_accuracy=0.7)
    promotion = promote_v2(release)
    assert promotion["status"] == "blocked"
    rule = rules_of(promotion)["not-worse"]
    assert rule["status"] == "fail"
    assert rule["evidence"]["verdict"] == "challenger_worse"
    assert rule["observed"] < 0


def test_too_little_shadow_traffic_blocks_with_missing_evidence(release: Churn):
    release.shadow(60, champion_accuracy=0.7, challenger_accuracy=0.9)
    promotion = promote_v2(release)
    assert promotion["status"] == "blocked"
    rules = rules_of(promotion)
    assert rules["not-worse"]["status"] == "missing_evidence"
    assert "needs 100" in rules["not-worse"]["message"]
    assert (rules["shadowed"]["status"], rules["shadowed"]["observed"]) == ("fail", 60)


def test_a_margin_lets_a_slightly_worse_challenger_through(churn: Churn, admin_headers):
    apply(churn, admin_headers, "0.5")
    churn.client.put(churn.url("/aliases/champion"), json={"version": 1}, headers=churn.headers)
    churn.shadow(400, champion_accuracy=0.85, challenger_accuracy=0.75)
    rule = rules_of(promote_v2(churn))["not-worse"]
    assert rule["evidence"]["verdict"] == "challenger_worse"
    assert rule["status"] == "pass"


def test_without_a_champion_the_production_version_is_the_champion(churn: Churn, admin_headers):
    apply(churn, admin_headers, "0")
    churn.shadow(300, champion_accuracy=0.7, challenger_accuracy=0.9)
    promotion = promote_v2(churn)
    rules = rules_of(promotion)
    assert rules["not-worse"]["status"] == "missing_evidence"
    assert "no champion" in rules["not-worse"]["message"]
    response = churn.client.post(
        churn.url("/versions/1/stage"),
        json={"stage": "production", "reason": "first release"},
        headers=admin_headers,
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    again = churn.client.post(
        f"/api/v1/promotions/{promotion['id']}/evaluate", headers=churn.headers
    )
    assert again.status_code == 200, again.get_data(as_text=True)
    rules = rules_of(again.json)
    assert rules["not-worse"]["evidence"]["champion"] == 1
    assert rules["not-worse"]["status"] == "pass"


@pytest.mark.parametrize(
    "rule",
    [
        "{id: x, check: challenger_not_worse, test: canary}",
        "{id: x, check: challenger_not_worse, margin: -1}",
        "{id: x, check: challenger_not_worse, metric: nope}",
        "{id: x, check: shadow_min_predictions}",
        "{id: x, check: shadow_min_predictions, n: 0}",
    ],
)
def test_bad_release_rules_are_refused_when_the_policy_is_applied(
    churn: Churn, admin_headers, rule: str
):
    text = f"name: bad\nrules:\n  - {rule}\n"
    body = {"files": [{"filename": "bad.yaml", "content": text}]}
    response = churn.client.post("/api/v1/policies", json=body, headers=admin_headers)
    assert response.status_code == 422, response.get_data(as_text=True)
