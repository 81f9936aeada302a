"""Content-addressed blob storage under the data directory.

A blob is written to a temporary file while its SHA-256 is computed and its size limited,
then moved to ``<root>/<sha[:2]>/<sha>``. Storing the same bytes twice keeps one copy.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ..errors import PayloadTooLarge

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Blob:
    """Stored bytes: where, their SHA-256, and their size."""

    path: Path
    sha256: str
    size: int


class ContentStore:
    """Blobs addressed by their SHA-256 under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_for(self, sha256: str) -> Path:
        """Where the blob with this digest lives (whether or not it exists)."""
        return self.root / sha256[:2] / sha256

    def put_stream(self, stream: IO[bytes], *, max_bytes: int, what: str) -> Blob:
        """Copy ``stream`` in, refusing more than ``max_bytes``."""
        return self.commit(self.stage_stream(stream, max_bytes=max_bytes, what=what))

    def stage_stream(self, stream: IO[bytes], *, max_bytes: int, what: str) -> Blob:
        """Copy ``stream`` to a private temporary file, not yet stored by its digest.

        The caller checks the staged bytes, then calls :meth:`commit` or :meth:`discard`,
        so rejected uploads never reach the store.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        fd, tmp_name = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
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

    def commit(self, staged: Blob) -> Blob:
        """Move a staged blob to its content address."""
        return self._commit(staged.path, staged.sha256, staged.size)

    @staticmethod
    def discard(staged: Blob) -> None:
        """Drop a staged blob."""
        staged.path.unlink(missing_ok=True)

    def put_bytes(self, data: bytes) -> Blob:
        """Store ``data``."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        return self._commit(Path(tmp_name), hashlib.sha256(data).hexdigest(), len(data))

    def _commit(self, tmp: Path, sha256: str, size: int) -> Blob:
        final = self.path_for(sha256)
        if final.exists():
            tmp.unlink()
        else:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)
        return Blob(path=final, sha256=sha256, size=size)
