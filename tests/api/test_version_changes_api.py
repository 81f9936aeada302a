"""What may change after registration: the documentation of a version, and its stage."""

from __future__ import annotations

import pytest

from tests.api.factories import (
    API,
    CHURN_FEATURES,
    VERSIONS,
    audit_actions,
    audit_events,
    declared_version,
    field_errors,
    stage,
)

# changing a version ---------------------------------------------------------------------------


def test_a_contributor_changes_description_tags_and_model_card_each_audited(
    client, contributor_headers, churn
):
    declared_version(client, contributor_headers, description="first", tags=["a"])

    response = client.patch(
        f"{VERSIONS}/1",
        headers=contributor_headers,
        json={"description": "second", "tags": ["a", "b"], "model_card": {"limitations": "none"}},
    )

    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.json
    assert (body["description"], body["tags"], body["model_card"]) == (
        "second",
        ["a", "b"],
        {"limitations": "none"},
    )
    assert client.get(f"{VERSIONS}/1", headers=contributor_headers).json == body
    events = audit_events(client, contributor_headers, "model_version", "churn/1")
    assert [e["action"] for e in events] == ["version.registered", "version.updated"]
    assert events[1]["payload"] == {
        "changes": {
            "description": {"from": "first", "to": "second"},
            "tags": {"from": ["a"], "to": ["a", "b"]},
            "model_card": {"from": {}, "to": {"limitations": "none"}},
        }
    }


def test_a_version_change_that_changes_nothing_is_not_audited(client, contributor_headers, churn):
    declared_version(client, contributor_headers, description="same")

    response = client.patch(
        f"{VERSIONS}/1", headers=contributor_headers, json={"description": "same"}
    )

    assert response.status_code == 200
    assert audit_actions(client, contributor_headers, "model_version", "churn/1") == [
        "version.registered"
    ]


@pytest.mark.parametrize(
    "change",
    [
        {"lineage": {"git_commit": "abcdef1"}},
        {"stage": "production"},
        {"features": CHURN_FEATURES},
        {"artifact_sha256": "a" * 64},
        {"version": 2},
    ],
)
def test_only_the_documentation_of_a_version_may_change(client, contributor_headers, churn, change):
    before = declared_version(client, contributor_headers)

    response = client.patch(
        f"{VERSIONS}/1", headers=contributor_headers, json={"description": "x", **change}
    )

    details = field_errors(response)
    assert set(details) == set(change)
    assert details[next(iter(change))] == ["Unknown field."]
    assert client.get(f"{VERSIONS}/1", headers=contributor_headers).json == before


def test_changing_a_version_of_an_archived_model_is_a_conflict(
    client, contributor_headers, admin_headers, churn
):
    declared_version(client, contributor_headers)
    client.post(f"{API}/models/churn/archive", headers=admin_headers)

    response = client.patch(
        f"{VERSIONS}/1", headers=contributor_headers, json={"description": "late"}
    )

    assert response.status_code == 409
    assert client.get(f"{VERSIONS}/1", headers=contributor_headers).json["description"] == ""


def test_changing_an_unknown_version_is_not_found(client, contributor_headers, churn):
    response = client.patch(f"{VERSIONS}/3", headers=contributor_headers, json={"description": "x"})

    assert response.status_code == 404


def test_a_viewer_may_not_change_a_version(client, contributor_headers, headers_for, churn):
    declared_version(client, contributor_headers)

    response = client.patch(
        f"{VERSIONS}/1", headers=headers_for("viewer"), json={"description": "x"}
    )

    assert response.status_code == 403


# stages ---------------------------------------------------------------------------------------


def test_an_admin_moves_a_version_to_a_stage_and_it_is_audited(
    client, contributor_headers, admin_headers, churn, clock
):
    declared_version(client, contributor_headers)
    clock.advance(hours=3)

    response = stage(
        client, admin_headers, 1, stage="staging", reason="canary", comment="shadow traffic"
    )

    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.json["stage"] == "staging"
    assert response.json["stage_changed_at"] == "2026-11-23T12:00:00.000000Z"
    event = audit_events(client, admin_headers, "model_version", "churn/1")[-1]
    assert (event["action"], event["actor_name"]) == ("version.stage_changed", "root")
    assert event["payload"] == {
        "from": "none",
        "to": "staging",
        "comment": "override: canary — shadow traffic",
    }


