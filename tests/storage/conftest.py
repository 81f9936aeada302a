"""Blob storage under test on both backends: the data directory, and S3 over HTTP.

The S3 side is moto's standalone server on a free loopback port: boto3 talks HTTP to it
exactly as to AWS, MinIO or GCS's interoperability API (signing, multipart, error codes).
Each test gets a bucket of its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from assay_server.settings import Settings
from assay_server.storage import Storage
from assay_server.storage.local import local_storage
from assay_server.storage.s3 import s3_storage
from tests.monitoring.conftest import monitored  # noqa: F401 (a version to monitor)

BACKENDS = ("local", "s3")


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's S3 server on loopback; the AWS settings boto3 reads point at it."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    nowhere = tmp_path_factory.mktemp("aws") / "none"  # no real profile or credentials file
    with pytest.MonkeyPatch.context() as patch:
        for name, value in aws_environment(endpoint, nowhere).items():
            patch.setenv(name, value)
        yield endpoint
    server.stop()


def aws_environment(endpoint: str, nowhere: Path) -> dict[str, str]:
    """The standard AWS variables that point boto3 at ``endpoint`` with test credentials."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(nowhere),
        "AWS_SHARED_CREDENTIALS_FILE": str(nowhere),
    }


@pytest.fixture
def s3_client(s3_endpoint: str) -> Any:
    """A boto3 client of the test's own, to look into the bucket from outside."""
    return boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")


@pytest.fixture
def bucket(s3_client: Any) -> str:
    """An empty bucket of this test's own."""
    name = f"assay-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    return name


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Each test of this folder runs once per backend."""
    return str(request.param)


@pytest.fixture
def storage_url(backend: str, request: pytest.FixtureRequest) -> str:
    """``ASSAY_STORAGE_URL`` for the backend: empty (the data directory) or a new bucket."""
    if backend == "local":
        return ""
    return f"s3://{request.getfixturevalue('bucket')}/assay"


@pytest.fixture
def settings(session_settings: Settings, tmp_path: Path, storage_url: str) -> Settings:
    """Per-test settings (the app fixtures use them) on this test's backend."""
    return session_settings.with_overrides(
        data_dir=tmp_path / "data", secret_key="test-secret", storage_url=storage_url
    )


@pytest.fixture
def storage(backend: str, storage_url: str, tmp_path: Path) -> Storage:
    """A storage of the test's own (not the process's shared one) on this backend."""
    data_dir = tmp_path / "own-data"
    if backend == "local":
        return local_storage(data_dir)
    return s3_storage(storage_url, data_dir)
