"""Explaining registered models through the API: what LIME says, and how it is kept."""

from __future__ import annotations

import pytest

from tests.api.factories import API, audit_events
from tests.explain import estimators as est
from tests.explain.conftest import explain, register

pytestmark = pytest.mark.commits  # explanation jobs run in background threads on the store


def _signal(client, headers):
    frame = est.signal_frame()
    register(
        client,
        headers,
        "signal",
        "binary_classification",
        est.signal_classifier(frame),
        frame,
        "label",
    )
    return frame


def _row(frame, index=0, names=est.NUMERIC):
    return {name: float(frame.iloc[index][name]) for name in names}


def test_the_two_features_that_carry_the_signal_rank_first(client, contributor_headers):
    frame = _signal(client, contributor_headers)
    response = explain(client, contributor_headers, "signal", [_row(frame, 0), _row(frame, 1)])
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.json
    assert body["status"] == "done" and body["kind"] == "local" and body["rows"] == 2
    for item in body["result"]["explanations"]:
        ranked = [w["feature"] for w in item["weights"]]
        assert sorted(ranked[:2]) == est.SIGNAL_FEATURES
        assert len(ranked) == 6
        assert item["prediction"]["label"] in (0, 1)
        assert 0.5 <= item["prediction"]["probability"] <= 1.0
        assert item["explained_label"] == item["prediction"]["label"]


def test_the_same_seed_gives_the_same_weights_and_another_seed_may_not(client, contributor_headers):
    frame = _signal(client, contributor_headers)
    row = [_row(frame, 5)]
    first = explain(client, contributor_headers, "signal", row, seed=7, num_samples=500).json
    again = explain(client, contributor_headers, "signal", row, seed=7, num_samples=500).json
    other = explain(client, contributor_headers, "signal", row, seed=8, num_samples=500).json
    assert again["result"] == first["result"]
    assert (
        other["result"]["explanations"][0]["weights"]
        != first["result"]["explanations"][0]["weights"]
    )


def test_a_repeated_request_is_answered_from_the_stored_result_and_audited(
    client, contributor_headers
):
    frame = _signal(client, contributor_headers)
    row = [_row(frame, 2)]
    first = explain(client, contributor_headers, "signal", row, num_samples=500).json
    second = explain(client, contributor_headers, "signal", row, num_samples=500).json
    assert (first["cached"], second["cached"]) == (False, True)
    assert second["id"] == first["id"]
    requested = [
        e
        for e in audit_events(client, contributor_headers, "model_version", "signal/1")
        if e["action"] == "explanation.requested"
    ]
    assert [e["payload"]["cached"] for e in requested] == [False, True]
    assert requested[0]["actor_name"] == "data-scientist"
    assert requested[0]["payload"]["input_hash"] == first["input_hash"]
    assert "x1" not in str(requested[0]["payload"])  # the rows' values are not in the trail
    stored = client.get(f"{API}/explanations/{first['id']}", headers=contributor_headers).json
    assert stored["result"] == first["result"]


def test_label_chooses_which_class_is_explained(client, contributor_headers):
    frame = _signal(client, contributor_headers)
    row = [_row(frame, 0)]
    default = explain(client, contributor_headers, "signal", row, num_samples=500).json
    predicted = default["result"]["explanations"][0]["prediction"]["label"]
    other = str(1 - predicted)
    chosen = explain(client, contributor_headers, "signal", row, num_samples=500, label=other).json
    item = chosen["result"]["explanations"][0]
    assert item["explained_label"] == int(other)
    assert item["prediction"]["label"] == predicted
    # Two classes: the other class's weights are the predicted class's, negated.
    weights = {w["feature"]: w["weight"] for w in item["weights"]}
    for w in default["result"]["explanations"][0]["weights"]:
        assert abs(weights[w["feature"]] + w["weight"]) < 1e-6
    unknown = explain(client, contributor_headers, "signal", row, label="7")
    assert unknown.status_code == 422 and "label" in unknown.json["error"]["details"]


def test_categorical_features_of_a_pipeline_are_named_back(client, contributor_headers):
    frame = est.plan_frame()
    register(
        client,
        contributor_headers,
        "plans",
        "binary_classification",
        est.plan_pipeline(frame),
        frame,
        "churned",
    )
    response = explain(client, contributor_headers, "plans", [{"age": 40, "plan": "basic"}])
    assert response.status_code == 200, response.get_data(as_text=True)
    item = response.json["result"]["explanations"][0]
    assert item["weights"][0]["feature"] == "plan"
    assert item["weights"][0]["condition"] == "plan=basic"
    assert item["prediction"]["label"] == 1


