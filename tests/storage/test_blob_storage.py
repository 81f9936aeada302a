"""The blob storage interface, the same tests on the data directory and on S3 (moto)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
from pathlib import Path

import pytest

from assay_server.errors import PayloadTooLarge
from assay_server.settings import Settings, SettingsError
from assay_server.storage import BlobMissing, Storage, discard
from assay_server.storage.s3 import S3BlobStore, parse_s3_url, s3_storage


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read(storage_area, sha: str) -> bytes:  # type: ignore[no-untyped-def]
    return b"".join(storage_area.open(sha).chunks())


@pytest.fixture
def s3_only(bucket: str, tmp_path: Path) -> Storage:
    """A storage on S3 alone, for what only S3 has (the local cache, checked fetches)."""
    return s3_storage(f"s3://{bucket}/assay", tmp_path / "own-data")


def test_a_blob_is_stored_by_its_digest_and_read_back(storage: Storage) -> None:
    data = b"model bytes " * 1000

    stored = storage.artifacts.put_stream(io.BytesIO(data), max_bytes=10**6, what="artifact")

    assert stored.sha256 == _digest(data) and stored.size == len(data)
    assert storage.artifacts.exists(stored.sha256)
    assert _read(storage.artifacts, stored.sha256) == data
    assert storage.artifacts.read_bytes(stored.sha256) == data
    assert storage.artifacts.local_path(stored.sha256).read_bytes() == data
    assert storage.artifacts.open(stored.sha256).size == len(data)
    assert list(storage.artifacts.digests()) == [stored.sha256]
    assert list(storage.reference.digests()) == []  # areas are apart


def test_the_same_bytes_twice_are_kept_once(storage: Storage) -> None:
    first = storage.profiles.put_bytes(b"profile")
    second = storage.profiles.put_bytes(b"profile")
    other = storage.profiles.put_bytes(b"another profile")

    assert first == second
    assert sorted(storage.profiles.digests()) == sorted({first.sha256, other.sha256})


def test_a_staged_blob_is_stored_only_when_committed(storage: Storage) -> None:
    kept = storage.artifacts.stage_stream(io.BytesIO(b"keep me"), max_bytes=100, what="artifact")
    dropped = storage.artifacts.stage_stream(io.BytesIO(b"drop me"), max_bytes=100, what="artifact")
    assert kept.path.read_bytes() == b"keep me"  # a local file, to check before storing
    assert not storage.artifacts.exists(kept.sha256)

    storage.artifacts.commit(kept)
    discard(dropped)

    assert list(storage.artifacts.digests()) == [_digest(b"keep me")]
    assert not kept.path.exists() and not dropped.path.exists()


def test_more_than_the_limit_is_refused_and_leaves_nothing(storage: Storage) -> None:
    with pytest.raises(PayloadTooLarge, match="larger than the limit of 10 bytes"):
        storage.artifacts.put_stream(io.BytesIO(b"x" * 11), max_bytes=10, what="artifact")

    assert list(storage.artifacts.digests()) == []
    leftovers = [p for p in Path(storage.location).rglob(".incoming-*")] if storage.is_local else []
    assert leftovers == []


def test_a_missing_blob_says_so(storage: Storage) -> None:
    absent = _digest(b"never stored")

    assert not storage.reports.exists(absent)
    for read in (storage.reports.open, storage.reports.local_path, storage.reports.read_bytes):
        with pytest.raises(BlobMissing):
            read(absent)


def test_a_large_blob_streams_through_in_chunks(storage: Storage, tmp_path: Path) -> None:
    # 20 MB: past boto3's 8 MB multipart threshold, so S3 takes the multipart path
    source = tmp_path / "large.bin"
    with source.open("wb") as out:
        for block in range(20):
            out.write(hashlib.sha256(str(block).encode()).digest() * (1024 * 1024 // 32))
    expected = hashlib.sha256(source.read_bytes()).hexdigest()

    with source.open("rb") as stream:
        stored = storage.artifacts.put_stream(stream, max_bytes=2**30, what="artifact")

    assert stored.sha256 == expected and stored.size == 20 * 1024 * 1024
    digest = hashlib.sha256()
    chunks = 0
    for chunk in storage.artifacts.open(stored.sha256).chunks():
        digest.update(chunk)
        chunks += 1
    assert digest.hexdigest() == expected
    assert chunks > 1


def test_an_s3_blob_is_fetched_into_a_cache_any_server_may_lose(
    s3_only: Storage, s3_client, bucket: str
) -> None:
    storage = s3_only
    stored = storage.reference.put_bytes(b"parquet bytes")
    key = f"assay/reference/{stored.sha256[:2]}/{stored.sha256}"
    assert s3_client.get_object(Bucket=bucket, Key=key)["Body"].read() == b"parquet bytes"

    cached = storage.reference.local_path(stored.sha256)
    assert cached.read_bytes() == b"parquet bytes"
    cached.unlink()  # the cache is lost: the next read fetches again
    assert storage.reference.local_path(stored.sha256).read_bytes() == b"parquet bytes"


def test_the_s3_cache_keeps_to_its_bound_dropping_the_least_recently_used(
    s3_only: Storage,
) -> None:
    assert isinstance(s3_only.artifacts, S3BlobStore)
    small = dataclasses.replace(s3_only.artifacts, cache_bytes=2500)
    digests = [small.put_bytes(bytes([n]) * 1000).sha256 for n in range(3)]
    first, second = (small.local_path(sha) for sha in digests[:2])
    os.utime(first, (1, 1))  # the first was used longest ago
    os.utime(second, (2, 2))

    third = small.local_path(digests[2])

    assert not first.exists()
    assert second.exists() and third.exists()
    assert small.read_bytes(digests[0]) == bytes([0]) * 1000  # fetched again on demand


def test_an_object_that_does_not_hold_its_digest_is_refused(
    s3_only: Storage, s3_client, bucket: str
) -> None:
    storage = s3_only
    claimed = _digest(b"the real bytes")
    key = f"assay/artifacts/{claimed[:2]}/{claimed}"
    s3_client.put_object(Bucket=bucket, Key=key, Body=b"tampered")

    with pytest.raises(OSError, match="does not hold the bytes of its name"):
        storage.artifacts.local_path(claimed)
    cache = Path(storage.artifacts.cache)  # type: ignore[attr-defined]
    assert [p for p in cache.rglob("*") if p.is_file()] == []


def test_the_storage_url_setting() -> None:
    assert Settings.from_env({}).storage_url == ""
    assert Settings.from_env({"ASSAY_STORAGE_URL": " s3://b/p "}).storage_url == "s3://b/p"
    for wrong in ("/var/blobs", "s3://", "gs://bucket"):
        with pytest.raises(SettingsError, match="ASSAY_STORAGE_URL"):
            Settings.from_env({"ASSAY_STORAGE_URL": wrong})
    assert parse_s3_url("s3://bucket") == ("bucket", "")
    assert parse_s3_url("s3://bucket/a/b/") == ("bucket", "a/b/")
