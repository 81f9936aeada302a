"""Error answers of the live server arrive as typed exceptions carrying the request id."""

from __future__ import annotations

from typing import Any

import pytest

import assay


def test_unknown_model_raises_not_found_with_request_id(admin_client: assay.Client) -> None:
    with pytest.raises(assay.NotFound) as raised:
        admin_client.get_model("nope")

    error = raised.value
    assert (error.status, error.code) == (404, "not_found")
    assert error.request_id
    assert error.request_id in str(error)


def test_unknown_version_raises_not_found(admin_client: assay.Client, churn_model: Any) -> None:
    with pytest.raises(assay.NotFound):
        admin_client.get_version("churn", 7)


def test_creating_a_model_twice_raises_conflict(
    admin_client: assay.Client, churn_model: assay.Model
) -> None:
    with pytest.raises(assay.Conflict) as raised:
        admin_client.create_model("churn", "binary_classification")

    assert (raised.value.status, raised.value.code) == (409, "conflict")
    assert raised.value.request_id


def test_an_invalid_name_raises_validation_error_with_field_details(
    admin_client: assay.Client,
) -> None:
    with pytest.raises(assay.ValidationError) as raised:
        admin_client.create_model("Not A Slug!", "binary_classification")

    error = raised.value
    assert (error.status, error.code) == (422, "validation_error")
    assert "name" in error.details
    assert error.request_id


def test_an_invalid_feature_kind_names_the_field(
    admin_client: assay.Client, churn_model: Any
) -> None:
    with pytest.raises(assay.ValidationError) as raised:
        admin_client.register_version("churn", features={"age": "numberish"})

    assert "features" in raised.value.details


def test_an_unknown_token_raises_authentication_error(live_server: Any) -> None:
    with pytest.raises(assay.AuthenticationError) as raised:
        assay.Client(live_server.url, "asy_not_a_real_token").whoami()

    assert (raised.value.status, raised.value.code) == (401, "unauthenticated")
    assert raised.value.request_id


def test_a_viewer_creating_a_model_raises_permission_denied(client_as: Any) -> None:
    viewer = client_as("viewer")

    with pytest.raises(assay.PermissionDenied) as raised:
        viewer.create_model("churn", "binary_classification")

    assert (raised.value.status, raised.value.code) == (403, "permission_denied")
    assert raised.value.request_id


def test_a_contributor_may_not_change_stages(client_as: Any, admin_client: assay.Client) -> None:
    admin_client.create_model("churn", "binary_classification")
    admin_client.register_version("churn", features={"age": "numerical"})

    with pytest.raises(assay.PermissionDenied):
        client_as("contributor").set_stage("churn", 1, "production")
