"""Registering and reading versions through the SDK against a live server."""

from __future__ import annotations

import hashlib
import io
import sys
from pathlib import Path
from typing import Any

import pytest

import assay

FEATURES = {"age": "numerical"}


def test_register_version_without_files_sends_only_metadata(
    admin_client: assay.Client, churn_model: assay.Model
) -> None:
    version = admin_client.register_version(
        "churn",
        description="baseline",
        tags=["candidate"],
        features={"age": "numerical", "plan": "categorical"},
        target="churned",
        model_card={"intended_use": "retention offers"},
    )

    assert isinstance(version, assay.ModelVersion)
    assert (version.model, version.version, version.stage) == ("churn", 1, "none")
    assert version.artifact is None and version.reference is None
    assert version.schema.features == (
        assay.FeatureSpec("age", "numerical"),
        assay.FeatureSpec("plan", "categorical"),
    )
    assert version.tags == ("candidate",)
    assert version.model_card == {"intended_use": "retention offers"}
    assert admin_client.get_model("churn").latest_version == 1


def test_register_version_uploads_an_artifact_from_a_path(
    admin_client: assay.Client, churn_model: assay.Model, tmp_path: Path, skops_bytes: bytes
) -> None:
    path = tmp_path / "churn.skops"
    path.write_bytes(skops_bytes)

    version = admin_client.register_version(churn_model, path, features=FEATURES)

    assert version.artifact is not None
    assert version.artifact.format == "skops"  # inferred from the file name
    assert version.artifact.filename == "churn.skops"
    assert version.artifact.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert version.artifact.size_bytes == path.stat().st_size


def test_a_mislabelled_artifact_is_refused_by_the_server_with_details(
    admin_client: assay.Client, churn_model: assay.Model
) -> None:
    with pytest.raises(assay.ValidationError) as raised:
        admin_client.register_version("churn", b"not a zip", format="skops", features=FEATURES)

    assert "format" in raised.value.details


def test_register_version_uploads_artifact_bytes_with_their_format(
    admin_client: assay.Client, churn_model: assay.Model
) -> None:
    content = b"\x08\x01onnx-ish bytes"

    version = admin_client.register_version("churn", content, format="onnx", features=FEATURES)

    assert version.artifact is not None
    assert version.artifact.format == "onnx"
    assert admin_client.download_artifact("churn", version.version) == content


def test_register_version_uploads_an_open_binary_file(
    admin_client: assay.Client, churn_model: assay.Model, tmp_path: Path, skops_bytes: bytes
) -> None:
    path = tmp_path / "model.skops"
    path.write_bytes(skops_bytes)

    with path.open("rb") as artifact:
        version = admin_client.register_version("churn", artifact, features=FEATURES)

    assert version.artifact is not None
    assert version.artifact.filename == "model.skops"


def test_register_version_saves_a_scikit_learn_estimator_with_skops(
    admin_client: assay.Client, churn_model: assay.Model, fitted_estimator: Any, training_frame: Any
) -> None:
    import skops.io

    version = admin_client.register_version("churn", fitted_estimator, features=FEATURES)

    assert version.artifact is not None
    assert version.artifact.format == "skops"
    assert version.artifact.filename == "model.skops"
    content = admin_client.download_artifact("churn", version.version)
    assert isinstance(content, bytes)
    loaded = skops.io.loads(content, trusted=skops.io.get_untrusted_types(data=content))
    features = training_frame[["age"]]
    assert list(loaded.predict(features)) == list(fitted_estimator.predict(features))


def test_an_estimator_without_skops_installed_raises_a_clear_import_error(
    admin_client: assay.Client, fitted_estimator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "skops", None)
    monkeypatch.setitem(sys.modules, "skops.io", None)

    with pytest.raises(ImportError, match="pip install skops"):
        admin_client.register_version("churn", fitted_estimator)


def test_an_estimator_cannot_be_sent_as_another_format(
    admin_client: assay.Client, fitted_estimator: Any
) -> None:
    with pytest.raises(ValueError, match="skops"):
        admin_client.register_version("churn", fitted_estimator, format="onnx")


def test_a_dataframe_reference_is_sent_and_its_features_inferred_by_the_server(
    admin_client: assay.Client, churn_model: assay.Model, training_frame: Any
) -> None:
    version = admin_client.register_version(
        "churn", reference_data=training_frame, target="churned"
    )

    assert version.reference is not None
    assert (version.reference.rows, version.reference.columns) == (12, 3)
    assert version.schema.features == (
        assay.FeatureSpec("age", "numerical"),
        assay.FeatureSpec("plan", "categorical"),
    )
    assert version.schema.target is not None
    assert version.schema.target.name == "churned"


def test_the_reference_dataset_comes_back_as_parquet(
    admin_client: assay.Client, churn_model: assay.Model, training_frame: Any, tmp_path: Path
) -> None:
    import pandas as pd

    admin_client.register_version("churn", reference_data=training_frame, target="churned")

    written = admin_client.download_reference("churn", 1, tmp_path / "reference.parquet")

    assert written == tmp_path / "reference.parquet"
    pd.testing.assert_frame_equal(
        pd.read_parquet(written), training_frame, check_dtype=False, check_like=True
    )


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_reference_file_is_uploaded_from_its_path(
    admin_client: assay.Client,
    churn_model: assay.Model,
    training_frame: Any,
    tmp_path: Path,
    suffix: str,
) -> None:
    path = tmp_path / f"reference{suffix}"
    if suffix == ".csv":
        training_frame.to_csv(path, index=False)
    else:
        training_frame.to_parquet(path, index=False)

    version = admin_client.register_version("churn", reference_data=path, target="churned")

    assert version.reference is not None
    assert (version.reference.rows, version.reference.columns) == (12, 3)


