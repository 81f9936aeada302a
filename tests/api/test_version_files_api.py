"""Versions with files: artifacts and reference datasets, checked before anything is stored."""

from __future__ import annotations

import hashlib
import io
import json

import pandas as pd
import pytest

from assay_server.app import create_app
from tests.api.factories import (
    API,
    CHURN_FEATURES,
    ONNX_ARTIFACT,
    VERSIONS,
    artifact_bytes,
    assert_nothing_registered,
    create_model,
    csv_bytes,
    declared_version,
    field_errors,
    parquet_bytes,
    pickle_artifact,
    reference_frame,
    register_version,
    skops_artifact,
    stored_files,
)

# registering with files -----------------------------------------------------------------------


def test_a_skops_artifact_is_stored_by_its_sha256_and_downloaded_byte_for_byte(
    client, contributor_headers, churn
):
    artifact = skops_artifact()
    digest = hashlib.sha256(artifact).hexdigest()

    response = register_version(
        client,
        contributor_headers,
        metadata={"features": CHURN_FEATURES},
        artifact=(artifact, "model.skops"),
    )

    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.json["artifact"] == {
        "sha256": digest,
        "format": "skops",
        "size_bytes": len(artifact),
        "filename": "model.skops",
    }
    download = client.get(f"{VERSIONS}/1/artifact", headers=contributor_headers)
    assert download.status_code == 200
    assert download.data == artifact
    assert download.headers["X-Assay-Sha256"] == digest
    assert "model.skops" in download.headers["Content-Disposition"]


@pytest.mark.parametrize(
    ("filename", "kind", "declared", "stored_as"),
    [
        ("model.skops", "skops", None, "skops"),
        ("MODEL.SKOPS", "skops", None, "skops"),
        ("model.onnx", "onnx", None, "onnx"),
        ("model.bin", "onnx", "onnx", "onnx"),
        ("model.pkl", "pickle", None, "pickle"),
        ("model.pickle", "pickle", None, "pickle"),
        ("model.joblib", "pickle", None, "pickle"),
        ("weights", "pickle", "pickle", "pickle"),
    ],
)
def test_the_format_is_taken_from_the_request_or_the_file_name(
    client, contributor_headers, churn, filename, kind, declared, stored_as
):
    content = artifact_bytes(kind)
    metadata = {"features": CHURN_FEATURES, "format": declared}

    response = register_version(
        client, contributor_headers, metadata=metadata, artifact=(content, filename)
    )

    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.json["artifact"]["format"] == stored_as
    assert response.json["artifact"]["sha256"] == hashlib.sha256(content).hexdigest()
    download = client.get(f"{VERSIONS}/1/artifact", headers=contributor_headers)
    assert download.data == content


def test_an_artifact_named_without_a_known_extension_needs_a_format(
    client, contributor_headers, churn, settings
):
    details = field_errors(
        register_version(
            client,
            contributor_headers,
            metadata={"features": CHURN_FEATURES},
            artifact=(ONNX_ARTIFACT, "model.bin"),
        )
    )

    assert "format" in details
    assert "model.bin" in details["format"][0]
    assert_nothing_registered(client, contributor_headers, settings)


def test_a_pickle_sent_as_skops_is_refused_and_named_a_pickle(
    client, contributor_headers, churn, settings
):
    details = field_errors(
        register_version(
            client,
            contributor_headers,
            metadata={"features": CHURN_FEATURES, "format": "skops"},
            artifact=(pickle_artifact(), "model.skops"),
        )
    )

    assert "pickle" in details["format"][0]
    assert_nothing_registered(client, contributor_headers, settings)


@pytest.mark.parametrize("kind", ["pickle", "skops"])
def test_a_pickle_or_zip_sent_as_onnx_is_refused(
    client, contributor_headers, churn, settings, kind
):
    details = field_errors(
        register_version(
            client,
            contributor_headers,
            metadata={"features": CHURN_FEATURES},
            artifact=(artifact_bytes(kind), "model.onnx"),
        )
    )

    assert "format" in details
    assert_nothing_registered(client, contributor_headers, settings)


@pytest.mark.parametrize("filename", ["model.skops", "model.onnx", "model.pkl"])
def test_an_empty_artifact_is_refused(client, contributor_headers, churn, settings, filename):
    details = field_errors(
        register_version(
            client,
            contributor_headers,
            metadata={"features": CHURN_FEATURES},
            artifact=(b"", filename),
        )
    )

    assert "artifact" in details or "format" in details
    assert_nothing_registered(client, contributor_headers, settings)


