"""The isolated worker pool: model files are loaded and explained in other processes.

Each worker is a fresh interpreter (multiprocessing's ``spawn``: nothing of the web process is
inherited) with an address-space limit set once and a CPU-seconds limit renewed per request;
the web process talks to it over a pipe in JSON only, so even a compromised worker cannot
make the web process unpickle anything. A request that does not answer within its timeout
gets its worker killed and replaced; a worker that dies (a crash, the CPU limit's SIGXCPU)
is replaced too. This module imports nothing heavy: the worker imports numpy, scikit-learn
and LIME itself, after its limits are set.

The pool is created lazily, on the first explanation (:func:`pool_for`), never at import or
in ``create_app`` (which runs in every gunicorn worker), and :func:`shutdown_all_pools` stops
every pool of the process (tests call it; it is also registered with ``atexit``).
"""

from __future__ import annotations

import atexit
import json
import logging
import multiprocessing
import os
import signal
import threading
import weakref
import zlib
from collections.abc import MutableMapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnContext, SpawnProcess
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from .messages import Answer, ExplainMessage, PingMessage

log = logging.getLogger(__name__)

BOOT_TIMEOUT_SECONDS = 120.0
MEBIBYTE = 1024 * 1024
_POOLS: weakref.WeakSet[WorkerPool] = weakref.WeakSet()
_CREATE_LOCK = threading.Lock()


class WorkerError(Exception):
    """A worker could not answer: ``kind`` is ``timeout``, ``crashed`` or ``busy``."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class PoolLimits:
    """How many workers, and what each may use."""

    size: int = 2
    memory_mb: int = 4096
    cache_size: int = 8


def worker_main(conn: Connection, memory_mb: int, cache_size: int) -> None:
    """A worker's life: set limits, import the heavy libraries, answer requests until told."""
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server, which stops us
    _limit_address_space(memory_mb)
    from .runtime import Runtime, preload

    preload()
    runtime = Runtime(cache_size)
    conn.send_bytes(json.dumps({"ready": True, "pid": os.getpid()}).encode())
    while True:
        try:
            raw = conn.recv_bytes()
        except (EOFError, OSError):
            return
        request = json.loads(raw)  # what the web process sent: a message of messages.py
        if request.get("op") == "stop":
            return
        _limit_cpu(float(request.get("cpu_seconds") or 0))
        conn.send_bytes(json.dumps(runtime.handle(request), default=str).encode())


def _limit_address_space(memory_mb: int) -> None:
    import resource

    if memory_mb > 0:
        limit = memory_mb * MEBIBYTE
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _limit_cpu(seconds: float) -> None:
    """Allow ``seconds`` more CPU time from now; past it the kernel sends SIGXCPU (fatal)."""
    import math
    import resource

    if seconds <= 0:
        return
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = math.ceil(usage.ru_utime + usage.ru_stime + seconds)
    _old, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


