"""Blobs in S3-compatible object storage (AWS S3, MinIO, Ceph, GCS's interoperability API).

``ASSAY_STORAGE_URL=s3://bucket/prefix`` keeps each blob at
``<prefix>/<area>/<sha[:2]>/<sha>``. The endpoint, region and credentials are boto3's own
settings (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_DEFAULT_REGION``, a profile, an instance role…), read by boto3 itself.

Uploads are staged in ``<data_dir>/incoming`` while hashed and checked, then sent with
``upload_file`` (multipart past 8 MB, by boto3's transfer manager). Reads stream the object's
body. Code that needs a file on disk gets a copy in ``<data_dir>/blob-cache``: keyed by
digest, checked against it when fetched, and trimmed to :data:`CACHE_BYTES`, least recently
used first. Nothing depends on it surviving.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from . import (
    AREAS,
    CHUNK,
    Blob,
    BlobMissing,
    OpenedBlob,
    Storage,
    StoredBlob,
    blob_key,
    discard,
    is_digest,
    stage_bytes,
    stage_into,
)

#: The most the local copies of blobs may take before the least recently used are removed.
CACHE_BYTES = 4 * 1024**3
_MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


@dataclass(frozen=True, eq=False)
class S3BlobStore:
    """One area's blobs under ``prefix`` in ``bucket``."""

    client: Any
    bucket: str
    prefix: str
    staging: Path
    cache: Path
    cache_root: Path
    cache_bytes: int = CACHE_BYTES

    def key_for(self, sha256: str) -> str:
        """The object key of a blob."""
        return f"{self.prefix}{blob_key(sha256)}"

    def stage_stream(self, stream: IO[bytes], *, max_bytes: int, what: str) -> Blob:
        """Copy ``stream`` to a temporary file under the data directory, hashing it."""
        return stage_into(self.staging, stream, max_bytes=max_bytes, what=what)

    def commit(self, staged: Blob) -> StoredBlob:
        """Upload a staged blob (unless the bucket holds it already), then drop the file."""
        try:
            if not self.exists(staged.sha256):
                self.client.upload_file(str(staged.path), self.bucket, self.key_for(staged.sha256))
        finally:
            discard(staged)
        return StoredBlob(sha256=staged.sha256, size=staged.size)

    def put_stream(self, stream: IO[bytes], *, max_bytes: int, what: str) -> StoredBlob:
        """Stage and upload ``stream``."""
        return self.commit(self.stage_stream(stream, max_bytes=max_bytes, what=what))

    def put_bytes(self, data: bytes) -> StoredBlob:
        """Upload ``data``."""
        return self.commit(stage_bytes(self.staging, data))

    def exists(self, sha256: str) -> bool:
        """Whether the bucket holds the blob."""
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.key_for(sha256))
        except Exception as exc:
            if _is_missing(exc):
                return False
            raise
        return True

    def open(self, sha256: str) -> OpenedBlob:
        """The object's body as a stream (the caller reads and closes it)."""
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self.key_for(sha256))
        except Exception as exc:
            if _is_missing(exc):
                raise BlobMissing(sha256) from None
            raise
        return OpenedBlob(size=int(answer["ContentLength"]), stream=answer["Body"])

    def read_bytes(self, sha256: str) -> bytes:
        """The whole object."""
        return self.local_path(sha256).read_bytes()

    def local_path(self, sha256: str) -> Path:
        """The cached copy, fetched (and checked against its digest) when not there."""
        path = self.cache / blob_key(sha256)
        if path.is_file():
            os.utime(path)  # recently used: trimmed last
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        body = self.open(sha256).stream
        assert body is not None
        digest = hashlib.sha256()
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".fetching-")
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := body.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
            if digest.hexdigest() != sha256:
                raise OSError(
                    f"The object {self.key_for(sha256)} does not hold the bytes of its name."
                )
            os.replace(tmp_name, path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        finally:
            body.close()
        trim_cache(self.cache_root, self.cache_bytes, keep=path)
        return path

    def digests(self) -> Iterator[str]:
        """Every digest under this area's prefix."""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix
        )
        for page in pages:
            for item in page.get("Contents", []):
                name = str(item["Key"]).rsplit("/", 1)[-1]
                if is_digest(name):
                    yield name


def trim_cache(root: Path, limit: int, *, keep: Path) -> None:
    """Remove the least recently used copies until the cache holds at most ``limit`` bytes
    (``keep``, just fetched, stays). A copy another thread has open stays readable: POSIX
    removes the name, not the open file."""
    files = []
    for path in root.glob("*/??/*"):
        if path.name.startswith("."):  # being fetched
            continue
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        files.append((stat.st_mtime, stat.st_size, path))
    total = sum(size for _, size, _ in files)
    for _, size, path in sorted(files):
        if total <= limit:
            break
        if path != keep:
            path.unlink(missing_ok=True)
            total -= size


def s3_storage(storage_url: str, data_dir: Path, *, client: Any = None) -> Storage:
    """The four areas under ``s3://bucket/prefix``, with boto3's client from the environment."""
    bucket, prefix = parse_s3_url(storage_url)
    if client is None:
        import boto3

        session = boto3.session.Session()
        client = session.client("s3", region_name=session.region_name or "us-east-1")
    cache_root = data_dir / "blob-cache"
    stores = {
        area: S3BlobStore(
            client=client,
            bucket=bucket,
            prefix=f"{prefix}{area}/",
            staging=data_dir / "incoming",
            cache=cache_root / area,
            cache_root=cache_root,
        )
        for area in AREAS
    }
    return Storage(
        artifacts=stores["artifacts"],
        reference=stores["reference"],
        profiles=stores["profiles"],
        reports=stores["reports"],
        location=storage_url,
        is_local=False,
    )


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` → (``bucket``, ``some/prefix/``); the prefix may be empty."""
    rest = url.removeprefix("s3://")
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise ValueError(f"An S3 storage URL names a bucket (s3://bucket/prefix), got {url!r}.")
    prefix = prefix.strip("/")
    return bucket, f"{prefix}/" if prefix else ""


def _is_missing(exc: Exception) -> bool:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return False
    return str(response.get("Error", {}).get("Code")) in _MISSING_CODES
