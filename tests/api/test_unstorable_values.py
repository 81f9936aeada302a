"""Values the store cannot hold — NUL characters, lone surrogates, ids past its 32-bit id
columns — are a 422 naming what was wrong, on SQLite and PostgreSQL alike; never a 500, and
nothing stored is touched."""

from __future__ import annotations

import io

import pytest

from tests.api.factories import API, create_model, declared_version, model_body
from tests.web.forms import sign_in

NUL = "a\x00b"
SURROGATE = "a\ud800b"
UNSTORABLE = "Text cannot contain NUL characters or lone surrogates."


def _error(response, status: int = 422) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    return response.json["error"]


@pytest.mark.parametrize("text", [NUL, SURROGATE])
@pytest.mark.parametrize("field", ["description", "owner", "name"])
def test_a_model_field_with_unstorable_text_is_a_422_naming_it(
    client, contributor_headers, field, text
):
    body = {**model_body("churn"), field: text}
    error = _error(client.post(f"{API}/models", json=body, headers=contributor_headers))
    assert error["code"] == "validation_error"
    assert error["details"] == {field: [UNSTORABLE]}
    assert client.get(f"{API}/models", headers=contributor_headers).json["total"] == 0


def test_unstorable_text_deep_inside_a_free_form_field_is_found(client, contributor_headers):
    create_model(client, contributor_headers, "churn")
    body = {"tags": {"team": {"nested": ["ok", NUL]}}}
    error = _error(client.patch(f"{API}/models/churn", json=body, headers=contributor_headers))
    assert error["details"] == {"tags": [UNSTORABLE]}


def test_a_nested_field_is_named_by_its_own_schema(client, contributor_headers):
    create_model(client, contributor_headers, "churn")
    body = {"features": [{"name": NUL, "kind": "numerical"}]}
    response = client.post(f"{API}/models/churn/versions", json=body, headers=contributor_headers)
    assert _error(response)["details"] == {"features": {"0": {"name": [UNSTORABLE]}}}


def test_benchmark_notes_with_a_nul_are_refused(client, contributor_headers):
    create_model(client, contributor_headers, "churn")
    declared_version(client, contributor_headers)
    body = {"name": "holdout", "metrics": {"accuracy": 0.9}, "notes": NUL}
    response = client.post(
        f"{API}/models/churn/versions/1/benchmarks", json=body, headers=contributor_headers
    )
    assert _error(response)["details"] == {"notes": [UNSTORABLE]}


def test_a_nul_in_a_path_parameter_or_query_is_a_422(client, contributor_headers):
    error = _error(client.get(f"{API}/models/a%00b", headers=contributor_headers))
    assert error["details"] == {"name": [UNSTORABLE]}
    error = _error(client.get(f"{API}/models?owner=a%00b", headers=contributor_headers))
    assert error["details"] == {"owner": [UNSTORABLE]}


@pytest.mark.parametrize(
    "path", ["/models/churn/versions/{}", "/reports/{}", "/alerts/{}", "/models/churn/monitors/{}"]
)
def test_an_id_past_2_31_is_a_422_not_a_database_error(client, contributor_headers, path):
    create_model(client, contributor_headers, "churn")
    response = client.get(API + path.format(2**31), headers=contributor_headers)
    assert "Too large" in str(_error(response)["details"])
    assert client.get(API + path.format(2**31 - 1), headers=contributor_headers).status_code in (
        404,
        405,
    )


def test_an_upload_whose_file_name_holds_a_nul_is_refused(client, contributor_headers):
    create_model(client, contributor_headers, "churn")
    response = client.post(
        f"{API}/models/churn/versions",
        data={
            "metadata": '{"features": [{"name": "age", "kind": "numerical"}]}',
            "reference_data": (io.BytesIO(b"age\n1\n2\n"), "ref\x00.csv"),
        },
        headers=contributor_headers,
        content_type="multipart/form-data",
    )
    assert _error(response)["details"] == {"reference_data": ["File name: " + UNSTORABLE]}


def test_a_web_form_with_a_nul_is_refused_before_it_reaches_the_store(client, token_for):
    browser = sign_in(client, token_for("contributor", "on-call"))
    response = browser.post("/alerts/1/acknowledge", data={"comment": NUL})
    assert response.status_code == 422
    assert UNSTORABLE in response.get_data(as_text=True)
