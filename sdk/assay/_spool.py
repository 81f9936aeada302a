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
import gzip
import itertools
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

__all__ = [
    "Batch",
    "Spool",
    "default_spool_root",
    "encode_labels",
    "encode_predictions",
    "prediction_ids",
    "split_batch",
]

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


@dataclass
class Batch:
    """One encoded request body (gzipped JSON), ready to send or to spool."""

    kind: str  # "predictions" or "labels"
    name: str  # sorts in creation order; the spool file's name
    body: bytes
    rows: int
    path: Path | None = None  # set when the batch was read back from the spool


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

    def new_name(self, kind: str, rows: int) -> str:
        """A file name that sorts after every name this process made before."""
        suffix = ".json.gz" if kind == "predictions" else ".json"
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

        When the batch alone is over the spool's size, it is the one dropped.
        Raises OSError when the disk refuses the write.
        """
        self._ensure_directory()
        size = len(batch.body)
        if size > self.max_bytes:
            return batch.rows
        dropped = 0
        known = self._known_bytes
        if known is None or known + size > self.max_bytes or self._writes_since_scan >= 100:
            files = self.pending()
            total = sum(each for _, each in files)
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


# -- the wire format of a batch ---------------------------------------------------------------

_GZIP_LEVEL = 1
# A queued prediction: (prediction_id, timestamp, features, prediction, score, probabilities,
# sensitive, label). A tuple, because building it is the cheapest thing log() can do.
Row = tuple[str, Any, Any, Any, Any, Any, Any, Any]


def encode_predictions(rows: list[Row]) -> tuple[bytes | None, int, list[dict[str, Any]]]:
    """The gzipped request body for ``rows``, how many rows it holds, and the rows left out.

    A row the encoder cannot take (a circular structure, say) is left out with its reason,
    so that one bad row does not cost the batch.
    """
    try:
        return _gzip_json(_prediction_document(rows)), len(rows), []
    except Exception:
        pass
    good, bad = [], []
    for row in rows:
        try:
            json.dumps(_prediction_document([row]), default=_json_value)
            good.append(row)
        except Exception as exc:
            bad.append({"prediction_id": row[0], "message": f"cannot be encoded: {exc}"})
    if not good:
        return None, 0, bad
    return _gzip_json(_prediction_document(good)), len(good), bad


def encode_labels(labels: list[tuple[str, Any]]) -> bytes:
    """The request body (plain JSON) for ``(prediction_id, label)`` pairs."""
    document = {"labels": [{"prediction_id": pid, "label": lab} for pid, lab in labels]}
    return json.dumps(document, separators=(",", ":"), default=_json_value).encode()


def prediction_ids(body: bytes) -> list[Any]:
    """The ids of a predictions batch's rows, in order (decoded only when errors need them)."""
    try:
        document = json.loads(gzip.decompress(body))
    except (OSError, ValueError):
        return []
    if "columns" in document:
        return list(document["columns"].get("prediction_id") or [])
    return [row.get("prediction_id") for row in document.get("rows") or []]


def split_batch(kind: str, body: bytes) -> list[tuple[bytes, int]]:
    """A batch's body cut into two halves (for a server that refused it as too large)."""
    if kind == "labels":
        labels = json.loads(body)["labels"]
        half = len(labels) // 2
        return [
            (json.dumps({"labels": part}, separators=(",", ":")).encode(), len(part))
            for part in (labels[:half], labels[half:])
        ]
    document = json.loads(gzip.decompress(body))
    if "rows" in document:
        rows = document["rows"]
        half = len(rows) // 2
        return [(_gzip_json({"rows": part}), len(part)) for part in (rows[:half], rows[half:])]
    columns = document["columns"]
    size = len(columns["prediction_id"])
    halves = []
    for part in (slice(0, size // 2), slice(size // 2, size)):
        cut = {
            name: {key: values[part] for key, values in value.items()}
            if isinstance(value, dict)
            else value[part]
            for name, value in columns.items()
        }
        halves.append((_gzip_json({"columns": cut}), len(cut["prediction_id"])))
    return halves


def _gzip_json(document: Any) -> bytes:
    data = json.dumps(document, separators=(",", ":"), default=_json_value).encode()
    return gzip.compress(data, compresslevel=_GZIP_LEVEL)


def _prediction_document(rows: list[Row]) -> dict[str, Any]:
    """Column-wise (feature names once) when the rows agree on their keys, else row-wise."""
    feature_keys = rows[0][2].keys()
    sensitive_keys = rows[0][6].keys() if isinstance(rows[0][6], Mapping) else None
    uniform = all(
        row[2].keys() == feature_keys
        and (
            sensitive_keys is None
            if row[6] is None
            else isinstance(row[6], Mapping) and row[6].keys() == sensitive_keys
        )
        for row in rows
    )
    if not uniform:
        return {"rows": [_row_object(row) for row in rows]}
    columns: dict[str, Any] = {
        "prediction_id": [row[0] for row in rows],
        "timestamp": [_epoch(row[1]) for row in rows],
        "features": {str(key): [row[2][key] for row in rows] for key in feature_keys},
        "prediction": [row[3] for row in rows],
    }
    for name, index in (("score", 4), ("probabilities", 5), ("label", 7)):
        values = [row[index] for row in rows]
        if any(value is not None for value in values):
            columns[name] = values
    if sensitive_keys:
        columns["sensitive"] = {str(key): [row[6][key] for row in rows] for key in sensitive_keys}
    return {"columns": columns}


def _row_object(row: Row) -> dict[str, Any]:
    pid, timestamp, features, prediction, score, probabilities, sensitive, label = row
    item: dict[str, Any] = {
        "prediction_id": pid,
        "timestamp": _epoch(timestamp),
        "features": features,
        "prediction": prediction,
    }
    for name, value in (
        ("score", score),
        ("probabilities", probabilities),
        ("sensitive", sensitive),
        ("label", label),
    ):
        if value is not None:
            item[name] = value
    return item


def _epoch(value: Any) -> Any:
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
        return aware.timestamp()
    return value


def _json_value(value: Any) -> Any:
    """What ``json`` cannot encode itself: numpy scalars and arrays, dates, the rest as text."""
    for method in ("item", "tolist"):
        convert = getattr(value, method, None)
        if callable(convert):
            with contextlib.suppress(Exception):
                return convert()
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)
