"""The SDK's explanation calls against a live server."""

from __future__ import annotations

import pytest
from sklearn.ensemble import RandomForestClassifier

import assay
from tests.explain import estimators as est

pytestmark = pytest.mark.commits  # explanation jobs run in background threads on the store


@pytest.fixture
def signal_version(sdk_client):
    frame = est.signal_frame()
    sdk_client.create_model("signal", "binary_classification")
    version = sdk_client.register_version(
        "signal", est.signal_classifier(frame), reference_data=frame, target="label"
    )
    return frame, version


def _row(frame, index):
    return {name: float(frame.iloc[index][name]) for name in est.NUMERIC}


def test_explain_returns_the_prediction_and_ordered_weights(sdk_client, signal_version):
    frame, version = signal_version
    explanation = sdk_client.explain(
        "signal", version, _row(frame, 0), num_features=4, num_samples=500
    )
    assert isinstance(explanation, assay.Explanation)
    assert sorted(w.feature for w in explanation.top(2)) == est.SIGNAL_FEATURES
    assert len(explanation.weights) == 4
    weights = [abs(w) for _, w in explanation.as_list()]
    assert weights == sorted(weights, reverse=True)
    assert explanation.prediction["label"] in (0, 1)
    table = explanation.to_dataframe()
    assert list(table.columns) == ["feature", "condition", "weight"] and len(table) == 4
    assert (explanation.model, explanation.version) == ("signal", 1)


def test_explain_many_waits_for_a_queued_job(sdk_client, signal_version):
    frame, _version = signal_version
    rows = [_row(frame, i) for i in range(25)]  # over the server's default sync limit of 20
    explanations = sdk_client.explain_many("signal", 1, rows, num_samples=200)
    assert len(explanations) == 25
    assert len({e.explanation_id for e in explanations}) == 1
    assert all(len(e.weights) == 6 for e in explanations)
    first = sdk_client.explain("signal", 1, rows[0], num_samples=200)
    assert first.as_list() == explanations[0].as_list()  # the job and a sync call agree


def test_global_explanation_is_computed_then_read_back(sdk_client, signal_version):
    computed = sdk_client.global_explanation("signal", 1, sample_size=10, num_samples=300)
    assert isinstance(computed, assay.GlobalExplanation)
    assert sorted(name for name, _ in computed.features[:2]) == est.SIGNAL_FEATURES
    assert computed.rows == 10 and computed.source == "reference"
    stored = sdk_client.global_explanation("signal", 1, compute=False)
    assert stored == computed


def test_an_untrusted_type_raises_a_validation_error_naming_it(sdk_client):
    frame = est.signal_frame()
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(
        frame[est.NUMERIC], frame["label"]
    )
    sdk_client.create_model("forest", "binary_classification")
    sdk_client.register_version("forest", forest, reference_data=frame, target="label")
    with pytest.raises(assay.ValidationError) as raised:
        sdk_client.explain("forest", 1, _row(frame, 0))
    assert raised.value.details["untrusted_types"] == ["sklearn.tree._tree.Tree"]


def test_a_global_explanation_that_was_never_computed_is_not_found(sdk_client, signal_version):
    with pytest.raises(assay.NotFound):
        sdk_client.global_explanation("signal", 1, compute=False)


def test_a_job_that_fails_raises_the_error_it_would_have_got_at_once(sdk_client):
    frame = est.signal_frame()
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(
        frame[est.NUMERIC], frame["label"]
    )
    sdk_client.create_model("forest", "binary_classification")
    sdk_client.register_version("forest", forest, reference_data=frame, target="label")
    rows = [_row(frame, i) for i in range(21)]
    with pytest.raises(assay.ValidationError) as raised:
        sdk_client.explain_many("forest", 1, rows, num_samples=100)
    assert raised.value.details["untrusted_types"] == ["sklearn.tree._tree.Tree"]
