"""Models through the HTTP API: create, read, list, change, archive, and the audit trail."""

from __future__ import annotations

import pytest

from tests.api.factories import (
    API,
    audit_actions,
    audit_events,
    create_model,
    declared_version,
    model_body,
    register_version,
)

MODELS = f"{API}/models"


@pytest.fixture
def viewer_headers(headers_for):
    return headers_for("viewer", "auditor")


def names(response) -> list[str]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return [m["name"] for m in response.json["items"]]


# create ---------------------------------------------------------------------------------------


def test_creating_a_model_answers_201_with_every_field(client, contributor_headers, clock):
    response = client.post(
        MODELS,
        headers=contributor_headers,
        json={
            "name": "churn",
            "task": "binary_classification",
            "risk_tier": "high",
            "owner": "ds-team",
            "description": "Who leaves next month",
            "tags": ["retail", "eu"],
        },
    )

    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.json
    assert isinstance(body.pop("id"), int)
    assert body == {
        "name": "churn",
        "task": "binary_classification",
        "risk_tier": "high",
        "owner": "ds-team",
        "description": "Who leaves next month",
        "tags": ["retail", "eu"],
        "classes": None,
        "retention_days": 90,
        "archived": False,
        "archived_at": None,
        "latest_version": None,
        "created_by": "data-scientist",
        "created_at": "2026-11-23T09:00:00.000000Z",
        "updated_at": "2026-11-23T09:00:00.000000Z",
    }


def test_a_new_model_defaults_to_low_risk_no_owner_and_no_tags(client, contributor_headers):
    body = create_model(client, contributor_headers, "fraud", task="regression")

    assert (body["risk_tier"], body["owner"], body["description"], body["tags"]) == (
        "low",
        None,
        "",
        [],
    )


def test_creating_a_model_with_a_taken_name_is_a_conflict(client, contributor_headers):
    create_model(client, contributor_headers, "churn")

    response = client.post(
        MODELS, json=model_body("churn", task="regression"), headers=contributor_headers
    )

    assert response.status_code == 409
    assert response.json["error"]["code"] == "conflict"
    assert "churn" in response.json["error"]["message"]
    listed = client.get(MODELS, headers=contributor_headers).json
    assert listed["total"] == 1 and listed["items"][0]["task"] == "binary_classification"


def test_a_viewer_may_not_create_a_model(client, viewer_headers):
    response = client.post(MODELS, json=model_body(), headers=viewer_headers)

    assert response.status_code == 403
    assert client.get(MODELS, headers=viewer_headers).json["total"] == 0


def test_creating_a_model_is_audited_with_its_task_tier_owner_and_tags(client, contributor_headers):
    create_model(client, contributor_headers, "churn", risk_tier="medium", owner="ds", tags=["a"])

    [event] = audit_events(client, contributor_headers, "model", "churn")

    assert event["action"] == "model.created"
    assert event["actor_name"] == "data-scientist"
    assert event["payload"] == {
        "task": "binary_classification",
        "risk_tier": "medium",
        "owner": "ds",
        "tags": ["a"],
        "retention_days": 90,
    }


# read -----------------------------------------------------------------------------------------


def test_a_model_is_read_back_by_name(client, contributor_headers, viewer_headers):
    created = create_model(client, contributor_headers, "churn", owner="ds-team")

    response = client.get(f"{MODELS}/churn", headers=viewer_headers)

    assert response.status_code == 200
    assert response.json == created


def test_reading_an_unknown_model_is_not_found(client, viewer_headers):
    response = client.get(f"{MODELS}/nope", headers=viewer_headers)

    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"
    assert "nope" in response.json["error"]["message"]


def test_a_model_shows_its_latest_version_number(client, contributor_headers):
    create_model(client, contributor_headers, "churn")
    declared_version(client, contributor_headers, "churn")
    declared_version(client, contributor_headers, "churn")

    assert client.get(f"{MODELS}/churn", headers=contributor_headers).json["latest_version"] == 2


# list -----------------------------------------------------------------------------------------


def test_the_list_answers_items_total_page_and_limit(client, contributor_headers):
    for name in ("c", "a", "b"):
        create_model(client, contributor_headers, name)

    body = client.get(MODELS, headers=contributor_headers).json

    assert (body["total"], body["page"], body["limit"]) == (3, 1, 50)
    assert [m["name"] for m in body["items"]] == ["a", "b", "c"]