def test_a_reference_file_of_another_type_is_refused_before_sending(
    admin_client: assay.Client, tmp_path: Path
) -> None:
    path = tmp_path / "reference.xlsx"
    path.write_bytes(b"")

    with pytest.raises(ValueError, match=r"\.csv or \.parquet"):
        admin_client.register_version("churn", reference_data=path)


def test_feature_names_take_their_kinds_from_a_dataframe_reference(
    admin_client: assay.Client, churn_model: assay.Model, training_frame: Any
) -> None:
    version = admin_client.register_version(
        "churn", reference_data=training_frame, target="churned", features=["plan", "age"]
    )

    assert version.schema.features == (
        assay.FeatureSpec("plan", "categorical"),
        assay.FeatureSpec("age", "numerical"),
    )


def test_feature_names_without_a_dataframe_raise_value_error(admin_client: assay.Client) -> None:
    with pytest.raises(ValueError, match="dict name -> kind"):
        admin_client.register_version("churn", features=["age", "plan"])


def test_features_may_be_given_as_specs(
    admin_client: assay.Client, churn_model: assay.Model
) -> None:
    version = admin_client.register_version(
        "churn",
        features=[{"name": "age", "kind": "numerical"}, assay.FeatureSpec("plan", "categorical")],
    )

    assert version.schema.feature_names == ["age", "plan"]


def test_params_and_metrics_are_merged_into_the_lineage(
    admin_client: assay.Client, churn_model: assay.Model
) -> None:
    version = admin_client.register_version(
        "churn",
        features=FEATURES,
        lineage={
            "dataset_uri": "s3://bucket/train.parquet",
            "git_commit": "3f2a9c1",
            "params": {"C": 1.0},
        },
        params={"max_iter": 200},
        metrics={"auc": 0.91},
    )

    assert version.lineage.dataset_uri == "s3://bucket/train.parquet"
    assert version.lineage.git_commit == "3f2a9c1"
    assert version.lineage.params == {"C": 1.0, "max_iter": 200}
    assert version.lineage.metrics == {"auc": 0.91}


def test_versions_are_listed_and_filtered_across_pages(
    admin_client: assay.Client, churn_model: assay.Model
) -> None:
    for tag in ["a", "b", "a"]:
        admin_client.register_version("churn", tags=[tag], features=FEATURES)
    admin_client.page_size = 2

    assert [v.version for v in admin_client.list_versions("churn", sort="version")] == [1, 2, 3]
    assert [v.version for v in admin_client.list_versions("churn", tag="a", sort="-version")] == [
        3,
        1,
    ]


def test_get_version_returns_what_was_registered(
    admin_client: assay.Client, churn_model: assay.Model
) -> None:
    registered = admin_client.register_version("churn", description="first", features=FEATURES)

    assert admin_client.get_version("churn", 1) == registered
    assert admin_client.get_version(churn_model, registered) == registered


def test_update_version_changes_only_its_documentation(
    admin_client: assay.Client, churn_model: assay.Model
) -> None:
    admin_client.register_version("churn", description="first", tags=["x"], features=FEATURES)

    updated = admin_client.update_version(
        "churn", 1, description="first, documented", model_card={"limitations": "EU only"}
    )

    assert updated.description == "first, documented"
    assert updated.tags == ("x",)
    assert updated.model_card == {"limitations": "EU only"}


def test_set_stage_moves_a_version_and_can_archive_the_one_it_replaces(
    admin_client: assay.Client, churn_model: assay.Model
) -> None:
    admin_client.register_version("churn", features=FEATURES)
    admin_client.register_version("churn", features=FEATURES)

    first = admin_client.set_stage(
        "churn", 1, "production", reason="launch before the gate", comment="initial launch"
    )
    second = admin_client.set_stage(
        "churn", 2, "production", reason="hotfix", archive_existing=True
    )

    assert first.stage == "production"
    assert second.stage == "production"
    assert admin_client.get_version("churn", 1).stage == "archived"
    assert [v.version for v in admin_client.list_versions("churn", stage="production")] == [2]


def test_set_stage_past_the_gate_needs_a_reason_and_is_an_override(
    admin_client: assay.Client, churn_model: assay.Model
) -> None:
    admin_client.register_version("churn", features=FEATURES)

    with pytest.raises(assay.ValidationError) as refused:
        admin_client.set_stage("churn", 1, "production")
    assert "reason" in refused.value.details
    moved = admin_client.set_stage("churn", 1, "production", reason="incident 4711 hotfix")

    assert moved.stage == "production"
    gate = admin_client.gate("churn", 1, "production")
    # no policy applies to this model, so there is nothing an override could skip
    assert (gate.status, gate.passed) == ("override", True)
    [override] = admin_client.list_promotions(model="churn", status="overridden")
    assert (override.reason, override.approvals) == ("incident 4711 hotfix", 0)
    assert admin_client.set_stage("churn", 1, "archived").stage == "archived"


def test_download_artifact_streams_to_a_path(
    admin_client: assay.Client, churn_model: assay.Model, tmp_path: Path
) -> None:
    content = bytes(range(256)) * 1024
    admin_client.register_version("churn", content, format="onnx", features=FEATURES)

    written = admin_client.download_artifact("churn", 1, tmp_path / "out.onnx")

    assert written == tmp_path / "out.onnx"
    assert written.read_bytes() == content


def test_an_artifact_of_the_wrong_type_is_refused_before_sending(
    admin_client: assay.Client,
) -> None:
    with pytest.raises(TypeError, match="artifact must be"):
        admin_client.register_version("churn", 42)


def test_a_text_mode_artifact_file_is_refused(admin_client: assay.Client) -> None:
    with pytest.raises(TypeError, match="binary mode"):
        admin_client.register_version("churn", io.StringIO("text"))
