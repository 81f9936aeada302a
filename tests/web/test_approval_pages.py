"""The approvals inbox through the Flask test client: what waits for whom (and what does not),
deciding from the list through the governance service, and the paged history."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from assay_server.web import approval_pages
from tests.api.factories import API

from .html_tables import table_rows
from .test_version_pages import LINEAGE, MODEL, Seeded, api_get, flashes, seed


def _inbox(browser: Any, query: str = "") -> str:
    response = browser.get(f"/approvals{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return str(response.get_data(as_text=True))


def _waiting_ids(page: str) -> list[str | None]:
    if 'id="waiting"' not in page:
        return []
    return [row.id for row in table_rows(page, "waiting")]


@pytest.fixture
def seeded(client: Any, token_for: Callable[..., str]) -> Seeded:
    return seed(client, token_for, required=2)


def test_a_request_waits_for_approvers_other_than_its_requester(seeded, signed_in):
    alice = _inbox(signed_in("approver", "alice"))
    [row] = table_rows(alice, "waiting")
    assert row.id == f"waiting-{seeded.promotion_id}"
    assert row.cells[1:3] == ["plans v1", "staging"]
    assert "by rita" in row.cells[3] and "ready for the pilot" in row.cells[3]
    assert "ui-gate/lineage: pass" in row.cells[4] and "ui-gate/accuracy: pass" in row.cells[4]
    assert row.cells[5] == "0 of 2"
    assert alice.count("Approve</button>") == 1 and alice.count("Reject</button>") == 1

    assert _waiting_ids(_inbox(signed_in("approver", "rita"))) == []  # she asked for it
    viewer = _inbox(signed_in("viewer", "ann"))
    assert "Only approvers decide promotions" in viewer and "Approve</button>" not in viewer


def test_an_approver_who_registered_the_version_is_not_asked(client, token_for, signed_in):
    seeded = seed(client, token_for, requester="carl")
    registrant = token_for("approver", "vic")
    response = client.post(
        f"{API}/models/{MODEL}/versions",
        json={
            "features": [{"name": "age", "kind": "numerical"}],
            "target": "churned",
            "lineage": LINEAGE,
        },
        headers={"Authorization": f"Bearer {registrant}"},
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    benchmark = {"name": "holdout", "metrics": {"accuracy": 0.95, "f1": 0.9}}
    client.post(
        f"{API}/models/{MODEL}/versions/2/benchmarks",
        json=benchmark,
        headers=seeded.headers("carl"),
    )
    second = client.post(
        f"{API}/models/{MODEL}/versions/2/promotions",
        json={"stage": "staging"},
        headers=seeded.headers("carl"),
    ).json
    assert second["status"] == "pending_approval", second
    vic = _waiting_ids(_inbox(signed_in("approver", "vic")))
    assert vic == [f"waiting-{seeded.promotion_id}"]  # not v2, which vic registered
    alice = _waiting_ids(_inbox(signed_in("approver", "alice")))
    assert alice == [f"waiting-{seeded.promotion_id}", f"waiting-{second['id']}"]


def test_approving_from_the_inbox_moves_the_request_along(client, seeded, signed_in):
    alice = signed_in("approver", "alice")
    response = alice.post(f"/promotions/{seeded.promotion_id}/approve", data={"next": "/approvals"})
    assert response.headers["Location"] == "/approvals"
    page = _inbox(alice)
    assert flashes(page) == [
        f"Promotion request {seeded.promotion_id}: your approval is recorded (1 of 2)."
    ]
    assert _waiting_ids(page) == []  # decided by her
    bob = signed_in("approver", "bob")
    [row] = table_rows(_inbox(bob), "waiting")
    assert row.cells[5].startswith("1 of 2") and "alice approved" in row.cells[5]
    bob.post(f"/promotions/{seeded.promotion_id}/approve", data={"comment": "ok"})
    page = _inbox(bob)
    assert flashes(page) == [
        f"Promotion request {seeded.promotion_id} approved: plans v1 is now in staging."
    ]
    [decided] = table_rows(page, "history")
    assert decided.id == f"decided-{seeded.promotion_id}"
    assert decided.cells[3] == "approved" and decided.cells[4] == "rita"
    assert "alice approved" in decided.cells[5] and "bob approved: “ok”" in decided.cells[5]
    assert api_get(client, seeded, f"/models/{MODEL}/versions/1")["stage"] == "staging"
    events = api_get(client, seeded, "/audit", action="promotion.approved")["items"]
    assert [e["actor_name"] for e in events] == ["bob"]


def test_rejecting_from_the_inbox_closes_the_request(client, seeded, signed_in):
    bob = signed_in("approver", "bob")
    bob.post(f"/promotions/{seeded.promotion_id}/reject", data={"comment": "not yet"})
    page = _inbox(bob)
    assert flashes(page) == [f"Promotion request {seeded.promotion_id} rejected."]
    assert _waiting_ids(page) == []
    [decided] = table_rows(page, "history")
    assert decided.cells[3] == "rejected" and "bob rejected: “not yet”" in decided.cells[5]
    assert api_get(client, seeded, f"/promotions/{seeded.promotion_id}")["status"] == "rejected"


def test_the_history_is_paged_newest_first(client, seeded, signed_in, monkeypatch):
    monkeypatch.setattr(approval_pages, "HISTORY_PAGE_SIZE", 2)
    url = f"{API}/promotions/{seeded.promotion_id}/cancel"
    assert client.post(url, json={}, headers=seeded.headers("rita")).status_code == 200
    cancelled = [seeded.promotion_id]
    for _ in range(2):
        opened = client.post(
            f"{API}/models/{MODEL}/versions/1/promotions",
            json={"stage": "staging"},
            headers=seeded.headers("rita"),
        ).json
        cancel = f"{API}/promotions/{opened['id']}/cancel"
        assert client.post(cancel, json={}, headers=seeded.headers("rita")).status_code == 200
        cancelled.append(opened["id"])
    ann = signed_in("viewer", "ann")
    first = _inbox(ann)
    assert [row.id for row in table_rows(first, "history")] == [
        f"decided-{cancelled[2]}",
        f"decided-{cancelled[1]}",
    ]
    assert "page 1 of 2" in first and 'href="/approvals?page=2"' in first
    second = _inbox(ann, "?page=2")
    assert [row.id for row in table_rows(second, "history")] == [f"decided-{cancelled[0]}"]
    assert 'href="/approvals?page=1"' in second and "page=3" not in second
    assert ann.get("/approvals?page=0").status_code == 422
    assert ann.get("/approvals?page=x").status_code == 422
