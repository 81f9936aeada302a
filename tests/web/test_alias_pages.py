"""Aliases on the model and version pages through the Flask test client: each alias with its
version, since when and by whom, its history; a contributor sets, moves and removes a
non-governed alias with the page's forms; a governed one is moved by requesting a promotion,
which an approver approves on the version page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.api.factories import API, CHURN_FEATURES, create_model

from .html_tables import table_rows
from .test_version_pages import flashes

GOVERNING = """
name: champion-gate
applies_to: {risk_tier: [medium]}
rules:
  - {id: lineage, check: lineage_present, fields: [git_commit]}
governed_aliases: [champion]
"""
MODEL_URL = "/models/churn"


@pytest.fixture
def two_versions(client: Any, headers_for: Callable[..., dict[str, str]]) -> dict[str, str]:
    """``churn`` (medium risk) with v1 and v2, registered by ``dev``; dev's API headers."""
    dev = headers_for("contributor", "dev")
    create_model(client, headers_for("admin", "root"), "churn", risk_tier="medium")
    body = {"features": CHURN_FEATURES, "target": "churned", "lineage": {"git_commit": "abc1234"}}
    for _ in range(2):
        response = client.post(f"{API}/models/churn/versions", json=body, headers=dev)
        assert response.status_code == 201, response.get_data(as_text=True)
    return dev


def _page(browser: Any, url: str = MODEL_URL) -> str:
    response = browser.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)
    return str(response.get_data(as_text=True))


def _post(browser: Any, url: str, **data: Any) -> str:
    """POST a form and follow the redirect; the page it lands on."""
    response = browser.post(url, data=data, follow_redirects=True)
    assert response.status_code == 200, response.get_data(as_text=True)
    return str(response.get_data(as_text=True))


def _aliases(page: str) -> dict[str, list[str]]:
    if 'id="alias-table"' not in page:
        return {}
    return {row.cells[0]: row.cells[1:5] for row in table_rows(page, "alias-table")}


def test_a_contributor_sets_moves_and_removes_an_alias_from_the_model_page(
    two_versions: Any, signed_in: Any
) -> None:
    carl = signed_in("contributor", "carl")
    landed = _post(carl, f"{MODEL_URL}/aliases", alias="challenger", version="1", comment="try")
    assert flashes(landed) == ["Alias challenger now names v1."]
    [version, since, by, governed] = _aliases(landed)["challenger"]
    assert (version, by, governed) == ("v1", "carl", "no policy")
    assert since  # rendered from the stored instant

    moved = _post(carl, f"{MODEL_URL}/aliases", alias="challenger", version="2")
    assert _aliases(moved)["challenger"][0] == "v2"
    history = moved.split('id="alias-history"')[1].split("</details>")[0]
    assert "challenger →" in history and "try" in history and "(carl)" in history

    removed = _post(carl, f"{MODEL_URL}/aliases/challenger/remove")
    assert flashes(removed) == ["Alias challenger removed."]
    assert _aliases(removed) == {}


def test_a_refused_alias_form_is_flashed_and_changes_nothing(
    two_versions: Any, signed_in: Any
) -> None:
    carl = signed_in("contributor", "carl")
    bad = _post(carl, f"{MODEL_URL}/aliases", alias="Not A Slug", version="1")
    assert "lowercase slug" in flashes(bad)[0]
    missing = _post(carl, f"{MODEL_URL}/aliases", alias="champion", version="9")
    assert "9" in flashes(missing)[0]
    assert _aliases(missing) == {}


def test_a_viewer_sees_the_aliases_but_no_forms_and_may_not_post_them(
    two_versions: Any, client: Any, signed_in: Any
) -> None:
    client.put(f"{API}/models/churn/aliases/challenger", json={"version": 2}, headers=two_versions)
    ann = signed_in("viewer", "ann")
    page = _page(ann)
    assert _aliases(page)["challenger"][:3][0] == "v2"
    assert 'id="set-alias"' not in page and "Remove</button>" not in page
    refused = ann.post(f"{MODEL_URL}/aliases", data={"alias": "champion", "version": "1"})
    assert refused.status_code == 403


def test_a_governed_alias_moves_by_a_promotion_requested_and_approved_from_the_pages(
    two_versions: Any, client: Any, headers_for: Any, signed_in: Any
) -> None:
    policy = {"files": [{"filename": "champion.yaml", "content": GOVERNING}]}
    applied = client.post(f"{API}/policies", json=policy, headers=headers_for("admin", "root"))
    assert applied.status_code == 200, applied.get_data(as_text=True)
    carl = signed_in("contributor", "carl")
    page = _page(carl)
    assert 'id="promote-champion"' in page and "champion-gate" in page

    direct = _post(carl, f"{MODEL_URL}/aliases", alias="champion", version="1")
    assert "governed by policy 'champion-gate'" in flashes(direct)[0]
    assert _aliases(direct) == {}

    requested = _post(carl, f"{MODEL_URL}/aliases/champion/promotion", version="1", reason="won")
    [message] = flashes(requested)
    assert "to alias champion is pending approval" in message
    [row] = table_rows(requested, "promotion-requests")
    assert row.cells[0].endswith("→ alias champion")
    promotion_id = row.id.removeprefix("promotion-") if row.id else ""

    alice = signed_in("approver", "alice")
    version_url = f"{MODEL_URL}/versions/1"
    approved = _post(alice, f"/promotions/{promotion_id}/approve", comment="", next=version_url)
    assert "is now champion" in flashes(approved)[0]
    assert 'id="version-aliases"' in approved and "champion" in approved
    model_page = _page(alice)
    [version, _since, by, governed] = _aliases(model_page)["champion"]
    assert (version, by, governed) == ("v1", "alice", "champion-gate")
    assert "Remove alias champion" not in model_page  # a governed alias is not removed here


def test_the_version_page_names_the_aliases_pointing_at_it(
    two_versions: Any, client: Any, signed_in: Any
) -> None:
    for alias in ("challenger", "shadow"):
        client.put(f"{API}/models/churn/aliases/{alias}", json={"version": 2}, headers=two_versions)
    ann = signed_in("viewer", "ann")
    second = _page(ann, f"{MODEL_URL}/versions/2")
    assert "Named by aliases: challenger, shadow" in second
    first = _page(ann, f"{MODEL_URL}/versions/1")
    assert 'id="version-aliases"' not in first