def test_the_list_pages_by_page_and_limit_with_the_full_total(client, contributor_headers):
    for index in range(5):
        create_model(client, contributor_headers, f"model-{index}")

    pages = [
        client.get(
            MODELS, headers=contributor_headers, query_string={"limit": 2, "page": page}
        ).json
        for page in (1, 2, 3, 4)
    ]

    assert [[m["name"] for m in p["items"]] for p in pages] == [
        ["model-0", "model-1"],
        ["model-2", "model-3"],
        ["model-4"],
        [],
    ]
    assert {p["total"] for p in pages} == {5}
    assert [(p["page"], p["limit"]) for p in pages] == [(1, 2), (2, 2), (3, 2), (4, 2)]


@pytest.fixture
def catalogue(client, contributor_headers):
    """Four models that differ in task, risk tier, owner and tags."""
    create_model(
        client,
        contributor_headers,
        "churn-eu",
        task="binary_classification",
        risk_tier="high",
        owner="retail",
        tags=["eu", "retail"],
    )
    create_model(
        client,
        contributor_headers,
        "churn-us",
        task="binary_classification",
        risk_tier="low",
        owner="retail",
        tags=["us"],
    )
    create_model(
        client,
        contributor_headers,
        "price",
        task="regression",
        risk_tier="medium",
        owner="pricing",
        tags=["eu"],
    )
    create_model(
        client,
        contributor_headers,
        "segment",
        task="multiclass_classification",
        risk_tier="high",
        owner=None,
        tags=[],
    )


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"q": "churn"}, ["churn-eu", "churn-us"]),
        ({"q": "CHURN-E"}, ["churn-eu"]),
        ({"q": "ri"}, ["price"]),
        ({"q": "_"}, []),
        ({"q": "%"}, []),
        ({"task": "regression"}, ["price"]),
        ({"task": "multiclass_classification"}, ["segment"]),
        ({"risk_tier": "high"}, ["churn-eu", "segment"]),
        ({"owner": "retail"}, ["churn-eu", "churn-us"]),
        ({"owner": "nobody"}, []),
        ({"tag": "eu"}, ["churn-eu", "price"]),
        ({"tag": "retail"}, ["churn-eu"]),
        ({"tag": "e"}, []),
        ({"task": "binary_classification", "risk_tier": "high"}, ["churn-eu"]),
        ({"q": "churn", "tag": "us"}, ["churn-us"]),
    ],
)
def test_the_list_filters_by_name_task_risk_tier_owner_and_tag(
    client, contributor_headers, catalogue, query, expected
):
    response = client.get(MODELS, headers=contributor_headers, query_string=query)

    assert names(response) == expected
    assert response.json["total"] == len(expected)


def test_a_tag_filter_pages_and_counts_only_the_tagged_models(client, contributor_headers):
    for index in range(5):
        create_model(
            client, contributor_headers, f"m{index}", tags=["keep"] if index % 2 == 0 else []
        )

    body = client.get(
        MODELS, headers=contributor_headers, query_string={"tag": "keep", "limit": 2, "page": 2}
    ).json

    assert [m["name"] for m in body["items"]] == ["m4"]
    assert body["total"] == 3


@pytest.fixture
def three_models_created_apart(client, contributor_headers, admin_headers, clock):
    """``b`` then ``c`` then ``a``, an hour apart; then ``b`` is changed last."""
    for name in ("b", "c", "a"):
        create_model(client, contributor_headers, name)
        clock.advance(hours=1)
    response = client.patch(
        f"{MODELS}/b", json={"description": "changed"}, headers=contributor_headers
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        (None, ["a", "b", "c"]),
        ("name", ["a", "b", "c"]),
        ("-name", ["c", "b", "a"]),
        ("created_at", ["b", "c", "a"]),
        ("-created_at", ["a", "c", "b"]),
        ("updated_at", ["c", "a", "b"]),
        ("-updated_at", ["b", "a", "c"]),
    ],
)
def test_the_list_sorts_by_name_creation_or_last_change(
    client, contributor_headers, three_models_created_apart, sort, expected
):
    query = {"sort": sort} if sort else {}

    assert names(client.get(MODELS, headers=contributor_headers, query_string=query)) == expected


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("created_at", ["c", "a", "d", "b"]),
        ("-created_at", ["b", "d", "a", "c"]),
        ("updated_at", ["c", "a", "d", "b"]),
        ("-updated_at", ["b", "d", "a", "c"]),
    ],
)
def test_models_created_in_the_same_instant_sort_and_page_in_creation_order(
    client, contributor_headers, sort, expected
):
    for name in ("c", "a", "d", "b"):
        create_model(client, contributor_headers, name)

    pages = [
        names(
            client.get(
                MODELS,
                headers=contributor_headers,
                query_string={"sort": sort, "limit": 1, "page": page},
            )
        )
        for page in (1, 2, 3, 4)
    ]

    assert [name for page in pages for name in page] == expected


