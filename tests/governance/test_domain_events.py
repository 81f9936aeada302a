"""Domain events reach their subscribers inside the transaction of the change that caused them,
through the bus the composition root built (here with one more subscriber that records)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from assay_server.app import create_app
from assay_server.events import DomainEvent
from assay_server.wiring import wire

from .test_promotions_api import ALICE, ROOT, V1, benchmark, request, setup_model

RECORDED = (
    "version.registered",
    "promotion.requested",
    "promotion.approved",
    "stage.changed",
)
seen: list[DomainEvent] = []


def record(session: Any, ctx: Any, event: DomainEvent) -> None:
    assert session.in_transaction()
    seen.append(event)


@pytest.fixture
def app(settings: Any, db: Any, clock: Any) -> Any:
    """The app, wired as everywhere, plus a subscriber that records what it receives."""
    wired = wire()
    recording = replace(wired, events=wired.events.with_subscriber(record, *RECORDED))
    application = create_app(settings, database=db, clock=clock, wiring=recording)
    application.config["TESTING"] = True
    seen.clear()
    return application


def test_registry_and_promotion_events_are_published_in_the_changes_transaction(
    api: Any,
) -> None:
    setup_model(api, required=1)
    benchmark(api, 0.9)
    promotion = request(api)
    api.post(f"/promotions/{promotion['id']}/approve", ALICE)
    api.post(f"{V1}/stage", ROOT, {"stage": "archived"})

    assert [event.name for event in seen] == [
        "version.registered",
        "promotion.requested",
        "promotion.approved",
        "stage.changed",
        "stage.changed",
    ]
    approved = seen[2].payload
    assert approved["approvers"] == ["alice"] and approved["promotion_id"] == promotion["id"]
    changes = [event.payload for event in seen if event.name == "stage.changed"]
    assert [(c["from"], c["stage"]) for c in changes] == [
        ("none", "production"),
        ("production", "archived"),
    ]


def test_a_refused_change_publishes_nothing_that_stays(api: Any) -> None:
    setup_model(api, required=1)
    promotion = request(api)  # blocked: no benchmark yet
    refused = api.post(f"/promotions/{promotion['id']}/approve", ALICE)
    assert refused.status_code == 409
    assert [event.name for event in seen] == ["version.registered", "promotion.requested"]


def test_an_unknown_event_name_is_refused_where_it_is_published(db: Any) -> None:
    wired = wire()
    with pytest.raises(ValueError, match="no such events"):
        wired.events.with_subscriber(record, "promotion.aproved")
