"""Models through the SDK against a live server: create, read, list, update, archive."""

from __future__ import annotations

from datetime import timezone

import pytest

import assay


def test_create_model_returns_a_typed_model_with_aware_timestamps(
    admin_client: assay.Client,
) -> None:
    model = admin_client.create_model(
        "churn",
        "binary_classification",
        risk_tier="high",
        owner="ds-team",
        description="Who leaves next month",
        tags=["retail", "eu"],
    )

    assert isinstance(model, assay.Model)
    assert (model.name, model.task, model.risk_tier, model.owner) == (
        "churn",
        "binary_classification",
        "high",
        "ds-team",
    )
    assert model.tags == ("retail", "eu")
    assert model.archived is False
    assert model.latest_version is None
    assert model.created_at.tzinfo is not None
    assert model.created_at.utcoffset() == timezone.utc.utcoffset(None)


def test_create_model_defaults_to_low_risk(admin_client: assay.Client) -> None:
    assert admin_client.create_model("fraud", "regression").risk_tier == "low"


def test_get_model_returns_what_was_created(
    admin_client: assay.Client, churn_model: assay.Model
) -> None:
    assert admin_client.get_model("churn") == churn_model


def test_list_models_walks_every_page(admin_client: assay.Client) -> None:
    for index in range(5):
        admin_client.create_model(f"model-{index}", "regression")
    admin_client.page_size = 2

    models = admin_client.list_models(sort="name")

    assert [m.name for m in models] == [f"model-{i}" for i in range(5)]


def test_list_models_filters_by_query_task_risk_tier_owner_and_tag(
    admin_client: assay.Client,
) -> None:
    admin_client.create_model("churn", "binary_classification", risk_tier="high", tags=["retail"])
    admin_client.create_model("churn-eu", "binary_classification", owner="eu-team")
    admin_client.create_model("price", "regression", risk_tier="high", tags=["retail"])

    def names(**filters: object) -> list[str]:
        filters = {"sort": "name", **filters}
        return [m.name for m in admin_client.list_models(**filters)]  # type: ignore[arg-type]

    assert names(q="churn") == ["churn", "churn-eu"]
    assert names(task="regression") == ["price"]
    assert names(risk_tier="high") == ["churn", "price"]
    assert names(owner="eu-team") == ["churn-eu"]
    assert names(tag="retail") == ["churn", "price"]
    assert names(sort="-name") == ["price", "churn-eu", "churn"]


def test_archived_models_are_listed_only_when_asked(admin_client: assay.Client) -> None:
    admin_client.create_model("old", "regression")
    admin_client.create_model("new", "regression")

    archived = admin_client.archive_model("old")

    assert archived.archived is True
    assert archived.archived_at is not None
    assert [m.name for m in admin_client.list_models()] == ["new"]
    assert [m.name for m in admin_client.list_models(include_archived=True)] == ["new", "old"]
    assert admin_client.restore_model("old").archived is False


def test_update_model_changes_only_the_fields_given(
    admin_client: assay.Client, churn_model: assay.Model
) -> None:
    updated = admin_client.update_model("churn", description="Churn within 30 days", tags=["v2"])

    assert updated.description == "Churn within 30 days"
    assert updated.tags == ("v2",)
    assert updated.owner == churn_model.owner
    assert updated.risk_tier == churn_model.risk_tier


def test_changing_the_risk_tier_needs_an_admin(
    admin_client: assay.Client, client_as: object, churn_model: assay.Model
) -> None:
    contributor = client_as("contributor")  # type: ignore[operator]

    with pytest.raises(assay.PermissionDenied):
        contributor.update_model("churn", risk_tier="low")
    assert admin_client.update_model("churn", risk_tier="low").risk_tier == "low"
