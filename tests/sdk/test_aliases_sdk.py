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