class _Worker:
    """One worker process and the web process's end of its pipe."""

    def __init__(self, context: SpawnContext, limits: PoolLimits) -> None:
        self.context = context
        self.limits = limits
        self.process: SpawnProcess | None = None
        self.conn: Connection | None = None
        self.ready = False
        self.start()

    def start(self) -> None:
        parent, child = self.context.Pipe(duplex=True)
        self.process = self.context.Process(
            target=worker_main,
            args=(child, self.limits.memory_mb, self.limits.cache_size),
            name="assay-explain-worker",
            daemon=True,
        )
        self.process.start()
        child.close()
        self.conn = parent
        self.ready = False

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def _connection(self) -> Connection:
        if self.conn is None:  # stopped: only a replace() starts it again
            raise WorkerError("crashed", "The explanation worker is stopped.")
        return self.conn

    def _wait_ready(self) -> None:
        conn = self._connection()
        try:
            if not conn.poll(BOOT_TIMEOUT_SECONDS):
                raise WorkerError("crashed", "An explanation worker did not start in time.")
            json.loads(conn.recv_bytes())
        except (EOFError, OSError):
            self.replace()
            raise WorkerError(
                "crashed", "An explanation worker died while starting; it was replaced."
            ) from None
        self.ready = True

    def call(self, request: ExplainMessage | PingMessage, timeout: float) -> Answer:
        """Send one request and wait for its answer, at most ``timeout`` seconds."""
        if not self.ready:
            self._wait_ready()
        conn = self._connection()
        try:
            conn.send_bytes(json.dumps(request).encode())
            if not conn.poll(timeout):
                self.replace()
                raise WorkerError(
                    "timeout",
                    f"The explanation took longer than {timeout:g} s; its worker was stopped "
                    "and replaced.",
                )
            return cast("Answer", json.loads(conn.recv_bytes()))
        except (EOFError, OSError):
            reason = self._death_reason()
            self.replace()
            raise WorkerError(
                "crashed", f"The explanation worker died ({reason}); it was replaced."
            ) from None

    def _death_reason(self) -> str:
        if self.process is None:
            return "it was stopped"
        self.process.join(5)
        code = self.process.exitcode
        if code == -signal.SIGXCPU:
            return "it used up its CPU-seconds limit"
        if code is not None and code < 0:
            return f"killed by signal {signal.Signals(-code).name}"
        return f"exit code {code}"

    def replace(self) -> None:
        """Kill this worker (if alive) and start a new one in its place."""
        self.stop(force=True)
        self.start()

    def stop(self, *, force: bool = False) -> None:
        """Ask the worker to stop (or kill it), and wait for it."""
        if self.process is None:
            return
        if not force and self.conn is not None and self.process.is_alive():
            try:
                self.conn.send_bytes(b'{"op": "stop"}')
                self.process.join(5)
            except OSError:
                pass
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        if self.conn is not None:
            self.conn.close()
        self.process.close()
        self.process = None
        self.conn = None


class WorkerPool:
    """A fixed number of workers; a request waits for an idle one (preferring the one that
    most likely has its model cached)."""

    def __init__(self, limits: PoolLimits) -> None:
        self.limits = limits
        context = multiprocessing.get_context("spawn")
        self._workers = [_Worker(context, limits) for _ in range(max(1, limits.size))]
        self._idle = set(range(len(self._workers)))
        self._condition = threading.Condition()
        self._closed = False
        _POOLS.add(self)

    def run(
        self,
        request: ExplainMessage | PingMessage,
        *,
        timeout: float,
        affinity: str = "",
        wait: float = 60.0,
    ) -> Answer:
        """Run ``request`` in a worker; raise :class:`WorkerError` if none answers."""
        index = self._acquire(affinity, wait)
        try:
            return self._workers[index].call(request, timeout)
        finally:
            with self._condition:
                self._idle.add(index)
                self._condition.notify()

    def _acquire(self, affinity: str, wait: float) -> int:
        preferred = zlib.crc32(affinity.encode()) % len(self._workers)
        with self._condition:
            if not self._condition.wait_for(lambda: self._idle or self._closed, timeout=wait):
                raise WorkerError("busy", "Every explanation worker is busy; try again later.")
            if self._closed:
                raise WorkerError("busy", "The explanation workers are shutting down.")
            index = preferred if preferred in self._idle else min(self._idle)
            self._idle.remove(index)
            return index

    @property
    def closed(self) -> bool:
        """True once shut down."""
        return self._closed

    def pids(self) -> list[int]:
        """The workers' process ids (for tests and diagnostics)."""
        return [pid for pid in (w.pid for w in self._workers) if pid is not None]

    def shutdown(self) -> None:
        """Stop every worker; requests waiting for one fail with ``busy``."""
        with self._condition:
            if self._closed:
                return
            self._closed = True
            self._condition.notify_all()
        for worker in self._workers:
            worker.stop()
        _POOLS.discard(self)


def pool_for(extensions: MutableMapping[str, object], limits: PoolLimits) -> WorkerPool:
    """The pool kept in ``extensions`` (a Flask app's), created on first use."""
    pool = cast("WorkerPool | None", extensions.get("assay_explain_pool"))
    if pool is None or pool.closed:
        with _CREATE_LOCK:
            pool = cast("WorkerPool | None", extensions.get("assay_explain_pool"))
            if pool is None or pool.closed:
                pool = WorkerPool(limits)
                extensions["assay_explain_pool"] = pool
    return pool


def shutdown_all_pools() -> None:
    """Stop every pool this process started."""
    for pool in list(_POOLS):
        pool.shutdown()


atexit.register(shutdown_all_pools)
