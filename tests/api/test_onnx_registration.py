"""An ONNX artifact's inputs are checked against the version's features at registration."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd
import pytest

from assay_server.registry.onnx_inputs import GraphInput, graph_inputs
from tests.api.factories import (
    ONNX_ARTIFACT,
    assert_nothing_registered,
    create_model,
    field_errors,
    parquet_bytes,
    register_version,
)

pytest.importorskip("skl2onnx")
onnx = pytest.importorskip("onnx")

NUMERIC = [{"name": "age", "kind": "numerical"}, {"name": "income", "kind": "numerical"}]


@lru_cache(maxsize=1)
def tensor_model() -> bytes:
    """A logistic regression on two numeric features, converted by skl2onnx: one float
    tensor input of width 2."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.linear_model import LogisticRegression

    fitted = LogisticRegression().fit([[20, 1.0], [30, 2.0], [40, 3.0], [50, 4.0]], [0, 0, 1, 1])
    converted = convert_sklearn(fitted, initial_types=[("input", FloatTensorType([None, 2]))])
    return bytes(converted.SerializeToString())


@lru_cache(maxsize=1)
def per_column_model() -> bytes:
    """A graph with one input per feature (``age``, ``income``), concatenated."""
    from onnx import TensorProto, helper

    inputs = [
        helper.make_tensor_value_info(name, TensorProto.FLOAT, [None, 1])
        for name in ("age", "income")
    ]
    output = helper.make_tensor_value_info("joined", TensorProto.FLOAT, [None, 2])
    node = helper.make_node("Concat", ["age", "income"], ["joined"], axis=1)
    graph = helper.make_graph([node], "per_column", inputs, [output])
    return bytes(helper.make_model(graph).SerializeToString())


def _register(client, headers, artifact: bytes, **metadata):
    return register_version(
        client, headers, "churn", metadata=metadata, artifact=(artifact, "model.onnx")
    )


@pytest.fixture
def churn(client, contributor_headers):
    return create_model(client, contributor_headers, "churn")


def test_the_reader_agrees_with_onnxruntime(tmp_path: Path) -> None:
    onnxruntime = pytest.importorskip("onnxruntime")
    for name, data in (("tensor", tensor_model()), ("columns", per_column_model())):
        path = tmp_path / f"{name}.onnx"
        path.write_bytes(data)
        session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
        expected = [GraphInput(i.name, i.shape[1]) for i in session.get_inputs()]
        assert graph_inputs(path) == expected


def test_bytes_that_are_no_onnx_graph_are_left_unchecked(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    for data in (ONNX_ARTIFACT, b"\x08\x01onnx-ish bytes", b"\x08" * 100, b"\xff" * 10):
        path.write_bytes(data)
        assert graph_inputs(path) is None


def test_a_tensor_input_as_wide_as_the_features_is_accepted(client, contributor_headers, churn):
    response = _register(client, contributor_headers, tensor_model(), features=NUMERIC)
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.json["artifact"]["format"] == "onnx"


def test_a_tensor_input_of_another_width_is_refused(client, contributor_headers, churn, settings):
    features = [*NUMERIC, {"name": "plan", "kind": "categorical"}]
    response = _register(client, contributor_headers, tensor_model(), features=features)
    [message] = field_errors(response)["features"]
    assert "takes 2 features" in message and "the version has 3" in message
    assert_nothing_registered(client, contributor_headers, settings)


def test_inputs_named_per_feature_must_be_the_features(client, contributor_headers, churn):
    ok = _register(client, contributor_headers, per_column_model(), features=NUMERIC)
    assert ok.status_code == 201, ok.get_data(as_text=True)

    wrong = [{"name": "age", "kind": "numerical"}, {"name": "plan", "kind": "categorical"}]
    response = _register(client, contributor_headers, per_column_model(), features=wrong)
    [message] = field_errors(response)["features"]
    assert "only in the version ['plan']" in message
    assert "only in the model ['income']" in message


def test_features_inferred_from_the_reference_are_checked_before_anything_is_stored(
    client, contributor_headers, churn, settings
):
    frame = pd.DataFrame(
        {
            "age": [20.0, 30.0, 40.0],
            "income": [1.0, 2.0, 3.0],
            "plan": ["a", "b", "a"],
            "churned": [0, 1, 0],
        }
    )
    response = register_version(
        client,
        contributor_headers,
        "churn",
        metadata={"target": "churned"},
        artifact=(tensor_model(), "model.onnx"),
        reference=(parquet_bytes(frame), "reference.parquet"),
    )
    [message] = field_errors(response)["features"]
    assert "takes 2 features" in message and "the version has 3" in message
    assert_nothing_registered(client, contributor_headers, settings)

    fitting = register_version(
        client,
        contributor_headers,
        "churn",
        metadata={"target": "churned"},
        artifact=(tensor_model(), "model.onnx"),
        reference=(parquet_bytes(frame.drop(columns="plan")), "reference.parquet"),
    )
    assert fitting.status_code == 201, fitting.get_data(as_text=True)
    assert [f["name"] for f in fitting.json["schema"]["features"]] == ["age", "income"]
