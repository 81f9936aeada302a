"""Versions through the HTTP API: registering from JSON, reading, listing."""

from __future__ import annotations

import hashlib

import pytest

from tests.api.factories import (
    API,
    CHURN_FEATURES,
    VERSIONS,
    assert_nothing_registered,
    audit_events,
    create_model,
    csv_bytes,
    declared_version,
    field_errors,
    reference_frame,
    register_version,
    skops_artifact,
    stage,
)

# registering with a JSON body -----------------------------------------------------------------


def test_registering_with_declared_features_answers_the_whole_version(
    client, contributor_headers, churn
):
    response = register_version(
        client,
        contributor_headers,
        metadata={
            "description": "retrained on October data",
            "tags": ["candidate"],
            "features": CHURN_FEATURES,
            "target": "churned",
            "prediction": "predicted_churn",
            "lineage": {
                "dataset_uri": "s3://bucket/train.parquet",
                "dataset_hash": "sha256:abc",
                "git_commit": "3f2a9c1",
                "params": {"C": 1.0},
                "metrics": {"auc": 0.91},
                "metadata": {"anything": "else"},
            },
            "model_card": {"intended_use": "churn outreach", "limitations": "EU only"},
        },
    )

    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.json
    assert isinstance(body.pop("id"), int)
    assert body == {
        "model": "churn",
        "version": 1,
        "stage": "none",
        "description": "retrained on October data",
        "tags": ["candidate"],
        "model_card": {"intended_use": "churn outreach", "limitations": "EU only"},
        "artifact": None,
        "schema": {
            "features": CHURN_FEATURES,
            "target": {"name": "churned", "kind": "categorical"},
            "prediction": {"name": "predicted_churn", "kind": "categorical"},
        },
        "lineage": {
            "dataset_uri": "s3://bucket/train.parquet",
            "dataset_hash": "sha256:abc",
            "git_commit": "3f2a9c1",
            "params": {"C": 1.0},
            "metrics": {"auc": 0.91},
            "metadata": {"anything": "else"},
        },
        "reference": None,
        "created_by": "data-scientist",
        "created_at": "2026-11-23T09:00:00.000000Z",
        "stage_changed_at": None,
        "triggered_by": None,
    }


def test_a_version_is_read_back_as_registered(client, contributor_headers, headers_for, churn):
    registered = declared_version(client, contributor_headers)

    response = client.get(f"{VERSIONS}/1", headers=headers_for("viewer"))

    assert response.status_code == 200
    assert response.json == registered


def test_lineage_left_out_is_stored_as_empty_fields(client, contributor_headers, churn):
    version = declared_version(client, contributor_headers)

    assert version["lineage"] == {
        "dataset_uri": None,
        "dataset_hash": None,
        "git_commit": None,
        "params": {},
        "metrics": {},
        "metadata": {},
    }
    assert (version["description"], version["tags"], version["model_card"]) == ("", [], {})


def test_versions_are_numbered_one_two_three_per_model(client, contributor_headers, churn):
    create_model(client, contributor_headers, "other")

    numbers = [declared_version(client, contributor_headers, "churn")["version"] for _ in range(3)]
    other = declared_version(client, contributor_headers, "other")

    assert numbers == [1, 2, 3]
    assert other["version"] == 1
    model = client.get(f"{API}/models/churn", headers=contributor_headers).json
    assert model["latest_version"] == 3


def test_registering_bumps_the_models_updated_at(client, contributor_headers, churn, clock):
    clock.advance(days=1)

    declared_version(client, contributor_headers)

    model = client.get(f"{API}/models/churn", headers=contributor_headers).json
    assert model["updated_at"] == "2026-11-24T09:00:00.000000Z"


def test_registering_on_an_unknown_model_is_not_found(client, contributor_headers):
    response = register_version(
        client, contributor_headers, "nope", metadata={"features": CHURN_FEATURES}
    )

    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


def test_a_viewer_may_not_register_a_version(client, headers_for, contributor_headers, churn):
    response = register_version(
        client, headers_for("viewer"), metadata={"features": CHURN_FEATURES}
    )

    assert response.status_code == 403
    assert client.get(VERSIONS, headers=contributor_headers).json["total"] == 0


def test_a_version_without_features_or_reference_data_is_refused(
    client, contributor_headers, churn, settings
):
    details = field_errors(register_version(client, contributor_headers, metadata={}))

    assert "features" in details
    assert_nothing_registered(client, contributor_headers, settings)


