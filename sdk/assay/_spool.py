"""The prediction logger's disk spool: batches waiting for the server, one file per batch.

Each batch is written atomically (a temporary file, ``fsync``, ``rename``, ``fsync`` of the
directory), so a reader never sees half a batch, even after a crash or ``SIGKILL``. File names
sort in creation order (``<time_ns>-<pid>-<seq>.<kind>.<rows>.json[.gz]``), which is the replay
order, and carry what the replayer needs to know without opening the file: the kind of batch
(predictions or labels) and its row count (for the ``dropped`` count when the spool is full).

Several processes may share one spool directory (gunicorn workers, a restarted server): any of
them writes, and the one holding the directory's replay lock (``flock``) replays, so a batch is
sent by one process at a time. Re-sending a batch that had actually arrived is harmless: the
server is idempotent on ``prediction_id``.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

from assay._batches import Batch

__all__ = ["Spool", "default_spool_root", "rows_of"]

_NAME = re.compile(r"\A\d{20}-\d+-\d+\.(predictions|labels)\.(\d+)\.json(?:\.gz)?\Z")
_STALE_TEMP_SECONDS = 600.0


def default_spool_root() -> Path:
    """The user's cache directory for spools: ``~/.cache/assay/spool`` on Linux."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "assay" / "spool"


class Spool:
    """A bounded directory of batches, replayed oldest first."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._seq = itertools.count()
        self._lock_file: int | None = None
        self._ready = False
        # The directory's size as of the last scan plus what this process wrote since: a
        # write scans again (to evict exactly) only when it might not fit, or every so often
        # (other processes write too), so filling a spool of many files is not quadratic.
        self._known_bytes: int | None = None
        self._writes_since_scan = 0
        # The replay order from the last scan, consumed oldest first.
        self._replay: list[Path] = []
        # The batcher and the senders all write here: one write at a time, so a write's
        # scan, evictions and file are one step and a full spool keeps the newest batches.
        self._write_lock = threading.Lock()

    def new_name(self, kind: str, rows: int, gzipped: bool) -> str:
        """A file name that sorts after every name this process made before."""
        suffix = ".json.gz" if gzipped else ".json"
        return f"{time.time_ns():020d}-{os.getpid()}-{next(self._seq)}.{kind}.{rows}{suffix}"

    def _ensure_directory(self) -> None:
        if not self._ready:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._ready = True

    def pending(self) -> list[tuple[Path, int]]:
        """The spooled batches, oldest first, with their sizes in bytes."""
        try:
            entries = list(os.scandir(self.directory))
        except OSError:  # not made yet, or unusable: nothing to replay from it
            return []
        found = []
        now = time.time()
        for entry in entries:
            if _NAME.match(entry.name):
                with contextlib.suppress(FileNotFoundError):
                    found.append((entry.name, Path(entry.path), entry.stat().st_size))
            elif entry.name.endswith(".tmp"):
                # A writer killed between write and rename leaves its temporary file behind.
                with contextlib.suppress(OSError):
                    if now - entry.stat().st_mtime > _STALE_TEMP_SECONDS:
                        os.unlink(entry.path)
        found.sort()
        return [(path, size) for _, path, size in found]

    def write(self, batch: Batch) -> int:
        """Store ``batch``; make room by deleting the oldest batches; return the rows dropped.

        "Oldest" is by name, the order batches were cut in: when the batch alone is over the
        spool's size, or only batches cut after it could make room (a sender spooling a
        batch it held while newer ones went to disk), it is the one dropped.
        Raises OSError when the disk refuses the write.
        """
        with self._write_lock:
            return self._write(batch)

    def _write(self, batch: Batch) -> int:
        self._ensure_directory()
        size = len(batch.body)
        if size > self.max_bytes:
            return batch.rows
        dropped = 0
        known = self._known_bytes
        if known is None or known + size > self.max_bytes or self._writes_since_scan >= 100:
            files = self.pending()
            total = sum(each for _, each in files)
            older = sum(each for path, each in files if path.name < batch.name)
            if total - older + size > self.max_bytes:
                self._known_bytes, self._writes_since_scan = total, 0
                return batch.rows
            for path, each in files:
                if total + size <= self.max_bytes:
                    break
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
                    dropped += rows_of(path)
                total -= each
            self._known_bytes, self._writes_since_scan = total, 0
        final = self.directory / batch.name
        fd, temporary = tempfile.mkstemp(dir=self.directory, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(batch.body)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, final)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        _fsync_directory(self.directory)
        self._known_bytes = (self._known_bytes or 0) + size
        self._writes_since_scan += 1
        return dropped

    def next_batch(self) -> Batch | None:
        """The oldest batch still on disk (scanning again once the last scan is used up)."""
        for _ in range(2):  # when every batch of the last scan is gone, scan once more
            if not self._replay:
                self._replay = [path for path, _ in self.pending()]
            while self._replay:
                batch = self.read(self._replay[0])
                if batch is not None:
                    return batch
                self._replay.pop(0)  # gone: another process sent it, or it was evicted
        return None

    def read(self, path: Path) -> Batch | None:
        """The batch stored at ``path``, or None when it is gone (another process sent it)."""
        match = _NAME.match(path.name)
        if match is None:
            return None
        try:
            body = path.read_bytes()
        except FileNotFoundError:
            return None
        return Batch(match.group(1), path.name, body, int(match.group(2)), path)

    def remove(self, path: Path) -> None:
        """Forget a batch once the server has answered it."""
        if self._replay and self._replay[0] == path:
            self._replay.pop(0)
        try:
            size = path.stat().st_size
            os.unlink(path)
        except FileNotFoundError:
            return
        if self._known_bytes is not None:
            self._known_bytes = max(0, self._known_bytes - size)

    def acquire_replay_lock(self) -> bool:
        """Try (without waiting) to become the process that replays this directory."""
        if self._lock_file is not None:
            return True
        try:
            import fcntl
        except ImportError:  # Windows: no flock; concurrent replays only cost duplicates
            return True
        try:
            self._ensure_directory()
            fd = os.open(self.directory / ".replay.lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._lock_file = fd
        return True

    def release_replay_lock(self) -> None:
        """Let another process replay this directory."""
        if self._lock_file is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock_file)
            self._lock_file = None

    def forget_lock_after_fork(self) -> None:
        """In a forked child: drop the parent's lock descriptor without releasing its lock."""
        if self._lock_file is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock_file)  # the parent's descriptor still holds the flock
            self._lock_file = None


def rows_of(path: Path) -> int:
    """The row count a spool file's name records (0 for a foreign name)."""
    match = _NAME.match(path.name)
    return int(match.group(2)) if match else 0


def _fsync_directory(directory: Path) -> None:
    if sys.platform == "win32":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
