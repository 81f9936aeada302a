"""The SDK declares a classifier's classes at model creation (live server)."""

from __future__ import annotations

import pandas as pd
import pytest

import assay

FEATURES = {"age": "numerical", "plan": "categorical"}


def test_create_model_declares_classes_that_the_model_reports(
    admin_client: assay.Client,
) -> None:
    model = admin_client.create_model(
        "zoo", "multiclass_classification", classes=["cat", "dog", "bird"]
    )

    assert model.classes == ("cat", "dog", "bird")
    assert admin_client.get_model("zoo").classes == ("cat", "dog", "bird")
    assert admin_client.create_model("churn", "binary_classification").classes is None


def test_classes_that_cannot_be_a_binary_classifiers_are_a_validation_error(
    admin_client: assay.Client,
) -> None:
    with pytest.raises(assay.ValidationError) as raised:
        admin_client.create_model("triage", "binary_classification", classes=["a", "b", "c"])

    assert "exactly two" in " ".join(raised.value.details["classes"])


def test_register_version_refuses_a_reference_target_outside_the_declared_classes(
    admin_client: assay.Client,
) -> None:
    admin_client.create_model("zoo", "multiclass_classification", classes=["cat", "dog"])
    frame = pd.DataFrame(
        {"age": [1.0, 2.0, 3.0], "plan": ["a", "b", "a"], "kind": ["cat", "dog", "emu"]}
    )

    with pytest.raises(assay.ValidationError) as raised:
        admin_client.register_version(
            "zoo", reference_data=frame, target="kind", features=list(FEATURES)
        )

    assert "'emu'" in " ".join(raised.value.details["target"])
    registered = admin_client.register_version(
        "zoo", reference_data=frame.iloc[:2], target="kind", features=list(FEATURES)
    )
    assert registered.version == 1
