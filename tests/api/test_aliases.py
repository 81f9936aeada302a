"""Model aliases over HTTP: set, move, remove with history, audited, delivered to channels
subscribed to ``alias.changed``, refused for a governed alias, and read at an instant."""

from __future__ import annotations

from datetime import timedelta

import pytest

from assay_server.alerts.outbox import Outbox
from assay_server.alerts.signing import generate_secret
from assay_server.db import TIMESTAMP_FORMAT
from assay_server.registry import alias_routes
from tests.alerts.receivers import WebhookReceiver
from tests.api.factories import API, audit_events, declared_version, field_errors

ALIASES = f"{API}/models/churn/aliases"


def _set(client, headers, alias: str, version: int, **body):
    return client.put(f"{ALIASES}/{alias}", headers=headers, json={"version": version, **body})


@pytest.fixture
def two_versions(client, contributor_headers, churn):
    """``churn`` with versions 1 and 2."""
    declared_version(client, contributor_headers)
    declared_version(client, contributor_headers)


def test_a_contributor_sets_moves_and_removes_an_alias_each_audited(
    client, contributor_headers, two_versions
):
    assert _set(client, contributor_headers, "champion", 1).status_code == 200
    moved = _set(client, contributor_headers, "champion", 2, comment="better on holdout")
    assert moved.status_code == 200, moved.get_data(as_text=True)
    assert (moved.json["alias"], moved.json["version"], moved.json["set_by"]) == (
        "champion",
        2,
        "data-scientist",
    )
    by_alias = client.get(
        f"{API}/models/churn/versions/by-alias/champion", headers=contributor_headers
    )
    assert by_alias.status_code == 200 and by_alias.json["version"] == 2

    removed = client.delete(f"{ALIASES}/champion", headers=contributor_headers)
    assert removed.status_code == 204

    events = [
        (e["action"], e["payload"])
        for e in audit_events(client, contributor_headers, "model", "churn")
        if e["action"].startswith("alias.")
    ]
    assert events == [
        ("alias.set", {"alias": "champion", "version": 1, "from": None, "comment": None}),
        (
            "alias.set",
            {"alias": "champion", "version": 2, "from": 1, "comment": "better on holdout"},
        ),
        ("alias.removed", {"alias": "champion", "version": 2, "comment": None}),
    ]
    gone = client.get(f"{API}/models/churn/versions/by-alias/champion", headers=contributor_headers)
    assert gone.status_code == 404
    assert client.get(ALIASES, headers=contributor_headers).json == []


def test_setting_an_alias_where_it_already_points_changes_nothing(
    client, contributor_headers, two_versions
):
    _set(client, contributor_headers, "champion", 1)
    again = _set(client, contributor_headers, "champion", 1)
    assert again.status_code == 200 and again.json["version"] == 1
    actions = [e["action"] for e in audit_events(client, contributor_headers, "model", "churn")]
    assert actions.count("alias.set") == 1


def test_the_aliases_at_an_instant_answer_which_version_was_champion_then(
    client, contributor_headers, two_versions, clock
):
    first = clock()
    _set(client, contributor_headers, "champion", 1)
    _set(client, contributor_headers, "challenger", 2)
    clock.advance(hours=1)
    _set(client, contributor_headers, "champion", 2)
    clock.advance(hours=1)
    client.delete(f"{ALIASES}/challenger", headers=contributor_headers)

    def at(instant) -> dict[str, int]:
        response = client.get(
            ALIASES,
            headers=contributor_headers,
            query_string={"at": instant.strftime(TIMESTAMP_FORMAT)},
        )
        assert response.status_code == 200, response.get_data(as_text=True)
        return {item["alias"]: item["version"] for item in response.json}

    assert at(first - timedelta(seconds=1)) == {}
    assert at(first + timedelta(minutes=30)) == {"champion": 1, "challenger": 2}
    assert at(first + timedelta(minutes=90)) == {"champion": 2, "challenger": 2}
    now = {i["alias"]: i["version"] for i in client.get(ALIASES, headers=contributor_headers).json}
    assert now == {"champion": 2}

    history = client.get(
        f"{API}/models/churn/alias-history",
        headers=contributor_headers,
        query_string={"alias": "champion"},
    ).json
    assert [(h["version"], h["left_at"] is None) for h in history] == [(1, False), (2, True)]


def test_a_viewer_reads_aliases_but_may_not_set_them(
    client, contributor_headers, headers_for, two_versions
):
    _set(client, contributor_headers, "champion", 1)
    viewer = headers_for("viewer")
    assert [a["alias"] for a in client.get(ALIASES, headers=viewer).json] == ["champion"]
    assert client.put(f"{ALIASES}/champion", headers=viewer, json={"version": 1}).status_code == 403
    assert client.delete(f"{ALIASES}/champion", headers=viewer).status_code == 403


