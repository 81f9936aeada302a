"""Backups of a deployment whose blobs live in S3: ``assay-server backup`` reads the blobs the
snapshot names from the bucket, and ``restore`` writes them into the target's blob storage,
a bucket or a data directory (blobs are kept by content, so either holds the same bytes)."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner, Result

from assay_server.app import create_app
from assay_server.cli import main
from assay_server.db import Database
from assay_server.settings import Settings
from tests.api.factories import (
    API,
    CHURN_FEATURES,
    create_model,
    parquet_bytes,
    register_version,
    skops_artifact,
)
from tests.faults.conftest import migrate_with_admin_token

pytestmark = pytest.mark.slow


def assay_server(database_url: str, data_dir: Path, storage_url: str, *args: str) -> Result:
    """``assay-server ARGS`` on this store and blob storage (the AWS settings are the S3
    fixture's)."""
    env = {
        "ASSAY_DATABASE_URL": database_url,
        "ASSAY_DATA_DIR": str(data_dir),
        "ASSAY_STORAGE_URL": storage_url,
        "ASSAY_AUDIT_SIGNING_KEY_FILE": "",
    }
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def serving(database_url: str, data_dir: Path, storage_url: str) -> tuple[Any, Database]:
    """A test client of an app on this store and blob storage."""
    settings = Settings(data_dir=data_dir, database_url=database_url, storage_url=storage_url)
    database = Database.from_settings(settings)
    application = create_app(settings, database=database)
    application.config["TESTING"] = True
    return application.test_client(), database


@pytest.mark.parametrize("target", ["s3", "local"])
def test_a_deployment_on_s3_is_backed_up_and_restored_with_its_blobs(
    new_database: Callable[[str], str],
    tmp_path: Path,
    s3_client: Any,
    bucket: str,
    target: str,
) -> None:
    source_url, source_dir = new_database("source"), tmp_path / "source"
    source_storage = f"s3://{bucket}/assay"
    token = migrate_with_admin_token(source_url, source_dir)
    headers = {"Authorization": f"Bearer {token}"}
    client, database = serving(source_url, source_dir, source_storage)
    artifact = skops_artifact()
    reference = pd.DataFrame({"age": [31.0, 45.0, 52.0, 29.0], "churned": [0, 1, 1, 0]})
    try:
        create_model(client, headers, "churn")
        response = register_version(
            client,
            headers,
            "churn",
            metadata={"target": "churned"},
            artifact=(artifact, "model.skops"),
            reference=(parquet_bytes(reference), "reference.parquet"),
        )
        assert response.status_code == 201, response.get_data(as_text=True)
    finally:
        database.dispose()
    in_source = {o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket)["Contents"]}

    backup = tmp_path / "backup"
    taken = assay_server(source_url, source_dir, source_storage, "backup", "--out", str(backup))
    assert taken.exit_code == 0, taken.output

    manifest = json.loads((backup / "manifest.json").read_text())
    sha = hashlib.sha256(artifact).hexdigest()
    assert [entry["sha256"] for entry in manifest["blobs"]["artifacts"]] == [sha]
    assert len(manifest["blobs"]["reference"]) == 1
    assert (backup / "blobs" / "artifacts" / sha[:2] / sha).read_bytes() == artifact
    backed_up = {
        f"assay/{store}/{entry['sha256'][:2]}/{entry['sha256']}"
        for store, entries in manifest["blobs"].items()
        for entry in entries
    }
    assert backed_up <= in_source, "every blob the backup holds came from the bucket"

    target_url, target_dir = new_database("target"), tmp_path / "target"
    target_storage = ""
    if target == "s3":
        target_bucket = f"{bucket}-restored"
        s3_client.create_bucket(Bucket=target_bucket)
        target_storage = f"s3://{target_bucket}/restored"
    restored = assay_server(target_url, target_dir, target_storage, "restore", str(backup))
    assert restored.exit_code == 0, restored.output

    if target == "s3":
        keys = {o["Key"] for o in s3_client.list_objects_v2(Bucket=target_bucket)["Contents"]}
        assert keys == {key.replace("assay/", "restored/", 1) for key in backed_up}
    else:
        assert (target_dir / "artifacts" / sha[:2] / sha).read_bytes() == artifact
    client, database = serving(target_url, target_dir, target_storage)
    try:
        download = client.get(f"{API}/models/churn/versions/1/artifact", headers=headers)
        assert download.status_code == 200, download.get_data(as_text=True)
        assert download.get_data() == artifact
        data = client.get(f"{API}/models/churn/versions/1/reference", headers=headers)
        assert data.status_code == 200
        assert pd.read_parquet(io.BytesIO(data.get_data()))["age"].tolist() == [31, 45, 52, 29]
    finally:
        database.dispose()


def test_a_blob_missing_from_the_bucket_fails_the_backup_and_leaves_nothing(
    new_database: Callable[[str], str], tmp_path: Path, s3_client: Any, bucket: str
) -> None:
    url, data_dir = new_database("source"), tmp_path / "source"
    storage = f"s3://{bucket}/assay"
    weights = skops_artifact()
    token = migrate_with_admin_token(url, data_dir)
    client, database = serving(url, data_dir, storage)
    try:
        create_model(client, {"Authorization": f"Bearer {token}"}, "churn")
        response = register_version(
            client,
            {"Authorization": f"Bearer {token}"},
            "churn",
            metadata={"features": CHURN_FEATURES},
            artifact=(weights, "model.skops"),
        )
        assert response.status_code == 201, response.get_data(as_text=True)
    finally:
        database.dispose()
    sha = hashlib.sha256(weights).hexdigest()
    s3_client.delete_object(Bucket=bucket, Key=f"assay/artifacts/{sha[:2]}/{sha}")

    result = assay_server(url, data_dir, storage, "backup", "--out", str(tmp_path / "backup"))

    assert result.exit_code == 1
    assert f"missing from s3://{bucket}/assay" in result.output, result.output
    assert f"artifacts/{sha}" in result.output
    assert not (tmp_path / "backup").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".backup")] == []