def test_a_regression_explains_its_predicted_value(client, contributor_headers):
    frame = est.regression_frame()
    model = est.regressor(frame)
    register(client, contributor_headers, "prices", "regression", model, frame, "y")
    row = {"x0": 0.1, "x1": -0.2, "x2": 1.5, "x3": 0.3}
    item = explain(client, contributor_headers, "prices", [row]).json["result"]["explanations"][0]
    expected = float(
        model.predict(frame.iloc[:0].reindex([0]).assign(**row)[["x0", "x1", "x2", "x3"]])[0]
    )
    assert abs(item["prediction"]["value"] - expected) < 1e-6
    assert item["explained_label"] is None
    assert item["weights"][0]["feature"] == "x2"


def test_a_multiclass_model_explains_the_predicted_class(client, contributor_headers):
    frame = est.multiclass_frame()
    register(
        client,
        contributor_headers,
        "kinds",
        "multiclass_classification",
        est.multiclass_classifier(frame),
        frame,
        "kind",
    )
    item = explain(client, contributor_headers, "kinds", [{"x0": 2.0, "x1": 0.0}]).json["result"][
        "explanations"
    ][0]
    assert item["prediction"]["label"] == "c"
    assert set(item["prediction"]["probabilities"]) == {"a", "b", "c"}
    assert item["explained_label"] == "c"
    assert item["weights"][0]["feature"] == "x0"


def test_rows_that_do_not_match_the_schema_are_refused_field_by_field(client, contributor_headers):
    _signal(client, contributor_headers)
    good = {name: 0.0 for name in est.NUMERIC}
    response = explain(
        client,
        contributor_headers,
        "signal",
        [
            good,
            {**good, "x9": 1.0},
            {k: v for k, v in good.items() if k != "x0"},
            {**good, "x2": "high"},
        ],
    )
    assert response.status_code == 422
    details = response.json["error"]["details"]
    assert set(details) == {"rows.1", "rows.2", "rows.3"}
    assert "unknown features: x9" in details["rows.1"]
    assert "missing features: x0" in details["rows.2"]


def test_more_rows_than_the_sync_limit_become_a_job_to_poll(app, client, contributor_headers):
    frame = _signal(client, contributor_headers)
    rows = [_row(frame, i) for i in range(7)]  # the tests' sync limit is 3
    response = explain(client, contributor_headers, "signal", rows, num_samples=300)
    assert response.status_code == 202
    assert response.json["status"] == "queued" and response.json["result"] is None
    assert app.extensions["assay_explain_jobs"].drain(120)
    done = client.get(f"{API}/explanations/{response.json['id']}", headers=contributor_headers).json
    assert done["status"] == "done"
    assert len(done["result"]["explanations"]) == 7
    sync = explain(client, contributor_headers, "signal", rows[4:6], num_samples=300).json
    assert sync["result"]["explanations"] == done["result"]["explanations"][4:6]
    actions = [
        e["action"] for e in audit_events(client, contributor_headers, "model_version", "signal/1")
    ]
    assert "explanation.done" in actions


def test_a_global_explanation_ranks_the_signal_features_over_the_reference_set(
    app, client, contributor_headers
):
    _signal(client, contributor_headers)
    url = f"{API}/models/signal/versions/1/global-explanation"
    assert client.get(url, headers=contributor_headers).status_code == 404
    queued = client.post(
        url, json={"sample_size": 12, "num_samples": 300}, headers=contributor_headers
    )
    assert queued.status_code == 202 and queued.json["source"] == "reference"
    assert app.extensions["assay_explain_jobs"].drain(120)
    stored = client.get(url, headers=contributor_headers).json
    assert stored["status"] == "done" and stored["result"]["rows"] == 12
    ranked = [f["feature"] for f in stored["result"]["features"]]
    assert sorted(ranked[:2]) == est.SIGNAL_FEATURES


def test_a_version_without_reference_data_cannot_be_explained(client, contributor_headers):
    from tests.api.factories import create_model, register_version, skops_artifact

    create_model(client, contributor_headers, "bare")
    register_version(
        client,
        contributor_headers,
        "bare",
        metadata={"features": [{"name": "x", "kind": "numerical"}]},
        artifact=(skops_artifact(), "m.skops"),
    )
    response = explain(client, contributor_headers, "bare", [{"x": 1.0}])
    assert response.status_code == 422
    assert "reference_data" in response.json["error"]["details"]
