"""Policy files: validation naming file, rule and field; versions; the bundled packs; the API."""

from __future__ import annotations

from typing import Any

import pytest

from assay_server.errors import ValidationFailed
from assay_server.governance.policies import (
    PolicyFile,
    bundled_policies,
    validate_policies,
)
from assay_server.governance.service import PolicyService

GOOD = """
name: floor
description: a floor
applies_to: {stage: [production]}
rules:
  - {id: acc, check: benchmark_metric, benchmark: holdout, metric: accuracy, op: ">=", value: 0.8}
approvals: {required: 1}
"""

EVERY_FIELD_WRONG = """
name: Not A Slug!
description: 12
applies_to: {risk_tier: [extreme], stage: [nowhere], colour: [red]}
rules:
  - {id: acc, check: benchmark_metric, benchmark: holdout, metric: accuracy, op: "~", value: high}
  - {id: bias, check: bias_metric, op: "<=", value: 0.1, extra: 1}
  - {id: lineage, check: lineage_present, fields: [shoe_size]}
  - {id: fmt, check: artifact_format}
  - {id: stay, check: stage_prerequisite, stage: archived, min_days: -1}
  - {id: alerts, check: max_open_alerts, value: -3}
  - {id: run-code, check: python, code: "import os"}
  - {check: explanation_available}
  - {id: acc, check: drift_share, op: "<", value: 0.3}
approvals: {required: 99, role: viewer, separation_of_duties: maybe}
"""


def errors_of(*files: PolicyFile) -> list[dict[str, Any]]:
    with pytest.raises(ValidationFailed) as caught:
        validate_policies(list(files))
    return caught.value.details["errors"]


def test_a_policy_file_with_an_error_in_every_field_is_refused_with_all_errors_listed() -> None:
    errors = errors_of(PolicyFile("bad.yaml", EVERY_FIELD_WRONG))
    found = {(e["rule"], e["field"]) for e in errors}
    assert {e["file"] for e in errors} == {"bad.yaml"}
    assert {
        (None, "name"),
        (None, "description"),
        (None, "applies_to"),
        (None, "approvals"),
        ("acc", "op"),
        ("acc", "value"),
        ("bias", "metric"),
        ("bias", "extra"),
        ("lineage", "fields"),
        ("fmt", "allowed"),
        ("stay", "stage"),
        ("stay", "min_days"),
        ("alerts", "value"),
        ("run-code", "check"),
        ("#8", "id"),
        ("acc", "id"),  # the id repeats
    } <= found
    python = next(e for e in errors if e["rule"] == "run-code")
    assert "Unknown rule kind 'python'" in python["messages"][0]
    applies_to = next(e for e in errors if e["field"] == "applies_to")
    assert any("colour" in m for m in applies_to["messages"])


def test_the_error_message_names_the_file_the_rule_and_the_field() -> None:
    broken = GOOD.replace("value: 0.8", 'value: "lots"')
    with pytest.raises(ValidationFailed) as caught:
        validate_policies([PolicyFile("floor.yaml", broken)])
    assert "floor.yaml, rule acc, field value" in caught.value.message


def test_yaml_that_does_not_parse_or_is_not_a_mapping_is_refused() -> None:
    errors = errors_of(PolicyFile("a.yaml", "name: [unclosed"), PolicyFile("b.yaml", "- 1\n- 2"))
    assert [(e["file"], e["field"]) for e in errors] == [("a.yaml", "_file"), ("b.yaml", "_file")]


def test_two_files_may_not_define_the_same_policy() -> None:
    errors = errors_of(PolicyFile("a.yaml", GOOD), PolicyFile("b.yaml", GOOD))
    assert errors[0]["field"] == "name" and errors[0]["file"] == "a.yaml, b.yaml"


def test_the_bundled_packs_are_valid() -> None:
    names = [p.name for p in validate_policies(bundled_policies())]
    assert names == ["baseline", "high-risk", "model-risk-sr11-7"]


def test_a_changed_file_makes_a_new_version_and_the_old_one_is_kept(store: Any) -> None:
    with store.session() as (session, ctx):
        first = PolicyService(session, ctx).apply([PolicyFile("floor.yaml", GOOD)])
        again = PolicyService(session, ctx).apply([PolicyFile("floor.yaml", GOOD)])
        changed = PolicyService(session, ctx).apply(
            [PolicyFile("floor.yaml", GOOD.replace("0.8", "0.85"))]
        )
        versions = PolicyService(session, ctx).versions("floor")
    assert [(a.status, a.version) for a in first + again + changed] == [
        ("created", 1),
        ("unchanged", 1),
        ("updated", 2),
    ]
    assert [v.document["rules"][0]["value"] for v in versions] == [0.8, 0.85]


def test_nothing_is_stored_when_any_file_is_wrong(store: Any) -> None:
    with store.session() as (session, ctx), pytest.raises(ValidationFailed):
        PolicyService(session, ctx).apply(
            [PolicyFile("floor.yaml", GOOD), PolicyFile("bad.yaml", EVERY_FIELD_WRONG)]
        )
    with store.session() as (session, ctx):
        assert PolicyService(session, ctx).list() == []


def test_the_bundled_packs_load_on_first_start_only(store: Any) -> None:
    with store.session() as (session, ctx):
        loaded = PolicyService(session, ctx).load_bundled_if_empty()
        assert [a.name for a in loaded] == ["baseline", "high-risk", "model-risk-sr11-7"]
        assert PolicyService(session, ctx).load_bundled_if_empty() == []


def test_policies_are_applied_by_admins_and_listed_with_their_versions(api: Any) -> None:
    files = {"files": [{"filename": "floor.yaml", "content": GOOD}]}
    assert api.post("/policies", ("dev", "contributor"), files).status_code == 403
    applied = api.post("/policies", ("root", "admin"), files)
    assert applied.status_code == 200, applied.json
    assert applied.json["applied"][0]["status"] == "created"
    changed = {"files": [{"filename": "floor.yaml", "content": GOOD.replace("0.8", "0.9")}]}
    assert api.post("/policies", ("root", "admin"), changed).json["applied"][0]["version"] == 2
    listing = api.get("/policies").json
    assert [(p["name"], p["current_version"]) for p in listing] == [("floor", 2)]
    assert listing[0]["current"]["document"]["rules"][0]["value"] == 0.9
    versions = api.get("/policies/floor/versions").json
    assert [v["version"] for v in versions] == [1, 2]
    assert api.get("/policies/nope/versions").status_code == 404
    audit = api.get("/audit?action=policy.applied").json
    assert [e["payload"]["version"] for e in audit["items"]] == [1, 2]


def test_a_wrong_policy_file_gets_a_422_listing_every_error(api: Any) -> None:
    body = {"files": [{"filename": "bad.yaml", "content": EVERY_FIELD_WRONG}]}
    response = api.post("/policies", ("root", "admin"), body)
    assert response.status_code == 422
    assert response.json["error"]["code"] == "validation_error"
    assert len(response.json["error"]["details"]["errors"]) >= 15