@pytest.mark.parametrize("alias", ["Champion", "1st", "a" * 64, "has space", "-x"])
def test_an_alias_that_is_not_a_lowercase_slug_is_refused(
    client, contributor_headers, two_versions, alias
):
    response = _set(client, contributor_headers, alias, 1)
    assert response.status_code in (404, 422)  # a space or nothing routable is no alias at all
    if response.status_code == 422:
        assert "alias" in field_errors(response)


def test_an_alias_names_a_version_of_its_own_model(client, contributor_headers, two_versions):
    missing = _set(client, contributor_headers, "champion", 3)
    assert missing.status_code == 404
    unknown = client.put(
        f"{API}/models/nope/aliases/champion", headers=contributor_headers, json={"version": 1}
    )
    assert unknown.status_code == 404
    not_there = client.delete(f"{ALIASES}/champion", headers=contributor_headers)
    assert not_there.status_code == 404


def test_an_alias_of_an_archived_model_does_not_move(
    client, contributor_headers, admin_headers, two_versions
):
    _set(client, contributor_headers, "champion", 1)
    client.post(f"{API}/models/churn/archive", headers=admin_headers)
    assert _set(client, contributor_headers, "champion", 2).status_code == 409
    assert client.delete(f"{ALIASES}/champion", headers=contributor_headers).status_code == 409


GOVERNING_POLICY = """
name: champion-is-governed
applies_to: {risk_tier: [high, medium, low]}
rules:
  - {id: lineage, check: lineage_present, fields: [git_commit]}
governed_aliases: [champion]
"""


def test_a_governed_alias_is_refused_naming_the_policy_while_others_move(
    client, contributor_headers, admin_headers, two_versions
):
    applied = client.post(
        f"{API}/policies",
        headers=admin_headers,
        json={"files": [{"filename": "governed.yaml", "content": GOVERNING_POLICY}]},
    )
    assert applied.status_code in (200, 201), applied.get_data(as_text=True)

    refused = _set(client, contributor_headers, "champion", 1)
    assert refused.status_code == 409
    assert "champion-is-governed" in refused.json["error"]["message"]
    assert refused.json["error"]["details"]["policies"] == ["champion-is-governed"]
    assert client.get(ALIASES, headers=contributor_headers).json == []
    actions = [e["action"] for e in audit_events(client, contributor_headers, "model", "churn")]
    assert "alias.set" not in actions

    assert _set(client, contributor_headers, "challenger", 2).status_code == 200


def test_a_policy_names_only_slugs_as_governed_aliases(client, admin_headers):
    bad = GOVERNING_POLICY.replace("[champion]", "[Champion]")
    response = client.post(
        f"{API}/policies",
        headers=admin_headers,
        json={"files": [{"filename": "governed.yaml", "content": bad}]},
    )
    assert response.status_code == 422
    assert any(
        e["field"] == "governed_aliases" for e in response.json["error"]["details"]["errors"]
    )


def test_an_alias_change_reaches_the_channels_subscribed_to_it_signed(
    client, contributor_headers, admin_headers, two_versions, db, settings, clock
):
    delivering = settings.with_overrides(webhook_allow_private=True)
    client.application.extensions["assay_settings"] = delivering  # the app fixture restores it
    with (
        WebhookReceiver(generate_secret()) as releases,
        WebhookReceiver(generate_secret()) as alerts_only,
    ):
        for name, receiver, events in (
            ("releases", releases, ["alias.changed"]),
            ("ops", alerts_only, ["alert.*"]),
        ):
            body = {"name": name, "kind": "webhook", "url": receiver.url}
            body |= {"secret": receiver.secret, "events": events}
            created = client.post(f"{API}/channels", headers=admin_headers, json=body)
            assert created.status_code == 201, created.get_data(as_text=True)

        _set(client, contributor_headers, "champion", 1)
        _set(client, contributor_headers, "champion", 2, comment="won the shadow test")

        assert Outbox(db, delivering, clock=clock, worker="test").run_once() == 2
        assert alerts_only.received == []
        assert all(verified for _headers, _body, verified in releases.received)
        first, second = releases.events
    assert first["type"] == second["type"] == "alias.changed"
    assert first["data"]["figures"] | {"model_id": None} == {
        "model_id": None,
        "alias": "champion",
        "change": "set",
        "from": None,
        "changed_by": "data-scientist",
        "comment": None,
    }
    assert (second["data"]["model"], second["data"]["version"]) == ("churn", 2)
    assert second["data"]["figures"]["from"] == 1
    assert "alias champion of churn moved" in second["data"]["summary"]


@pytest.mark.parametrize(
    ("schema", "shape"),
    [
        (alias_routes.AliasSetSchema, alias_routes.AliasSetArgs),
        (alias_routes.AliasRemoveArgsSchema, alias_routes.AliasRemoveArgs),
        (alias_routes.AliasListArgsSchema, alias_routes.AliasListArgs),
        (alias_routes.AliasHistoryArgsSchema, alias_routes.AliasHistoryArgs),
    ],
)
def test_each_alias_request_type_names_exactly_its_schemas_fields(schema, shape):
    assert set(schema().load_fields) == set(shape.__annotations__)
