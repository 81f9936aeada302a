"""Blob storage: content-addressed bytes behind one interface, on a local disk or in S3.

Artifacts, reference datasets, their profiles and the HTML of report pages are blobs named by
their SHA-256. :func:`open_storage` gives the :class:`Storage` the settings ask for: the data
directory (the default; :mod:`.local`) or an S3-compatible bucket when ``ASSAY_STORAGE_URL``
is ``s3://bucket/prefix`` (:mod:`.s3`). Either way a blob arrives through a temporary file
while it is hashed and checked (:meth:`BlobStore.stage_stream`), and is never held whole in
memory; code that needs a local file (pyarrow, a model loader) asks for
:meth:`BlobStore.local_path`, which for S3 is a copy in a bounded cache under the data
directory that any server may lose.
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from ..errors import PayloadTooLarge
from ..settings import Settings

CHUNK = 1024 * 1024
#: The areas blobs are kept in: a directory each under the data directory, a key prefix each
#: in a bucket.
AREAS = ("artifacts", "reference", "profiles", "reports")


class BlobMissing(LookupError):
    """No blob of that digest in the store."""


@dataclass(frozen=True)
class Blob:
    """Bytes received into a local temporary file, not yet stored: where, SHA-256, size."""

    path: Path
    sha256: str
    size: int


@dataclass(frozen=True)
class StoredBlob:
    """Bytes kept by content: their SHA-256 and size."""

    sha256: str
    size: int


@dataclass(frozen=True)
class OpenedBlob:
    """A stored blob opened for reading: a file on this disk (``path``, which a web server
    can send with ``sendfile``) or a stream of its bytes (``stream``, closed by the reader)."""

    size: int
    path: Path | None = None
    stream: IO[bytes] | None = None

    def chunks(self) -> Iterator[bytes]:
        """Its bytes, a chunk at a time; closes what it opened."""
        handle = self.path.open("rb") if self.path is not None else self.stream
        assert handle is not None
        try:
            while chunk := handle.read(CHUNK):
                yield chunk
        finally:
            handle.close()


class BlobStore(Protocol):
    """One area of blobs (artifacts, reference datasets, profiles, report pages); hashable
    (answers read from a blob are cached by store and digest)."""

    def __hash__(self) -> int:
        """By identity or by where the blobs are."""
        ...

    def stage_stream(self, stream: IO[bytes], *, max_bytes: int, what: str) -> Blob:
        """Copy ``stream`` into a private temporary file while hashing it, refusing more than
        ``max_bytes``; the caller checks it, then :meth:`commit` or :func:`discard`."""
        ...

    def commit(self, staged: Blob) -> StoredBlob:
        """Keep a staged blob by its digest (the temporary file is gone afterwards)."""
        ...

    def put_stream(self, stream: IO[bytes], *, max_bytes: int, what: str) -> StoredBlob:
        """Stage and commit ``stream``."""
        ...

    def put_bytes(self, data: bytes) -> StoredBlob:
        """Keep ``data`` (small blobs: a profile, a rendered page)."""
        ...

    def exists(self, sha256: str) -> bool:
        """Whether the blob is stored."""
        ...

    def open(self, sha256: str) -> OpenedBlob:
        """The blob for reading, or :class:`BlobMissing`."""
        ...

    def read_bytes(self, sha256: str) -> bytes:
        """The whole blob (small blobs only), or :class:`BlobMissing`."""
        ...

    def local_path(self, sha256: str) -> Path:
        """A local file holding the blob (the stored file, or a cached copy), or
        :class:`BlobMissing`. Read it soon: a cached copy may be evicted later."""
        ...

    def digests(self) -> Iterator[str]:
        """The digests of every stored blob."""
        ...


@dataclass(frozen=True)
class Storage:
    """The four areas of blobs, and what holds them (for logs and messages)."""

    artifacts: BlobStore
    reference: BlobStore
    profiles: BlobStore
    reports: BlobStore
    location: str
    is_local: bool

    def area(self, name: str) -> BlobStore:
        """The area called ``name`` (one of :data:`AREAS`)."""
        if name not in AREAS:
            raise KeyError(name)
        store: BlobStore = getattr(self, name)
        return store


def open_storage(settings: Settings) -> Storage:
    """The blob storage ``settings`` name: S3 for ``s3://`` URLs, else the data directory.

    Built once per storage URL and data directory in a process (an S3 client is costly to
    make and safe to share between threads); the objects are immutable."""
    return _open(settings.storage_url, settings.data_dir)


@functools.lru_cache(maxsize=16)
def _open(storage_url: str, data_dir: Path) -> Storage:
    if storage_url.startswith("s3://"):
        from .s3 import s3_storage

        return s3_storage(storage_url, data_dir)
    from .local import local_storage

    return local_storage(data_dir)


# A forked child (a gunicorn worker) opens its own: an HTTP connection pool inherited from
# the parent would be shared by both processes.
os.register_at_fork(after_in_child=_open.cache_clear)


def discard(staged: Blob) -> None:
    """Drop a staged blob."""
    staged.path.unlink(missing_ok=True)


def stage_into(directory: Path, stream: IO[bytes], *, max_bytes: int, what: str) -> Blob:
    """Copy ``stream`` to a private temporary file in ``directory`` while hashing it."""
    directory.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=".incoming-")
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise PayloadTooLarge(
                        f"The {what} is larger than the limit of {max_bytes} bytes."
                    )
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return Blob(path=Path(tmp_name), sha256=digest.hexdigest(), size=size)


def stage_bytes(directory: Path, data: bytes) -> Blob:
    """Write ``data`` to a private temporary file in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=".incoming-")
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    return Blob(path=Path(tmp_name), sha256=hashlib.sha256(data).hexdigest(), size=len(data))


def blob_key(sha256: str) -> str:
    """Where a blob sits in its area: ``<sha[:2]>/<sha>`` (as on disk since the start)."""
    return f"{sha256[:2]}/{sha256}"


def is_digest(name: str) -> bool:
    """Whether ``name`` is a SHA-256 hex digest."""
    return len(name) == 64 and all(c in "0123456789abcdef" for c in name)
