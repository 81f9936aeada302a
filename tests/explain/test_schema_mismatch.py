"""A model fitted on other features than its version's schema is a 422 naming the
difference, not a 502 from inside the model; a different column order is simply followed."""

from __future__ import annotations

import pytest
import skops.io
from sklearn.linear_model import LogisticRegression

from tests.explain import estimators as est
from tests.explain.conftest import explain, register

pytestmark = pytest.mark.commits  # explanation jobs run in background threads on the store


def _row(frame):
    return [{name: float(frame.iloc[0][name]) for name in est.NUMERIC}]


def test_a_model_fitted_on_fewer_features_is_a_422_naming_them(client, contributor_headers):
    frame = est.signal_frame(seed=21)
    fewer = LogisticRegression().fit(frame[est.NUMERIC[:1]], frame["label"])
    register(
        client,
        contributor_headers,
        "fewer",
        "binary_classification",
        None,
        frame,
        "label",
        artifact=(skops.io.dumps(fewer), "model.skops"),
    )
    response = explain(client, contributor_headers, "fewer", _row(frame))
    assert response.status_code == 422, response.get_data(as_text=True)
    mismatch = response.json["error"]["details"]["schema_mismatch"]
    assert mismatch == {"only_in_schema": est.NUMERIC[1:], "only_in_model": []}


def test_a_model_fitted_on_the_features_in_another_order_is_explained(client, contributor_headers):
    frame = est.signal_frame(seed=22)
    reordered = LogisticRegression().fit(frame[est.NUMERIC[::-1]], frame["label"])
    register(
        client,
        contributor_headers,
        "reordered",
        "binary_classification",
        None,
        frame,
        "label",
        artifact=(skops.io.dumps(reordered), "model.skops"),
    )
    response = explain(client, contributor_headers, "reordered", _row(frame))
    assert response.status_code == 200, response.get_data(as_text=True)