def test_the_artifact_checksum_sent_is_checked(client, contributor_headers, churn):
    artifact = skops_artifact()
    digest = hashlib.sha256(artifact).hexdigest()

    response = register_version(
        client,
        contributor_headers,
        metadata={"features": CHURN_FEATURES, "artifact_sha256": digest.upper()},
        artifact=(artifact, "model.skops"),
    )

    assert response.status_code == 201
    assert response.json["artifact"]["sha256"] == digest


def test_an_artifact_that_does_not_match_its_checksum_stores_nothing(
    client, contributor_headers, churn, settings
):
    artifact = skops_artifact()
    wrong = hashlib.sha256(b"something else").hexdigest()

    details = field_errors(
        register_version(
            client,
            contributor_headers,
            metadata={"features": CHURN_FEATURES, "artifact_sha256": wrong},
            artifact=(artifact, "model.skops"),
        )
    )

    assert wrong in details["artifact_sha256"][0]
    assert hashlib.sha256(artifact).hexdigest() in details["artifact_sha256"][0]
    assert_nothing_registered(client, contributor_headers, settings)


def test_an_artifact_over_the_size_limit_is_too_large_and_stores_nothing(
    settings, db, clock, contributor_headers
):
    small = create_app(settings.with_overrides(max_artifact_mb=0.01), database=db, clock=clock)
    client = small.test_client()
    create_model(client, contributor_headers, "churn")
    limit = int(0.01 * 1024 * 1024)

    details = field_errors(
        register_version(
            client,
            contributor_headers,
            metadata={"features": CHURN_FEATURES, "format": "onnx"},
            artifact=(b"\x08" * (limit + 1), "model.onnx"),
        ),
        status=413,
    )

    assert details == {}
    assert_nothing_registered(client, contributor_headers, settings)


def test_an_artifact_exactly_at_the_size_limit_is_accepted(
    settings, db, clock, contributor_headers
):
    small = create_app(settings.with_overrides(max_artifact_mb=0.01), database=db, clock=clock)
    client = small.test_client()
    create_model(client, contributor_headers, "churn")
    limit = int(0.01 * 1024 * 1024)

    response = register_version(
        client,
        contributor_headers,
        metadata={"features": CHURN_FEATURES},
        artifact=(b"\x08" * limit, "model.onnx"),
    )

    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.json["artifact"]["size_bytes"] == limit


def test_the_same_artifact_in_two_versions_is_stored_once(
    client, contributor_headers, churn, settings
):
    for _ in range(2):
        register_version(
            client,
            contributor_headers,
            metadata={"features": CHURN_FEATURES},
            artifact=(skops_artifact(), "model.skops"),
        )

    assert stored_files(settings, "artifacts") == [hashlib.sha256(skops_artifact()).hexdigest()]
    for number in (1, 2):
        download = client.get(f"{VERSIONS}/{number}/artifact", headers=contributor_headers)
        assert download.data == skops_artifact()


@pytest.mark.parametrize(
    ("encode", "filename"),
    [
        (csv_bytes, "reference.csv"),
        (parquet_bytes, "reference.parquet"),
    ],
)
def test_features_are_inferred_from_the_reference_data_and_it_is_kept_as_parquet(
    client, contributor_headers, churn, encode, filename
):
    frame = reference_frame(30)

    response = register_version(
        client,
        contributor_headers,
        metadata={"target": "churned"},
        reference=(encode(frame), filename),
    )

    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.json
    assert body["schema"] == {
        "features": [{"name": "age", "kind": "numerical"}, {"name": "plan", "kind": "categorical"}],
        "target": {"name": "churned", "kind": "categorical"},
        "prediction": None,
    }
    download = client.get(f"{VERSIONS}/1/reference", headers=contributor_headers)
    assert download.status_code == 200
    assert download.mimetype == "application/vnd.apache.parquet"
    assert download.headers["X-Assay-Sha256"] == hashlib.sha256(download.data).hexdigest()
    assert body["reference"] == {
        "sha256": hashlib.sha256(download.data).hexdigest(),
        "rows": 30,
        "columns": 3,
        "size_bytes": len(download.data),
    }
    pd.testing.assert_frame_equal(pd.read_parquet(io.BytesIO(download.data)), frame)


