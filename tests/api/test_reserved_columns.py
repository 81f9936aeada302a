"""The score and prediction columns of reference data are kept beside the features, never
made features (docs/monitoring.md), and cannot be declared as features."""

from __future__ import annotations

from tests.api.factories import create_model, parquet_bytes, reference_frame, register_version


def test_a_score_column_is_kept_but_never_inferred_as_a_feature(client, contributor_headers):
    create_model(client, contributor_headers, "churn")
    frame = reference_frame(30)
    frame["score"] = [i / 30 for i in range(30)]
    frame["prediction"] = [i % 2 for i in range(30)]
    response = register_version(
        client,
        contributor_headers,
        metadata={"target": "churned"},
        reference=(parquet_bytes(frame), "reference.parquet"),
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    features = [feature["name"] for feature in response.json["schema"]["features"]]
    assert features == ["age", "plan"]
    assert response.json["reference"]["columns"] == 4  # the score kept beside them


def test_a_reserved_column_declared_as_a_feature_is_refused(client, contributor_headers):
    create_model(client, contributor_headers, "churn")
    frame = reference_frame(30)
    frame["score"] = 0.5
    response = register_version(
        client,
        contributor_headers,
        metadata={
            "target": "churned",
            "features": [
                {"name": "age", "kind": "numerical"},
                {"name": "score", "kind": "numerical"},
            ],
        },
        reference=(parquet_bytes(frame), "reference.parquet"),
    )
    assert response.status_code == 422
    assert "Reserved, never features: score" in response.json["error"]["details"]["features"][0]
