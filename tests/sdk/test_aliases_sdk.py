"""Aliases through the SDK against a live server: set, move, read by alias, list now and at an
instant, history, remove, and the errors a caller sees."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

import assay
from assay._aliases import Alias


@pytest.fixture
def two_versions(admin_client: assay.Client, churn_model: assay.Model) -> None:
    """``churn`` with versions 1 and 2."""
    for description in ("baseline", "retrained"):
        admin_client.register_version(
            "churn", description=description, features={"age": "numerical"}
        )


def test_serving_code_loads_the_champion_by_alias_as_it_moves(
    client_as, admin_client: assay.Client, two_versions: None
) -> None:
    contributor = client_as("contributor")
    set_ = contributor.set_alias("churn", "champion", 1)
    assert isinstance(set_, Alias) and (set_.alias, set_.version) == ("champion", 1)
    assert contributor.get_version("churn", alias="champion").description == "baseline"

    before_move = datetime.now(timezone.utc)
    challenger = contributor.get_version("churn", 2)
    contributor.set_alias("churn", "challenger", challenger)
    contributor.set_alias("churn", "champion", 2, comment="won the shadow test")

    assert contributor.get_version("churn", alias="champion").description == "retrained"
    now = {a.alias: a.version for a in contributor.list_aliases("churn")}
    assert now == {"champion": 2, "challenger": 2}
    then = {a.alias: a.version for a in contributor.list_aliases("churn", at=before_move)}
    assert then == {"champion": 1}

    history = contributor.alias_history("churn", alias="champion")
    assert [(s.version, s.comment, s.left_at is None) for s in history] == [
        (1, None, False),
        (2, "won the shadow test", True),
    ]

    contributor.delete_alias("churn", "challenger", comment="shadow test over")
    assert [a.alias for a in contributor.list_aliases("churn")] == ["champion"]
    with pytest.raises(assay.NotFound):
        contributor.get_version("churn", alias="challenger")


def test_the_errors_of_aliases_reach_the_caller_as_sdk_errors(
    client_as, admin_client: assay.Client, two_versions: None
) -> None:
    viewer = client_as("viewer")
    with pytest.raises(assay.PermissionDenied):
        viewer.set_alias("churn", "champion", 1)
    with pytest.raises(assay.NotFound):
        admin_client.set_alias("churn", "champion", 9)
    with pytest.raises(assay.ValidationError):
        admin_client.set_alias("churn", "Champion", 1)
    with pytest.raises(assay.NotFound):
        admin_client.delete_alias("churn", "champion")
    with pytest.raises(ValueError):
        admin_client.get_version("churn", 1, alias="champion")
    assert admin_client.get_version("churn", 1).version == 1  # by number, as before


GOVERNING = """
name: champion-gate
applies_to: {models: [churn]}
rules:
  - {id: lineage, check: lineage_present, fields: [git_commit]}
governed_aliases: [champion]
"""


def test_a_governed_alias_moves_through_a_promotion_requested_and_approved_from_the_sdk(
    client_as, admin_client: assay.Client, churn_model: assay.Model, tmp_path
) -> None:
    policy = tmp_path / "champion.yaml"
    policy.write_text(GOVERNING)
    admin_client.apply_policies(policy)
    scientist = client_as("contributor")
    scientist.register_version(
        "churn", features={"age": "numerical"}, lineage={"git_commit": "abc1234"}
    )
    with pytest.raises(assay.Conflict) as refused:
        scientist.set_alias("churn", "champion", 1)
    assert refused.value.details["policies"] == ["champion-gate"]

    request = scientist.request_promotion("churn", 1, alias="champion", reason="won")
    assert isinstance(request, assay.PromotionRequest)
    assert (request.stage, request.alias, request.target) == (None, "champion", "alias champion")
    assert request.status == "pending_approval"
    with pytest.raises(assay.PermissionDenied):  # a contributor decides nothing
        scientist.approve(request.id)
    approved = client_as("approver").approve(request.id, comment="checked")
    assert approved.status == "approved"
    assert scientist.get_version("churn", alias="champion").version == 1
    [stay] = scientist.alias_history("churn", alias="champion")
    assert (
        isinstance(stay, assay.AliasStay)
        and stay.comment == f"promotion request {request.id} approved"
    )
    with pytest.raises(assay.ValidationError):
        scientist.request_promotion("churn", 1, "production", alias="champion")


def test_the_alias_types_are_exported_with_docstrings() -> None:
    for name in ("Alias", "AliasStay", "PromotionRequest"):
        exported = getattr(assay, name)
        assert name in assay.__all__ and exported.__doc__
    assert assay.Alias is Alias