@pytest.mark.parametrize("reason", [None, "", "   "])
@pytest.mark.parametrize("target", ["staging", "production"])
def test_a_direct_move_past_the_gate_needs_a_reason(
    client, contributor_headers, admin_headers, churn, target, reason
):
    declared_version(client, contributor_headers)

    response = stage(client, admin_headers, 1, stage=target, reason=reason)

    assert response.status_code == 422
    assert "reason" in response.json["error"]["details"]
    assert client.get(f"{VERSIONS}/1", headers=contributor_headers).json["stage"] == "none"
    assert audit_actions(client, contributor_headers, "model_version", "churn/1") == [
        "version.registered"
    ]


def test_archiving_a_version_needs_no_reason(client, contributor_headers, admin_headers, churn):
    declared_version(client, contributor_headers)
    stage(client, admin_headers, 1, stage="production")

    response = stage(client, admin_headers, 1, stage="archived")

    assert response.status_code == 200, response.get_data(as_text=True)
    event = audit_events(client, admin_headers, "model_version", "churn/1")[-1]
    assert event["payload"] == {"from": "production", "to": "archived", "comment": None}


@pytest.mark.parametrize("role", ["viewer", "contributor", "approver"])
def test_only_an_admin_changes_a_stage(client, contributor_headers, headers_for, churn, role):
    declared_version(client, contributor_headers)

    response = stage(client, headers_for(role), 1, stage="production")

    assert response.status_code == 403
    assert client.get(f"{VERSIONS}/1", headers=contributor_headers).json["stage"] == "none"
    assert audit_actions(client, contributor_headers, "model_version", "churn/1") == [
        "version.registered"
    ]


def test_moving_a_version_to_the_stage_it_is_in_is_a_conflict(
    client, contributor_headers, admin_headers, churn
):
    declared_version(client, contributor_headers)
    stage(client, admin_headers, 1, stage="production")

    response = stage(client, admin_headers, 1, stage="production")

    assert response.status_code == 409
    assert audit_actions(client, admin_headers, "model_version", "churn/1") == [
        "version.registered",
        "version.stage_changed",
    ]


def test_archive_existing_moves_the_previous_production_version_to_archived(
    client, contributor_headers, admin_headers, churn
):
    for _ in range(3):
        declared_version(client, contributor_headers)
    stage(client, admin_headers, 1, stage="production")
    stage(client, admin_headers, 2, stage="staging")

    response = stage(client, admin_headers, 3, stage="production", archive_existing=True)

    assert response.status_code == 200
    stages = {
        v["version"]: v["stage"] for v in client.get(VERSIONS, headers=admin_headers).json["items"]
    }
    assert stages == {1: "archived", 2: "staging", 3: "production"}
    archived = audit_events(client, admin_headers, "model_version", "churn/1")[-1]
    assert archived["action"] == "version.stage_changed"
    assert archived["payload"] == {
        "from": "production",
        "to": "archived",
        "comment": "archived: v3 moved to production",
    }
    promoted = audit_events(client, admin_headers, "model_version", "churn/3")[-1]
    assert promoted["payload"] == {
        "from": "none",
        "to": "production",
        "comment": "override: set up by the test",
    }
    assert promoted["seq"] > archived["seq"]


def test_without_archive_existing_the_previous_production_version_stays(
    client, contributor_headers, admin_headers, churn
):
    declared_version(client, contributor_headers)
    declared_version(client, contributor_headers)
    stage(client, admin_headers, 1, stage="production")

    stage(client, admin_headers, 2, stage="production")

    stages = [v["stage"] for v in client.get(VERSIONS, headers=admin_headers).json["items"]]
    assert stages == ["production", "production"]


def test_changing_a_stage_on_an_archived_model_is_a_conflict(
    client, contributor_headers, admin_headers, churn
):
    declared_version(client, contributor_headers)
    client.post(f"{API}/models/churn/archive", headers=admin_headers)

    response = stage(client, admin_headers, 1, stage="production")

    assert response.status_code == 409


def test_changing_the_stage_of_an_unknown_version_is_not_found(client, admin_headers, churn):
    assert stage(client, admin_headers, 1, stage="production").status_code == 404
