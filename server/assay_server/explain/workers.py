"""The isolated worker pool: model files are loaded and explained in other processes.

Every worker is forked from the process's launcher (:mod:`.launcher`): a fresh interpreter
that imported numpy, pandas, scikit-learn, LIME, pyarrow and skops once, so nothing of the web
process is inherited and a worker starts in milliseconds. Each runs in a private temporary
directory — its working directory, TMPDIR and HOME, removed when it stops — with an
environment of its own: an allow-list (PATH, LANG, one thread per numeric library; nothing
``ASSAY_*``, no database URL, no SMTP password: :func:`.jail.worker_environment`). It is told
its limits in its boot message; the web process talks to it over a socket in JSON only, so
even a compromised worker cannot make the web process unpickle anything. This module imports
nothing heavy.

Two kinds of workers:

* **shared** workers (``size`` of them, long-lived) load the formats whose loading runs no code
  nobody trusted (skops with its trusted types, ONNX); each keeps its loaded models (LRU), has
  an address-space limit set once and a CPU-seconds limit renewed per request;
* a **jailed** worker answers one request for any other format (a pickle): it reads its two
  files, closes the jail (:mod:`.jail`: hard limits, no capabilities, Landlock) before it
  deserialises the artifact, answers, and is then killed with every process it started and its
  directory removed; a fresh one, started at once, waits for the next request. So nothing a
  model leaves behind (a thread, a file, a changed module) survives into another request.

A request that does not answer within its timeout gets its worker killed and replaced; a
worker that dies (a crash, the CPU limit) is replaced too.

The pool is created lazily, on the first explanation (:func:`pool_for`), never at import or
in ``create_app`` (which runs in every gunicorn worker), and :func:`shutdown_all_pools` stops
every pool of the process and its launcher (tests call it; it is also registered with
``atexit``).

This module schedules; :mod:`.process` starts, talks to and stops one worker, :mod:`.child`
is what runs inside it, and :mod:`.limits` says what the workers may use.
"""

from __future__ import annotations

import atexit
import logging
import threading
import weakref
import zlib
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, cast

from .child import worker_main
from .launcher import stop_launcher
from .limits import JAIL_FILE_MB, JAIL_OPEN_FILES, PoolLimits, protected_paths
from .process import BOOT_TIMEOUT_SECONDS, WorkerError, WorkerProcess

if TYPE_CHECKING:
    from .messages import Answer, ExplainMessage, PingMessage

__all__ = [
    "BOOT_TIMEOUT_SECONDS",
    "JAIL_FILE_MB",
    "JAIL_OPEN_FILES",
    "PoolLimits",
    "WorkerError",
    "WorkerPool",
    "pool_for",
    "protected_paths",
    "shutdown_all_pools",
    "worker_main",
]

log = logging.getLogger(__name__)

_POOLS: weakref.WeakSet[WorkerPool] = weakref.WeakSet()
_CREATE_LOCK = threading.Lock()


class WorkerPool:
    """A fixed number of shared workers, where a request waits for an idle one (preferring
    the one that most likely has its model cached), and jailed workers for untrusted formats:
    at most ``size`` at once, each serving one request, a fresh one kept ready."""

    def __init__(self, limits: PoolLimits) -> None:
        self.limits = limits
        self._workers = [WorkerProcess(limits) for _ in range(max(1, limits.size))]
        self._idle = set(range(len(self._workers)))
        self._condition = threading.Condition()
        self._closed = False
        self._jail_slots = threading.BoundedSemaphore(max(1, limits.size))
        self._jailed: set[WorkerProcess] = set()
        self._spare: WorkerProcess | None = None
        _POOLS.add(self)

    def run(
        self,
        request: ExplainMessage | PingMessage,
        *,
        timeout: float,
        affinity: str = "",
        wait: float = 60.0,
        untrusted: bool = False,
    ) -> Answer:
        """Run ``request`` in a worker (a jailed one when ``untrusted``); raise
        :class:`WorkerError` if none answers."""
        if untrusted:
            return self._run_jailed(request, timeout, wait)
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

    def _run_jailed(
        self, request: ExplainMessage | PingMessage, timeout: float, wait: float
    ) -> Answer:
        """One request in a jailed worker of its own, which is then killed and replaced."""
        if not self._jail_slots.acquire(timeout=wait):
            raise WorkerError("busy", "Every explanation worker is busy; try again later.")
        try:
            worker = self._take_jailed()
            try:
                return worker.call(request, timeout)
            finally:
                worker.stop(force=True)
                with self._condition:
                    self._jailed.discard(worker)
                self._restock()
        finally:
            self._jail_slots.release()

    def _take_jailed(self) -> WorkerProcess:
        with self._condition:
            if self._closed:
                raise WorkerError("busy", "The explanation workers are shutting down.")
            worker, self._spare = self._spare, None
            if worker is None:
                worker = WorkerProcess(self.limits, jailed=True)
            self._jailed.add(worker)
            return worker

    def _restock(self) -> None:
        """Start the jailed worker the next untrusted request will take (it boots now)."""
        with self._condition:
            if self._spare is None and not self._closed:
                self._spare = WorkerProcess(self.limits, jailed=True)

    @property
    def closed(self) -> bool:
        """True once shut down."""
        return self._closed

    def pids(self) -> list[int]:
        """The shared workers' process ids (for tests and diagnostics)."""
        return [pid for pid in (w.pid for w in self._workers) if pid is not None]

    def shutdown(self) -> None:
        """Stop every worker; requests waiting for one fail with ``busy``."""
        with self._condition:
            if self._closed:
                return
            self._closed = True
            self._condition.notify_all()
            jailed = [*self._jailed, *([self._spare] if self._spare else [])]
            self._spare = None
        for worker in [*self._workers, *jailed]:
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
    """Stop every pool this process started, and the launcher of their workers."""
    for pool in list(_POOLS):
        pool.shutdown()
    stop_launcher()


atexit.register(shutdown_all_pools)
