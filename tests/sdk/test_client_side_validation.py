"""Values JSON cannot carry are refused by the SDK before anything is sent, naming the field;
a ValidationError's ``str()`` says why, not only which field."""

from __future__ import annotations

import math

import pandas as pd
import pytest

import assay


@pytest.fixture
def offline(closed_port_url: str) -> assay.Client:
    """A client of a port nothing listens on: any request sent would be a connection error."""
    return assay.Client(closed_port_url, "asy_unused", max_retries=0)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_non_finite_number_in_an_explanation_is_refused_before_sending(offline, value):
    with pytest.raises(assay.ValidationError) as raised:
        offline.explain("churn", 1, {"age": 41, "income": value})
    error = raised.value
    assert not isinstance(error, assay.APIConnectionError)
    assert list(error.details) == ["rows[0].income"]
    assert "rows[0].income" in str(error) and "not a number JSON can carry" in str(error)


def test_a_value_json_does_not_know_is_refused_naming_its_field(offline):
    with pytest.raises(assay.ValidationError, match=r"rows\[0\]\.plan.*type object is not JSON"):
        offline.explain("churn", 1, {"age": 41, "plan": object()})


def test_a_nan_benchmark_metric_is_refused_before_sending(offline):
    with pytest.raises(assay.ValidationError, match=r"metrics\.accuracy"):
        offline.log_benchmark("churn", 1, "holdout", {"accuracy": float("nan")})


def test_a_reference_column_pyarrow_cannot_convert_is_a_validation_error(offline):
    mixed = pd.DataFrame({"age": [31.0, "forty", 52.0], "plan": ["a", "b", "c"]})
    with pytest.raises(assay.ValidationError) as raised:
        offline.register_version(
            "churn", features={"age": "numerical", "plan": "categorical"}, reference_data=mixed
        )
    assert list(raised.value.details) == ["reference_data.age"]
    assert "Could not convert 'forty'" in str(raised.value)


def test_the_servers_reasons_are_in_the_message(live_server, admin_token):
    with (
        assay.Client(live_server.url, admin_token) as client,
        pytest.raises(assay.ValidationError) as raised,
    ):
        client.create_model("x" * 300, "binary_classification")
    text = str(raised.value)
    assert "name" in text and raised.value.details["name"][0] in text


def test_many_reasons_show_the_first_three_and_count_the_rest():
    error = assay.ValidationError(
        "Invalid input: a, b, c, d, e",
        details={name: [f"{name} is wrong"] for name in "abcde"},
        status=422,
    )
    assert str(error).endswith(
        "a: a is wrong; b: b is wrong; c: c is wrong; and 2 more in .details"
    )


def test_an_estimator_fitted_on_other_features_than_the_versions_is_refused(offline):
    from sklearn.linear_model import LogisticRegression

    train = pd.DataFrame({"age": [23, 45, 31, 52], "plan": list("abab"), "churned": [0, 1, 0, 1]})
    fitted_on_age = LogisticRegression().fit(train[["age"]], train["churned"])
    with pytest.raises(assay.ValidationError) as raised:
        offline.register_version("churn", fitted_on_age, reference_data=train, target="churned")
    assert list(raised.value.details) == ["features"]
    assert "only in the version ['plan']" in str(raised.value)
    with pytest.raises(assay.ValidationError, match="takes 1 features; the version has 2"):
        offline.register_version(
            "churn",
            LogisticRegression().fit(train[["age"]].to_numpy(), train["churned"]),
            features={"age": "numerical", "plan": "categorical"},
        )


def test_the_score_and_prediction_columns_are_not_compared_as_features(offline):
    from sklearn.linear_model import LogisticRegression

    train = pd.DataFrame(
        {"age": [23, 45, 31, 52], "score": [0.1, 0.9, 0.2, 0.8], "churned": [0, 1, 0, 1]}
    )
    estimator = LogisticRegression().fit(train[["age"]], train["churned"])
    with pytest.raises(assay.APIConnectionError):  # checked, then sent to a closed port
        offline.register_version("churn", estimator, reference_data=train, target="churned")