@pytest.mark.parametrize("described", [{"format": "skops"}, {"artifact_sha256": "a" * 64}])
def test_describing_an_artifact_without_sending_one_is_refused(
    client, contributor_headers, churn, settings, described
):
    details = field_errors(
        register_version(
            client, contributor_headers, metadata={"features": CHURN_FEATURES, **described}
        )
    )

    assert "artifact" in details
    assert_nothing_registered(client, contributor_headers, settings)


def test_registering_is_audited_with_the_artifact_reference_and_lineage(
    client, contributor_headers, churn
):
    artifact = skops_artifact()
    reference = reference_frame(12)

    register_version(
        client,
        contributor_headers,
        metadata={
            "target": "churned",
            "lineage": {
                "dataset_uri": "s3://b/t.csv",
                "git_commit": "abcdef1",
                "params": {"secretish": "not in the audit payload"},
            },
        },
        artifact=(artifact, "model.skops"),
        reference=(csv_bytes(reference), "ref.csv"),
    )

    [event] = audit_events(client, contributor_headers, "model_version", "churn/1")
    version = client.get(f"{VERSIONS}/1", headers=contributor_headers).json
    assert event["action"] == "version.registered"
    assert event["actor_name"] == "data-scientist"
    assert event["payload"] == {
        "version": 1,
        "artifact_sha256": hashlib.sha256(artifact).hexdigest(),
        "artifact_format": "skops",
        "reference_sha256": version["reference"]["sha256"],
        "reference_rows": 12,
        "features": 2,
        "lineage": {"dataset_uri": "s3://b/t.csv", "dataset_hash": None, "git_commit": "abcdef1"},
    }


# the version list -----------------------------------------------------------------------------


@pytest.fixture
def five_versions(client, contributor_headers, admin_headers, churn, clock):
    """v1…v5 an hour apart; v2 and v4 tagged ``gpu``; v3 in staging, v5 in production."""
    for number in range(1, 6):
        declared_version(client, contributor_headers, tags=["gpu"] if number % 2 == 0 else [])
        clock.advance(hours=1)
    stage(client, admin_headers, 3, stage="staging")
    stage(client, admin_headers, 5, stage="production")


def version_numbers(response) -> list[int]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return [v["version"] for v in response.json["items"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, [5, 4, 3, 2, 1]),
        ({"sort": "version"}, [1, 2, 3, 4, 5]),
        ({"sort": "-version"}, [5, 4, 3, 2, 1]),
        ({"sort": "created_at"}, [1, 2, 3, 4, 5]),
        ({"sort": "-created_at"}, [5, 4, 3, 2, 1]),
        ({"stage": "staging"}, [3]),
        ({"stage": "production"}, [5]),
        ({"stage": "none"}, [4, 2, 1]),
        ({"stage": "archived"}, []),
        ({"tag": "gpu"}, [4, 2]),
        ({"tag": "gpu", "sort": "version"}, [2, 4]),
        ({"tag": "cpu"}, []),
        ({"stage": "none", "tag": "gpu"}, [4, 2]),
    ],
)
def test_the_version_list_filters_by_stage_and_tag_and_sorts(
    client, contributor_headers, five_versions, query, expected
):
    response = client.get(VERSIONS, headers=contributor_headers, query_string=query)

    assert version_numbers(response) == expected
    assert response.json["total"] == len(expected)


def test_the_version_list_pages(client, contributor_headers, five_versions):
    pages = [
        client.get(
            VERSIONS,
            headers=contributor_headers,
            query_string={"sort": "version", "limit": 2, "page": page},
        ).json
        for page in (1, 2, 3)
    ]

    assert [[v["version"] for v in p["items"]] for p in pages] == [[1, 2], [3, 4], [5]]
    assert {p["total"] for p in pages} == {5}
    assert (pages[2]["page"], pages[2]["limit"]) == (3, 2)


def test_versions_registered_at_the_same_instant_list_in_registration_order(
    client, contributor_headers, churn
):
    for _ in range(4):
        declared_version(client, contributor_headers)

    oldest_first = client.get(
        VERSIONS, headers=contributor_headers, query_string={"sort": "created_at"}
    )
    newest_first = client.get(
        VERSIONS, headers=contributor_headers, query_string={"sort": "-created_at"}
    )

    assert version_numbers(oldest_first) == [1, 2, 3, 4]
    assert version_numbers(newest_first) == [4, 3, 2, 1]


def test_listing_the_versions_of_an_unknown_model_is_not_found(client, contributor_headers):
    assert client.get(f"{API}/models/nope/versions", headers=contributor_headers).status_code == 404
