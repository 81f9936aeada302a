"""The registry's files through the API on both blob backends: a version's artifact, its
reference dataset and profile are stored by content and downloaded streamed; backup and
restore refuse an S3 store."""

from __future__ import annotations

import hashlib
import io
import shutil
from pathlib import Path

import pandas as pd
import pytest

from assay_server.monitoring import html
from assay_server.settings import Settings
from assay_server.storage import open_storage
from tests.api.factories import (
    API,
    CHURN_FEATURES,
    create_model,
    parquet_bytes,
    reference_frame,
    register_version,
    skops_artifact,
)
from tests.monitoring.conftest import Monitored

VERSION = f"{API}/models/churn/versions/1"


def _files(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_a_version_s_files_are_stored_and_downloaded_on_either_backend(
    client, contributor_headers, settings: Settings, backend: str
) -> None:
    create_model(client, contributor_headers, "churn")
    artifact = skops_artifact()
    response = register_version(
        client,
        contributor_headers,
        metadata={"features": CHURN_FEATURES, "target": "churned"},
        artifact=(artifact, "model.skops"),
        reference=(parquet_bytes(reference_frame(30)), "ref.parquet"),
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    version = response.json

    download = client.get(f"{VERSION}/artifact", headers=contributor_headers)
    assert download.status_code == 200
    assert download.get_data() == artifact
    assert download.headers["X-Assay-Sha256"] == hashlib.sha256(artifact).hexdigest()
    assert download.headers["Content-Length"] == str(len(artifact))
    assert "model.skops" in download.headers["Content-Disposition"]
    reference = client.get(f"{VERSION}/reference", headers=contributor_headers)
    assert reference.status_code == 200
    assert len(pd.read_parquet(io.BytesIO(reference.get_data()))) == 30

    storage = open_storage(settings)
    artifact_sha = version["artifact"]["sha256"]
    assert list(storage.artifacts.digests()) == [artifact_sha]
    assert len(list(storage.reference.digests())) == 1
    assert len(list(storage.profiles.digests())) == 1
    local_blobs = [_files(settings.data_dir / area) for area in ("artifacts", "reference")]
    if backend == "s3":  # nothing of it is kept in the data directory
        assert local_blobs == [[], []]
    else:
        assert local_blobs[0] == [artifact_sha]


def test_a_blob_missing_from_storage_is_a_404_naming_it(
    client, contributor_headers, settings: Settings
) -> None:
    create_model(client, contributor_headers, "churn")
    register_version(
        client,
        contributor_headers,
        metadata={"features": CHURN_FEATURES},
        artifact=(skops_artifact(), "model.skops"),
    )
    sha = hashlib.sha256(skops_artifact()).hexdigest()
    storage = open_storage(settings)
    if storage.is_local:
        (settings.data_dir / "artifacts" / sha[:2] / sha).unlink()
    else:
        from assay_server.storage.s3 import S3BlobStore

        store = storage.artifacts
        assert isinstance(store, S3BlobStore)
        store.client.delete_object(Bucket=store.bucket, Key=store.key_for(sha))

    response = client.get(f"{VERSION}/artifact", headers=contributor_headers)

    assert response.status_code == 404
    assert "missing from the blob storage" in response.json["error"]["message"]


@pytest.mark.commits  # pages are built on the store, as the scheduler does
def test_a_report_s_page_and_the_profile_a_run_reads_come_from_the_storage(
    monitored: Monitored, db, settings: Settings, backend: str
) -> None:
    monitored.log(300, seed=4, prefix="s")
    monitor = monitored.create_monitor(checks=["drift"], min_rows=100)
    assert monitored.run(monitor["id"])["status"] == "succeeded"
    (drift,) = monitored.reports()

    assert html.build_missing_pages(db, settings, now=monitored.clock()) == 1
    storage = open_storage(settings)
    (stored_page,) = storage.reports.digests()
    assert len(list(storage.profiles.digests())) == 1  # the run read it from there
    if backend == "s3":
        assert _files(settings.data_dir / "reports") == []
        shutil.rmtree(settings.data_dir / "blob-cache", ignore_errors=True)  # a cache: lost
    page = monitored.client.get(f"{API}/reports/{drift['id']}/html", headers=monitored.headers)

    assert page.status_code == 200, page.get_data(as_text=True)
    assert "drift report #" in page.get_data(as_text=True)
    assert storage.reports.read_bytes(stored_page) == page.get_data()