def test_a_regression_target_is_numerical_and_other_columns_are_inferred_by_dtype(
    client, contributor_headers
):
    create_model(client, contributor_headers, "price", task="regression")
    frame = pd.DataFrame(
        {
            "area": [50.5, 70.0, 90.25],
            "rooms": [1, 2, 3],
            "city": ["a", "b", "a"],
            "new": [True, False, True],
            "price": [100.0, 150.0, 210.0],
            "predicted": [101.0, 149.0, 200.0],
        }
    )

    response = register_version(
        client,
        contributor_headers,
        "price",
        metadata={"target": "price", "prediction": "predicted"},
        reference=(parquet_bytes(frame), "ref.parquet"),
    )

    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.json["schema"] == {
        "features": [
            {"name": "area", "kind": "numerical"},
            {"name": "rooms", "kind": "numerical"},
            {"name": "city", "kind": "categorical"},
            {"name": "new", "kind": "categorical"},
        ],
        "target": {"name": "price", "kind": "numerical"},
        "prediction": {"name": "predicted", "kind": "numerical"},
    }
    assert response.json["reference"]["columns"] == 6


def test_a_multiclass_target_is_categorical(client, contributor_headers):
    create_model(client, contributor_headers, "segment", task="multiclass_classification")

    version = declared_version(client, contributor_headers, "segment", target="segment_id")

    assert version["schema"]["target"] == {"name": "segment_id", "kind": "categorical"}


def test_the_reference_keeps_only_the_declared_columns(client, contributor_headers, churn):
    frame = reference_frame(10).assign(customer_id=range(10))

    response = register_version(
        client,
        contributor_headers,
        metadata={"features": [{"name": "plan", "kind": "categorical"}], "target": "churned"},
        reference=(csv_bytes(frame), "ref.csv"),
    )

    assert response.status_code == 201, response.get_data(as_text=True)
    download = client.get(f"{VERSIONS}/1/reference", headers=contributor_headers)
    kept = pd.read_parquet(io.BytesIO(download.data))
    assert list(kept.columns) == ["plan", "churned"]
    assert kept["plan"].tolist() == frame["plan"].tolist()


def test_a_version_with_an_artifact_and_reference_data_keeps_both(
    client, contributor_headers, churn
):
    response = register_version(
        client,
        contributor_headers,
        metadata={"target": "churned", "tags": ["both"]},
        artifact=(skops_artifact(), "model.skops"),
        reference=(parquet_bytes(reference_frame()), "ref.parquet"),
    )

    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.json["artifact"]["format"] == "skops"
    assert response.json["reference"]["rows"] == 20
    assert response.json["tags"] == ["both"]


@pytest.mark.parametrize(
    ("metadata", "frame", "field"),
    [
        ({"features": [{"name": "income", "kind": "numerical"}]}, reference_frame(), "features"),
        ({"features": [{"name": "plan", "kind": "numerical"}]}, reference_frame(), "features"),
        ({"target": "label"}, reference_frame(), "target"),
        (
            {"target": "churned", "features": CHURN_FEATURES},
            reference_frame().drop(columns="age"),
            "features",
        ),
        ({"target": "churned"}, reference_frame().iloc[0:0], "reference_data"),
        ({"target": "churned"}, reference_frame()[["churned"]], "features"),
    ],
)
def test_reference_data_that_does_not_match_the_schema_is_refused_field_by_field(
    client, contributor_headers, churn, settings, metadata, frame, field
):
    details = field_errors(
        register_version(
            client, contributor_headers, metadata=metadata, reference=(csv_bytes(frame), "ref.csv")
        )
    )

    assert field in details
    assert_nothing_registered(client, contributor_headers, settings)


def test_a_regression_target_holding_text_is_refused(client, contributor_headers, settings):
    create_model(client, contributor_headers, "price", task="regression")
    frame = pd.DataFrame({"area": [1.0, 2.0], "price": ["cheap", "dear"]})

    details = field_errors(
        register_version(
            client,
            contributor_headers,
            "price",
            metadata={"target": "price"},
            reference=(csv_bytes(frame), "ref.csv"),
        )
    )

    assert "target" in details


def test_a_csv_whose_column_names_repeat_is_refused_not_renamed(
    client, contributor_headers, churn, settings
):
    content = b"age,age,churned\n30,31,1\n40,41,0\n"

    details = field_errors(
        register_version(
            client,
            contributor_headers,
            metadata={"target": "churned"},
            reference=(content, "ref.csv"),
        )
    )

    assert details == {"reference_data": ["Column names repeat: age."]}
    assert_nothing_registered(client, contributor_headers, settings)