def test_an_archived_model_is_hidden_from_the_list_unless_asked_for(
    client, contributor_headers, admin_headers
):
    create_model(client, contributor_headers, "old")
    create_model(client, contributor_headers, "new")
    assert client.post(f"{MODELS}/old/archive", headers=admin_headers).status_code == 200

    default = client.get(MODELS, headers=contributor_headers)
    everything = client.get(
        MODELS, headers=contributor_headers, query_string={"include_archived": "true"}
    )

    assert names(default) == ["new"] and default.json["total"] == 1
    assert names(everything) == ["new", "old"] and everything.json["total"] == 2
    assert everything.json["items"][1]["archived"] is True


# change ---------------------------------------------------------------------------------------


def test_a_contributor_changes_description_owner_and_tags(client, contributor_headers, clock):
    create_model(client, contributor_headers, "churn", owner="ds", tags=["a"])
    clock.advance(minutes=5)

    response = client.patch(
        f"{MODELS}/churn",
        headers=contributor_headers,
        json={"description": "new words", "owner": "platform", "tags": ["b", "c"]},
    )

    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.json
    assert (body["description"], body["owner"], body["tags"]) == (
        "new words",
        "platform",
        ["b", "c"],
    )
    assert body["updated_at"] == "2026-11-23T09:05:00.000000Z"
    assert body["created_at"] == "2026-11-23T09:00:00.000000Z"
    assert client.get(f"{MODELS}/churn", headers=contributor_headers).json == body


def test_a_change_is_audited_with_each_field_from_and_to(client, contributor_headers):
    create_model(client, contributor_headers, "churn", owner="ds", tags=["a"])

    client.patch(
        f"{MODELS}/churn",
        headers=contributor_headers,
        json={"description": "new", "owner": None, "tags": ["a"]},
    )

    events = audit_events(client, contributor_headers, "model", "churn")
    assert [e["action"] for e in events] == ["model.created", "model.updated"]
    assert events[1]["payload"] == {
        "changes": {
            "description": {"from": "", "to": "new"},
            "owner": {"from": "ds", "to": None},
        }
    }


def test_a_change_that_changes_nothing_is_not_audited(client, contributor_headers, clock):
    create_model(client, contributor_headers, "churn", description="same")
    clock.advance(minutes=1)

    response = client.patch(
        f"{MODELS}/churn", headers=contributor_headers, json={"description": "same"}
    )

    assert response.status_code == 200
    assert response.json["updated_at"] == response.json["created_at"]
    assert audit_actions(client, contributor_headers, "model", "churn") == ["model.created"]


def test_changing_an_unknown_model_is_not_found(client, contributor_headers):
    response = client.patch(
        f"{MODELS}/nope", json={"description": "x"}, headers=contributor_headers
    )

    assert response.status_code == 404


def test_a_viewer_may_not_change_a_model(client, contributor_headers, viewer_headers):
    create_model(client, contributor_headers, "churn")

    response = client.patch(f"{MODELS}/churn", json={"description": "x"}, headers=viewer_headers)

    assert response.status_code == 403
    assert client.get(f"{MODELS}/churn", headers=viewer_headers).json["description"] == ""


def test_a_contributor_may_not_change_the_risk_tier(client, contributor_headers):
    create_model(client, contributor_headers, "churn", risk_tier="high")

    response = client.patch(
        f"{MODELS}/churn",
        headers=contributor_headers,
        json={"risk_tier": "low", "description": "sneaky"},
    )

    assert response.status_code == 403
    assert response.json["error"]["code"] == "permission_denied"
    body = client.get(f"{MODELS}/churn", headers=contributor_headers).json
    assert (body["risk_tier"], body["description"]) == ("high", "")
    assert audit_actions(client, contributor_headers, "model", "churn") == ["model.created"]


def test_a_contributor_may_send_the_unchanged_risk_tier(client, contributor_headers):
    create_model(client, contributor_headers, "churn", risk_tier="high")

    response = client.patch(
        f"{MODELS}/churn",
        headers=contributor_headers,
        json={"risk_tier": "high", "description": "ok"},
    )

    assert response.status_code == 200
    assert response.json["description"] == "ok"


def test_an_admin_changes_the_risk_tier_and_it_is_audited(
    client, contributor_headers, admin_headers
):
    create_model(client, contributor_headers, "churn", risk_tier="high")

    response = client.patch(f"{MODELS}/churn", headers=admin_headers, json={"risk_tier": "medium"})

    assert response.status_code == 200
    assert response.json["risk_tier"] == "medium"
    event = audit_events(client, admin_headers, "model", "churn")[-1]
    assert (event["action"], event["actor_name"]) == ("model.updated", "root")
    assert event["payload"] == {"changes": {"risk_tier": {"from": "high", "to": "medium"}}}


