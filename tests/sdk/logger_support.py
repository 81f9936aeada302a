"""Helpers for the prediction-logger tests: misbehaving servers, waiting, reading spools."""

from __future__ import annotations

import collections
import gzip
import json
import socket
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assay._spool import Spool
from assay.clock import Waitable

#: The longest real wait inside a ManualClock's wait: how soon a waiting thread sees the time
#: the test moved the clock to.
_REAL_SLICE = 0.002


class ManualClock:
    """A clock for the prediction logger that moves only when the test advances it.

    A timed wait returns after a real instant, so the waiting thread looks at the (unchanged)
    time again and waits once more: a 30 s backoff lasts until the test advances 30 s.
    """

    def __init__(self, start: float = 1_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        self._waits: collections.Counter[str] = collections.Counter()

    def monotonic(self) -> float:
        with self._lock:
            return self._now

    def time(self) -> float:
        return 1_700_000_000.0 + self.monotonic()

    def wait(self, waitable: Waitable, timeout: float) -> None:
        with self._lock:
            self._waits[threading.current_thread().name] += 1
        waitable.wait(min(max(timeout, 0.0), _REAL_SLICE))

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds

    def settle(self, thread: str = "assay-logger-batcher", rounds: int = 3) -> None:
        """Return once ``thread`` has waited ``rounds`` more times: it has seen the time now."""
        with self._lock:
            target = self._waits[thread] + rounds
        assert wait_for(lambda: self._waits[thread] >= target, timeout=10), f"{thread} is stuck"


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` passes; return its last value."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not condition():
        if time.monotonic() > deadline:
            return condition()
        pause.wait(0.01)
    return True


def decoded(body: bytes) -> Any:
    """A request body as JSON, gunzipped when it is gzip."""
    if body[:2] == b"\x1f\x8b":
        body = gzip.decompress(body)
    return json.loads(body)


def ids_in(document: Any) -> list[str]:
    """The prediction ids of a predictions body, either wire format."""
    if "columns" in document:
        return list(document["columns"]["prediction_id"])
    return [row["prediction_id"] for row in document["rows"]]


def spooled_ids(directory: Path) -> list[str]:
    """The prediction ids of every batch in a spool directory, oldest first."""
    spool = Spool(directory, 1 << 30)
    ids: list[str] = []
    for path, _ in spool.pending():
        batch = spool.read(path)
        if batch is not None and batch.kind == "predictions":
            ids.extend(ids_in(decoded(batch.body)))
    return ids


class RawServer:
    """A loopback TCP server that accepts connections and then misbehaves.

    ``mode="hang"`` reads the request and never answers; ``mode="reset"`` closes each
    connection with a TCP reset as soon as it is accepted.
    """

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.accepted = 0
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.05)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except OSError:
                continue
            self.accepted += 1
            if self.mode == "reset":
                linger = struct.pack("ii", 1, 0)
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                connection.close()
            else:
                self._held.append(connection)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for connection in self._held:
            connection.close()
        self._listener.close()


def accepted(rows: int, duplicates: int = 0) -> dict[str, Any]:
    """The ingest endpoint's answer for a batch it fully took."""
    return {"accepted": rows - duplicates, "duplicates": duplicates, "rejected": 0, "errors": []}
