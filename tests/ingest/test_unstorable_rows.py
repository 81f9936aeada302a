"""A prediction or a label holding text the store cannot hold (NUL, a lone surrogate) is
refused alone, naming its row and field; the rest of its batch is stored."""

from __future__ import annotations

import pytest

from tests.api.factories import API

from .conftest import PREDICTIONS, columns, post

NUL = "a\x00b"
SURROGATE = "a\ud800b"
UNSTORABLE = "Text cannot contain NUL characters or lone surrogates."


@pytest.mark.parametrize("text", [NUL, SURROGATE])
def test_a_prediction_row_with_unstorable_text_is_refused_alone(
    client, contributor_headers, churn_v1, text
):
    batch = columns(4)
    batch["columns"]["prediction_id"][1] = text
    batch["columns"]["features"]["plan"][2] = text
    response = post(client, contributor_headers, batch)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert (response.json["accepted"], response.json["rejected"]) == (2, 2)
    assert [(e["index"], e["field"], e["message"]) for e in response.json["errors"]] == [
        (1, "prediction_id", UNSTORABLE),
        (2, "features.plan", UNSTORABLE),
    ]
    stored = client.get(PREDICTIONS, headers=contributor_headers).json["items"]
    assert [item["prediction_id"] for item in stored] == ["p0", "p3"]


def test_a_label_with_a_nul_is_refused_alone(client, contributor_headers, churn_v1):
    post(client, contributor_headers, columns(2))
    labels = [
        {"prediction_id": "p0", "label": 1},
        {"prediction_id": NUL, "label": 0},
        {"prediction_id": "p1", "label": NUL},
    ]
    response = client.post(
        f"{API}/models/churn/labels", json={"labels": labels}, headers=contributor_headers
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert (response.json["updated"], response.json["rejected"]) == (1, 2)