@pytest.mark.parametrize(
    ("content", "filename"),
    [
        pytest.param(b"not,a\nparquet", "ref.parquet", id="csv-named-parquet"),
        pytest.param(b"PAR1 broken", "ref.csv", id="broken-parquet"),
        pytest.param(b"", "ref.csv", id="empty"),
        pytest.param(b"\x00\x01\x02\x03 binary junk \xff", "ref.csv", id="binary-junk"),
    ],
)
def test_reference_data_that_cannot_be_read_is_refused(
    client, contributor_headers, churn, settings, content, filename
):
    details = field_errors(
        register_version(client, contributor_headers, metadata={}, reference=(content, filename))
    )

    assert "reference_data" in details
    assert_nothing_registered(client, contributor_headers, settings)


def test_reference_data_over_its_size_limit_is_too_large(settings, db, clock, contributor_headers):
    small = create_app(settings.with_overrides(max_reference_mb=0.001), database=db, clock=clock)
    client = small.test_client()
    create_model(client, contributor_headers, "churn")

    field_errors(
        register_version(
            client,
            contributor_headers,
            metadata={"target": "churned"},
            reference=(csv_bytes(reference_frame(500)), "ref.csv"),
        ),
        status=413,
    )

    assert_nothing_registered(client, contributor_headers, settings)


def test_a_bad_reference_leaves_no_artifact_behind(client, contributor_headers, churn, settings):
    details = field_errors(
        register_version(
            client,
            contributor_headers,
            metadata={"target": "label"},
            artifact=(skops_artifact(), "model.skops"),
            reference=(csv_bytes(reference_frame()), "ref.csv"),
        )
    )

    assert "target" in details
    assert_nothing_registered(client, contributor_headers, settings)


def test_a_file_sent_as_a_plain_form_field_is_refused_not_ignored(
    client, contributor_headers, churn, settings
):
    response = client.post(
        VERSIONS,
        headers=contributor_headers,
        content_type="multipart/form-data",
        data={
            "metadata": json.dumps({"features": CHURN_FEATURES}),
            "artifact": "these bytes were meant to be a file",
        },
    )

    details = field_errors(response)
    assert "artifact" in details
    assert_nothing_registered(client, contributor_headers, settings)


@pytest.mark.parametrize(
    ("metadata", "status"),
    [
        ({"features": CHURN_FEATURES, "format": "onnx"}, 201),
        ({"features": CHURN_FEATURES}, 422),
    ],
)
def test_an_artifact_part_with_an_empty_file_name_is_kept_not_dropped(
    client, contributor_headers, churn, metadata, status
):
    response = client.post(
        VERSIONS,
        headers=contributor_headers,
        content_type="multipart/form-data",
        data={"metadata": json.dumps(metadata), "artifact": (io.BytesIO(ONNX_ARTIFACT), "")},
    )

    assert response.status_code == status, response.get_data(as_text=True)
    if status == 201:
        assert response.json["artifact"]["sha256"] == hashlib.sha256(ONNX_ARTIFACT).hexdigest()
    else:
        assert "format" in response.json["error"]["details"]


def test_an_unknown_file_part_is_refused(client, contributor_headers, churn, settings):
    response = client.post(
        VERSIONS,
        headers=contributor_headers,
        content_type="multipart/form-data",
        data={
            "metadata": json.dumps({"features": CHURN_FEATURES}),
            "weights": (io.BytesIO(b"x"), "weights.bin"),
        },
    )

    assert "weights" in field_errors(response)
    assert_nothing_registered(client, contributor_headers, settings)


def test_a_version_without_files_has_nothing_to_download(client, contributor_headers, churn):
    declared_version(client, contributor_headers)

    for part in ("artifact", "reference"):
        response = client.get(f"{VERSIONS}/1/{part}", headers=contributor_headers)
        assert response.status_code == 404
        assert response.json["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    "path",
    [
        "/nope/versions/1",
        "/churn/versions/9",
        "/churn/versions/9/artifact",
        "/churn/versions/9/reference",
    ],
)
def test_reading_an_unknown_model_or_version_is_not_found(client, contributor_headers, churn, path):
    declared_version(client, contributor_headers)

    response = client.get(f"{API}/models{path}", headers=contributor_headers)

    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"