# archive and restore --------------------------------------------------------------------------


def test_an_admin_archives_a_model_and_it_stays_readable(
    client, contributor_headers, admin_headers, clock
):
    create_model(client, contributor_headers, "churn")
    clock.advance(hours=2)

    response = client.post(f"{MODELS}/churn/archive", headers=admin_headers)

    assert response.status_code == 200
    assert response.json["archived"] is True
    assert response.json["archived_at"] == "2026-11-23T11:00:00.000000Z"
    assert client.get(f"{MODELS}/churn", headers=contributor_headers).json["archived"] is True
    assert audit_actions(client, admin_headers, "model", "churn") == [
        "model.created",
        "model.archived",
    ]


def test_a_contributor_may_not_archive_or_restore(client, contributor_headers, admin_headers):
    create_model(client, contributor_headers, "churn")

    assert client.post(f"{MODELS}/churn/archive", headers=contributor_headers).status_code == 403
    client.post(f"{MODELS}/churn/archive", headers=admin_headers)
    assert client.post(f"{MODELS}/churn/restore", headers=contributor_headers).status_code == 403
    assert client.get(f"{MODELS}/churn", headers=admin_headers).json["archived"] is True


def test_archiving_an_archived_model_is_a_conflict(client, contributor_headers, admin_headers):
    create_model(client, contributor_headers, "churn")
    client.post(f"{MODELS}/churn/archive", headers=admin_headers)

    response = client.post(f"{MODELS}/churn/archive", headers=admin_headers)

    assert response.status_code == 409
    assert audit_actions(client, admin_headers, "model", "churn") == [
        "model.created",
        "model.archived",
    ]


def test_archiving_or_restoring_an_unknown_model_is_not_found(client, admin_headers):
    assert client.post(f"{MODELS}/nope/archive", headers=admin_headers).status_code == 404
    assert client.post(f"{MODELS}/nope/restore", headers=admin_headers).status_code == 404


def test_an_admin_restores_an_archived_model_and_it_is_audited(
    client, contributor_headers, admin_headers, clock
):
    create_model(client, contributor_headers, "churn")
    client.post(f"{MODELS}/churn/archive", headers=admin_headers)
    clock.advance(hours=1)

    response = client.post(f"{MODELS}/churn/restore", headers=admin_headers)

    assert response.status_code == 200
    assert (response.json["archived"], response.json["archived_at"]) == (False, None)
    assert response.json["updated_at"] == "2026-11-23T10:00:00.000000Z"
    assert names(client.get(MODELS, headers=admin_headers)) == ["churn"]
    assert audit_actions(client, admin_headers, "model", "churn") == [
        "model.created",
        "model.archived",
        "model.restored",
    ]


def test_restoring_a_model_that_is_not_archived_is_a_conflict(
    client, contributor_headers, admin_headers
):
    create_model(client, contributor_headers, "churn")

    response = client.post(f"{MODELS}/churn/restore", headers=admin_headers)

    assert response.status_code == 409
    assert audit_actions(client, admin_headers, "model", "churn") == ["model.created"]


def test_changing_an_archived_model_is_a_conflict(client, contributor_headers, admin_headers):
    create_model(client, contributor_headers, "churn")
    client.post(f"{MODELS}/churn/archive", headers=admin_headers)

    response = client.patch(f"{MODELS}/churn", json={"description": "late"}, headers=admin_headers)

    assert response.status_code == 409
    assert response.json["error"]["code"] == "conflict"
    assert client.get(f"{MODELS}/churn", headers=admin_headers).json["description"] == ""


def test_registering_a_version_on_an_archived_model_is_a_conflict(
    client, contributor_headers, admin_headers
):
    create_model(client, contributor_headers, "churn")
    client.post(f"{MODELS}/churn/archive", headers=admin_headers)

    response = register_version(
        client,
        contributor_headers,
        "churn",
        metadata={"features": [{"name": "age", "kind": "numerical"}]},
    )

    assert response.status_code == 409
    model = client.get(f"{MODELS}/churn", headers=admin_headers).json
    assert model["latest_version"] is None
    assert client.get(f"{MODELS}/churn/versions", headers=admin_headers).json["total"] == 0
    assert audit_actions(client, admin_headers, "model_version", "churn/1") == []


def test_a_restored_model_takes_versions_again(client, contributor_headers, admin_headers):
    create_model(client, contributor_headers, "churn")
    client.post(f"{MODELS}/churn/archive", headers=admin_headers)
    client.post(f"{MODELS}/churn/restore", headers=admin_headers)

    assert declared_version(client, contributor_headers, "churn")["version"] == 1
