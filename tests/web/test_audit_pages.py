"""The audit log page: the chain's status on top, filters, paging newest first, the export as
a download, and hostile text kept as text."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from markupsafe import escape
from sqlalchemy import text

from assay.auditchain import verify_export_lines
from assay_server.web import audit_pages
from tests.api.factories import API, create_model

from .html_tables import table_rows
from .scenario import HOSTILE


def _api(client: Any, headers: dict[str, str], path: str, **query: Any) -> Any:
    response = client.get(f"{API}{path}", headers=headers, query_string=query)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json


def _page(browser: Any, path: str, status: int = 200) -> str:
    response = browser.get(path)
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    return response.get_data(as_text=True)


def _seqs(page: str) -> list[int]:
    return [int(row.cells[0]) for row in table_rows(page, "audit-events")]


@pytest.fixture
def trail(client: Any, headers_for: Any) -> dict[str, dict[str, str]]:
    """Three models made by two people, one changed: five events besides the tokens'."""
    people = {"ann": headers_for("admin", "ann"), "bob": headers_for("contributor", "bob")}
    for name in ("alpha", "beta"):
        create_model(client, people["ann"], name)
    create_model(client, people["bob"], "gamma")
    response = client.patch(
        f"{API}/models/alpha",
        json={"owner": "team-a", "description": HOSTILE},
        headers=people["ann"],
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return people


def test_the_log_lists_every_event_newest_first_under_an_intact_chain(client, signed_in, trail):
    viewer = signed_in("viewer", "auditor")
    page = _page(viewer, "/audit")
    verified = _api(client, trail["ann"], "/audit/verify")
    assert verified["ok"] is True
    assert 'class="chain chain-ok"' in page
    assert f"{verified['checked']:,} events recomputed" in page
    assert "no signed checkpoint yet" in page

    events = _api(client, trail["ann"], "/audit", limit=500)["items"]
    assert _seqs(page) == [event["seq"] for event in reversed(events)]
    [updated] = [row for row in table_rows(page, "audit-events") if "model.updated" in row.cells]
    assert updated.cells[2:5] == ["ann", "model.updated", "model alpha"]
    assert "owner: from: —, to: team-a" in updated.cells[5]
    assert '<strong><a href="/models/alpha">alpha</a></strong>' in page
    assert f"{len(events)} matching events." in page


def test_the_last_signed_checkpoint_is_named_once_an_export_signed_one(client, signed_in, trail):
    viewer = signed_in("viewer", "auditor")
    assert viewer.get("/audit/export").status_code == 200
    head = _api(client, trail["ann"], "/audit/checkpoints")["items"][-1]
    page = _page(viewer, "/audit")
    assert f"last signed checkpoint at event {head['seq']}" in page


def test_filters_narrow_by_actor_action_target_and_days(client, signed_in, trail, clock):
    viewer = signed_in("viewer", "auditor")
    by_bob = _page(viewer, "/audit?actor=bob")
    assert {row.cells[2] for row in table_rows(by_bob, "audit-events")} == {"bob"}
    created = _page(viewer, "/audit?action=model.created")
    assert [row.cells[4] for row in table_rows(created, "audit-events")] == [
        "model gamma",
        "model beta",
        "model alpha",
    ]
    about_alpha = _page(viewer, "/audit?target_type=model&target_id=alpha")
    assert [row.cells[3] for row in table_rows(about_alpha, "audit-events")] == [
        "model.updated",
        "model.created",
    ]
    today = clock().date()
    same_day = _page(viewer, f"/audit?since={today}&until={today}&action=model.created")
    assert len(table_rows(same_day, "audit-events")) == 3
    tomorrow = today + timedelta(days=1)
    later = _page(viewer, f"/audit?since={tomorrow}")
    assert "No event matches these filters." in later
    assert "0 matching events." in later
    # the filters' choices come from the trail itself
    assert "<option selected>model.created</option>" in created


def test_pages_go_back_in_time_without_gaps(client, signed_in, trail, monkeypatch):
    monkeypatch.setattr(audit_pages, "PAGE_SIZE", 2)
    viewer = signed_in("viewer", "auditor")
    everything = [e["seq"] for e in _api(client, trail["ann"], "/audit", limit=500)["items"]]
    seen: list[int] = []
    path = "/audit"
    while True:
        page = _page(viewer, path)
        seen += _seqs(page)
        if 'id="older"' not in page:
            break
        path = page.split('id="older" href="')[1].split('"')[0].replace("&amp;", "&")
    assert seen == sorted(everything, reverse=True)
    assert len(seen) > 2  # it did page


def test_a_changed_event_turns_the_status_red_with_its_seq(db, signed_in, trail, client):
    [event] = _api(client, trail["ann"], "/audit", action="model.updated")["items"]
    with db.unit_of_work() as session:
        session.execute(
            text("UPDATE audit_events SET actor_name = 'mallory' WHERE seq = :seq"),
            {"seq": event["seq"]},
        )
    page = _page(signed_in("viewer", "auditor"), "/audit")
    assert 'class="chain chain-broken" role="alert"' in page
    assert f"Chain broken at event {event['seq']}" in page


def test_the_export_is_a_download_that_verifies_offline(signed_in, trail):
    response = signed_in("viewer", "auditor").get("/audit/export")
    assert response.status_code == 200
    assert response.mimetype == "application/x-ndjson"
    assert response.headers["Content-Disposition"] == 'attachment; filename="assay-audit.jsonl"'
    lines = response.get_data().splitlines()
    verified = verify_export_lines(lines)
    assert verified.ok, verified.message
    assert b"chain_head" in lines[-1]


def test_hostile_text_in_a_payload_stays_text(signed_in, trail):
    page = _page(signed_in("viewer", "auditor"), "/audit?target_id=alpha")
    assert HOSTILE not in page
    assert str(escape(HOSTILE)) in page


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("since=yesterday", "is not a date as YYYY-MM-DD"),
        ("since=2026-02-02&until=2026-02-01", "The time range ends before it starts."),
        ("before=-3", "is not an event number"),
        (f"actor={'x' * 201}", "longer than 200 characters"),
    ],
)
def test_bad_filters_get_a_page_that_says_why(signed_in, query, message):
    page = _page(signed_in("viewer", "auditor"), f"/audit?{query}", status=422)
    assert message in page


def test_signed_out_visitors_are_sent_to_sign_in(client):
    for path in ("/audit", "/audit/export"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login?next=")
