"""What schemathesis found answered with a 500, each now a 4xx in the one error shape:
integers past what the store holds in bodies and queries, JSON (and YAML) nested a thousand
deep, a multipart part without a name; and deleting a monitor that raised alerts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.api.factories import API, create_model, declared_version
from tests.monitoring.conftest import Monitored, monitored  # noqa: F401  (a fixture)

BEYOND_64_BITS = 2**63
BEYOND_32_BITS = 2**31
DEEP_ARRAY = "[" * 1000 + "]" * 1000


def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.json["error"]
    assert set(error) == {"code", "message", "details", "request_id"}
    return error


@pytest.fixture
def churn_v1(client: Any, contributor_headers: dict[str, str]) -> dict[str, str]:
    """``churn`` with a declared version 1; the headers of its contributor."""
    create_model(client, contributor_headers, "churn")
    declared_version(client, contributor_headers)
    return contributor_headers


@pytest.mark.parametrize("number", [BEYOND_32_BITS, BEYOND_64_BITS])
@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/models/churn/monitors", {"checks": ["drift"], "version": "N"}, "version"),
        (
            "POST",
            "/models/churn/rollback",
            {"stage": "production", "to_version": "N", "reason": "r"},
            "to_version",
        ),
        ("GET", "/deliveries?alert_id=N", None, "alert_id"),
        ("GET", "/audit?after_seq=N", None, "after_seq"),
        ("GET", "/audit/checkpoints?after_seq=N", None, "after_seq"),
        ("GET", "/models/churn/reports?monitor_id=N", None, "monitor_id"),
        ("GET", "/models/churn/reports?version=N", None, "version"),
        ("GET", "/models/churn/reports?before=N", None, "before"),
        ("GET", "/promotions?model=churn&version=N", None, "version"),
        ("POST", "/alerts/bulk", {"ids": ["N"], "action": "acknowledge"}, "ids"),
    ],
)
def test_an_id_past_what_the_store_holds_is_a_422_naming_it(
    client, churn_v1, admin_headers, number, method, path, body, field
):
    url = API + path.replace("=N", f"={number}")
    payload = json.loads(json.dumps(body).replace('"N"', str(number))) if body else None
    response = client.open(url, method=method, json=payload, headers=admin_headers)
    assert field in _error(response, 422)["details"]


def test_a_cursor_past_64_bits_is_a_422(client, churn_v1):
    cursor = f"{BEYOND_64_BITS}:{BEYOND_64_BITS}"
    response = client.get(
        f"{API}/models/churn/versions/1/predictions?cursor={cursor}", headers=churn_v1
    )
    assert "cursor" in _error(response, 422)["details"]


def test_an_integer_category_past_64_bits_rejects_its_row_only(client, monitored):  # noqa: F811
    rows = [
        {"prediction_id": pid, "features": {"age": 30, "income": 1.0, "plan": "pro"}}
        for pid in ("kept", "refused")
    ]
    rows[0]["prediction"] = 1
    rows[1]["prediction"] = BEYOND_64_BITS
    response = client.post(
        monitored.url("/versions/1/predictions"), json={"rows": rows}, headers=monitored.headers
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert (response.json["accepted"], response.json["rejected"]) == (1, 1)
    [error] = response.json["errors"]
    assert (error["index"], error["field"]) == (1, "prediction")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/tokens", DEEP_ARRAY),
        ("POST", "/models", DEEP_ARRAY),
        ("PATCH", "/models/churn", '{"tags": ' + DEEP_ARRAY + "}"),
        ("POST", "/models/churn/versions", '{"lineage": {"params": ' + DEEP_ARRAY + "}}"),
        ("POST", "/models/churn/labels", DEEP_ARRAY),
        ("POST", "/models/churn/monitors", '{"a":' * 1000 + "1" + "}" * 1000),
    ],
)
def test_json_nested_a_thousand_deep_is_a_400(client, churn_v1, admin_headers, method, path, body):
    response = client.open(
        API + path,
        method=method,
        data=body,
        headers={**admin_headers, "Content-Type": "application/json"},
    )
    error = _error(response, 400)
    assert error["code"] == "bad_request"
    assert "nested deeper than 64 levels" in error["message"]


def test_json_as_deep_as_allowed_is_read(client, churn_v1):
    tags = {"team": json.loads("[" * 62 + "]" * 62)}  # the body's object is the 64th level
    response = client.patch(f"{API}/models/churn", json={"tags": tags}, headers=churn_v1)
    assert response.status_code != 400, response.get_data(as_text=True)


def test_brackets_inside_strings_are_not_nesting(client, churn_v1):
    description = "[" * 1000 + '\\"{' * 100
    response = client.patch(
        f"{API}/models/churn", json={"description": description}, headers=churn_v1
    )
    assert response.status_code == 200, response.get_data(as_text=True)


def _multipart(name: bytes, content: bytes) -> tuple[bytes, str]:
    boundary = "assay-boundary"
    disposition = b"Content-Disposition: form-data" + (b'; name="' + name + b'"' if name else b"")
    body = b"--%s\r\n%s\r\n\r\n%s\r\n--%s--\r\n" % (
        boundary.encode(),
        disposition,
        content,
        boundary.encode(),
    )
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize(
    ("name", "content", "status"),
    [
        (b"metadata", DEEP_ARRAY.encode(), 400),
        (b"metadata", b'{"lineage": {"params": ' + DEEP_ARRAY.encode() + b"}}", 400),
        (b"", b"x", 422),  # a part without a name
    ],
    ids=["deep-metadata", "deep-inside-metadata", "nameless-part"],
)
def test_a_hostile_multipart_version_is_a_4xx(client, churn_v1, name, content, status):
    body, content_type = _multipart(name, content)
    response = client.post(
        f"{API}/models/churn/versions",
        data=body,
        headers={**churn_v1, "Content-Type": content_type},
    )
    _error(response, status)


@pytest.mark.parametrize(
    "content",
    ["[" * 1000 + "]" * 1000, "- " * 1000 + "x"],
    ids=["flow", "block"],
)
def test_a_policy_file_nested_a_thousand_deep_is_a_422_naming_the_file(
    client, admin_headers, content
):
    response = client.post(
        f"{API}/policies",
        json={"files": [{"filename": "deep.yaml", "content": content}]},
        headers=admin_headers,
    )
    [problem] = _error(response, 422)["details"]["errors"]
    assert (problem["file"], problem["field"]) == ("deep.yaml", "_file")
    assert problem["messages"] == ["Not valid YAML: nested too deeply."]


def test_deleting_a_monitor_that_raised_alerts_deletes_them_and_keeps_their_deliveries(
    client,
    monitored: Monitored,  # noqa: F811
):
    channel = client.post(
        f"{API}/channels",
        json={"name": "ops", "kind": "webhook", "url": "http://127.0.0.1:9/hook"},
        headers={**monitored.headers},
    )
    assert channel.status_code == 201, channel.get_data(as_text=True)
    monitor = monitored.create_monitor(
        name="hourly",
        checks=["data_quality"],
        window={"hours": 1},
        channels=["ops"],
        thresholds={"data_quality": {"warning": 0.05, "alert": 0.2}},
    )
    monitored.log(300, missing_age=0.3, seed=3)
    assert monitored.run(monitor["id"])["status"] == "succeeded"
    alerts = client.get(f"{API}/alerts", headers=monitored.headers).json
    deliveries = client.get(f"{API}/deliveries", headers=monitored.headers).json
    assert alerts and deliveries

    response = client.delete(monitored.url(f"/monitors/{monitor['id']}"), headers=monitored.headers)

    assert response.status_code == 204, response.get_data(as_text=True)
    assert client.get(f"{API}/alerts", headers=monitored.headers).json == []
    kept = client.get(f"{API}/deliveries", headers=monitored.headers).json
    assert sorted(d["id"] for d in kept) == sorted(d["id"] for d in deliveries)
    assert all(d["alert_id"] is None for d in kept)
    events = client.get(
        f"{API}/audit", query_string={"action": "alerts.deleted"}, headers=monitored.headers
    ).json["items"]
    assert [e["payload"]["alerts"] for e in events] == [len(alerts)]
