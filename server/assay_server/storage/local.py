"""Blobs in the data directory: ``<data_dir>/<area>/<sha[:2]>/<sha>`` (the embedded default).

A blob is staged in its area's directory, so storing it is one atomic rename; storing the
same bytes twice keeps one copy.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from . import (
    AREAS,
    Blob,
    BlobMissing,
    OpenedBlob,
    Storage,
    StoredBlob,
    blob_key,
    is_digest,
    stage_bytes,
    stage_into,
)


@dataclass(frozen=True)
class LocalBlobStore:
    """Blobs addressed by their SHA-256 under ``root``."""

    root: Path

    def path_for(self, sha256: str) -> Path:
        """Where the blob with this digest lives (whether or not it exists)."""
        return self.root / blob_key(sha256)

    def stage_stream(self, stream: IO[bytes], *, max_bytes: int, what: str) -> Blob:
        """Copy ``stream`` to a temporary file beside the blobs, hashing it."""
        return stage_into(self.root, stream, max_bytes=max_bytes, what=what)

    def commit(self, staged: Blob) -> StoredBlob:
        """Move a staged blob to its content address."""
        final = self.path_for(staged.sha256)
        if final.exists():
            staged.path.unlink(missing_ok=True)
        else:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged.path, final)
        return StoredBlob(sha256=staged.sha256, size=staged.size)

    def put_stream(self, stream: IO[bytes], *, max_bytes: int, what: str) -> StoredBlob:
        """Stage and commit ``stream``."""
        return self.commit(self.stage_stream(stream, max_bytes=max_bytes, what=what))

    def put_bytes(self, data: bytes) -> StoredBlob:
        """Store ``data``."""
        return self.commit(stage_bytes(self.root, data))

    def exists(self, sha256: str) -> bool:
        """Whether the blob is stored."""
        return self.path_for(sha256).is_file()

    def open(self, sha256: str) -> OpenedBlob:
        """The stored file itself."""
        path = self.local_path(sha256)
        return OpenedBlob(size=path.stat().st_size, path=path)

    def read_bytes(self, sha256: str) -> bytes:
        """The whole blob."""
        return self.local_path(sha256).read_bytes()

    def local_path(self, sha256: str) -> Path:
        """The stored file, checked to exist."""
        path = self.path_for(sha256)
        if not path.is_file():
            raise BlobMissing(sha256)
        return path

    def digests(self) -> Iterator[str]:
        """Every stored digest (temporary files skipped)."""
        if not self.root.is_dir():
            return
        for path in sorted(self.root.glob("??/*")):
            if is_digest(path.name) and path.is_file():
                yield path.name


def local_storage(data_dir: Path) -> Storage:
    """The four areas under ``data_dir``."""
    stores = {area: LocalBlobStore(data_dir / area) for area in AREAS}
    return Storage(
        artifacts=stores["artifacts"],
        reference=stores["reference"],
        profiles=stores["profiles"],
        reports=stores["reports"],
        location=str(data_dir),
        is_local=True,
    )
