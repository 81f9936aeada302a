"""A regressor's comparison: errors (lower is better) by the paired bootstrap in shadow and
the two-sample bootstrap in A/B."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from tests.api.factories import API, create_model, declared_version
from tests.comparisons.conftest import NOW, WINDOW

URL = f"{API}/models/price"


@pytest.fixture
def price(client, contributor_headers):
    """A regression model ``price`` with versions 1 and 2."""
    create_model(client, contributor_headers, "price", task="regression")
    for _ in range(2):
        declared_version(client, contributor_headers, "price")
    return client, contributor_headers


def _log(client, headers, version, ids, predicted, labels, **query):
    n = len(ids)
    body = {
        "columns": {
            "prediction_id": ids,
            "timestamp": [(NOW - timedelta(seconds=60 + i)).timestamp() for i in range(n)],
            "features": {"age": [40.0] * n, "plan": ["pro"] * n},
            "prediction": [float(p) for p in predicted],
            "label": [float(y) for y in labels],
        }
    }
    response = client.post(
        f"{URL}/versions/{version}/predictions", json=body, headers=headers, query_string=query
    )
    assert response.status_code == 200, response.get_data(as_text=True)


def test_a_regressor_with_smaller_errors_in_shadow_is_better(price):
    client, headers = price
    rng = np.random.default_rng(9)
    truth = rng.normal(100, 20, 300)
    ids = [f"q{i}" for i in range(300)]
    _log(client, headers, 1, ids, truth + rng.normal(0, 10, 300), truth)
    _log(client, headers, 2, ids, truth + rng.normal(0, 4, 300), truth, shadow_of=1)
    for metric in ("mae", "rmse"):
        report = client.get(
            f"{URL}/comparison",
            headers=headers,
            query_string={"champion": 1, "challenger": 2, "metric": metric, **WINDOW},
        ).json
        assert report["higher_is_better"] is False
        assert report["test"] == "paired_bootstrap"
        assert report["difference"] < 0 and report["ci_high"] < 0
        assert report["verdict"] == "challenger_better"
        assert report["agreement_rate"] is None  # answers of a regressor are not classes


def test_a_regressor_in_ab_uses_the_two_sample_bootstrap(price):
    client, headers = price
    rng = np.random.default_rng(10)
    for version, noise in ((1, 4.0), (2, 10.0)):
        truth = rng.normal(100, 20, 250)
        ids = [f"v{version}-{i}" for i in range(250)]
        _log(client, headers, version, ids, truth + rng.normal(0, noise, 250), truth)
    report = client.get(
        f"{URL}/comparison",
        headers=headers,
        query_string={"champion": 1, "challenger": 2, "mode": "ab", "minimum": 200, **WINDOW},
    ).json
    assert (report["metric"], report["test"]) == ("mae", "two_sample_bootstrap")
    assert report["verdict"] == "challenger_worse"


def test_a_regressor_is_not_compared_on_accuracy(price):
    client, headers = price
    response = client.get(
        f"{URL}/comparison",
        headers=headers,
        query_string={"champion": 1, "challenger": 2, "metric": "accuracy"},
    )
    assert response.status_code == 422
    assert "mae, rmse, mse" in response.json["error"]["message"]
