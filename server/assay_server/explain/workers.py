"""The isolated worker pool: model files are loaded and explained in other processes.

Every worker is a fresh interpreter (nothing of the web process is inherited) started in a
private temporary directory — its working directory, TMPDIR and HOME, removed when it stops —
with an environment of its own: an allow-list (PATH, LANG, one thread per numeric library;
nothing ``ASSAY_*``, no database URL, no SMTP password: :func:`.jail.worker_environment`). It
is told where to import from, and its limits, in its first message; the web process talks to
it over a socket in JSON only, so even a compromised worker cannot make the web process
unpickle anything. This module imports nothing heavy: the worker imports numpy, scikit-learn
and LIME itself, after its limits are set.

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
every pool of the process (tests call it; it is also registered with ``atexit``).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
import zlib
from collections.abc import MutableMapping
from dataclasses import dataclass
from functools import partial
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from ..settings import Settings
    from .messages import Answer, BootMessage, ExplainMessage, JailSpec, PingMessage

log = logging.getLogger(__name__)

BOOT_TIMEOUT_SECONDS = 120.0
MEBIBYTE = 1024 * 1024
#: What a jailed worker may still do: open this many files, write files this large.
JAIL_OPEN_FILES = 64
JAIL_FILE_MB = 64
_POOLS: weakref.WeakSet[WorkerPool] = weakref.WeakSet()
_CREATE_LOCK = threading.Lock()
# The worker's first lines: read the boot message, import from where the web process does.
# (A fresh interpreter with -I ignores PYTHON* variables and the user's site directory.)
_BOOTSTRAP = """\
import json, sys
from multiprocessing.connection import Connection
conn = Connection(int(sys.argv[1]))
boot = json.loads(conn.recv_bytes())
sys.path[:] = boot["sys_path"]
from assay_server.explain.workers import worker_main
worker_main(conn, boot)
"""


class WorkerError(Exception):
    """A worker could not answer: ``kind`` is ``timeout``, ``crashed`` or ``busy``."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class PoolLimits:
    """How many workers, what each may use, and what a jailed one must never read."""

    size: int = 2
    memory_mb: int = 4096
    cache_size: int = 8
    protected_paths: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> PoolLimits:
        """The limits the ``ASSAY_EXPLAIN_*`` settings give; the data directory and the SQLite
        store are protected."""
        return cls(
            size=settings.explain_workers,
            memory_mb=settings.explain_memory_mb,
            cache_size=settings.explain_cache_size,
            protected_paths=protected_paths(settings),
        )


def protected_paths(settings: Settings) -> tuple[str, ...]:
    """The data directory, and the directory of the SQLite store (with its journal files)."""
    paths = [os.path.abspath(settings.data_dir)]
    if settings.is_sqlite:
        from sqlalchemy.engine import make_url

        database = make_url(settings.database_url).database
        if database and database != ":memory:":
            paths.append(os.path.dirname(os.path.abspath(database)))
    return tuple(paths)


def worker_main(conn: Connection, boot: BootMessage) -> None:
    """A worker's life: set limits, import the heavy libraries, answer requests until told
    (a jailed worker: one request)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server, which stops us
    _limit_address_space(boot["memory_mb"])
    from .jail import enter_jail
    from .runtime import Runtime, preload

    preload()
    jail = boot["jail"]
    runtime = Runtime(boot["cache_size"], partial(enter_jail, jail) if jail else None)
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
        if jail is not None:
            return  # the pool kills what this request left behind, and starts a fresh worker


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
    """One worker process and the web process's end of its socket."""

    def __init__(self, limits: PoolLimits, *, jailed: bool = False) -> None:
        self.limits = limits
        self.jailed = jailed
        self.process: subprocess.Popen[bytes] | None = None
        self.conn: Connection | None = None
        self.temp_dir: str | None = None
        self.ready = False
        self.start()

    def start(self) -> None:
        self.temp_dir = tempfile.mkdtemp(prefix="assay-explain-")
        ours, theirs = socket.socketpair()
        quiet = subprocess.DEVNULL if self.jailed else None  # a model writes to no log
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-I", "-B", "-c", _BOOTSTRAP, str(theirs.fileno())],
                env=_worker_environment(self.temp_dir),
                cwd=self.temp_dir,
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=quiet,
                stderr=quiet,
                start_new_session=True,  # its own process group: killed whole (stop)
            )
        except OSError:
            ours.close()
            _remove_tree(self.temp_dir)
            raise
        finally:
            theirs.close()
        self.conn = Connection(ours.detach())
        self.conn.send_bytes(json.dumps(self._boot(self.temp_dir)).encode())
        self.ready = False

    def _boot(self, temp_dir: str) -> BootMessage:
        jail: JailSpec | None = None
        if self.jailed:
            jail = {
                "temp_dir": temp_dir,
                "protected": list(self.limits.protected_paths),
                "open_files": JAIL_OPEN_FILES,
                "file_mb": JAIL_FILE_MB,
            }
        return {
            "sys_path": list(sys.path),
            "memory_mb": self.limits.memory_mb,
            "cache_size": self.limits.cache_size,
            "jail": jail,
        }

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
            self._discard()
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
                self._discard()
                raise WorkerError(
                    "timeout",
                    f"The explanation took longer than {timeout:g} s; its worker was stopped "
                    "and replaced.",
                )
            return cast("Answer", json.loads(conn.recv_bytes()))
        except (EOFError, OSError):
            cpu_seconds = request["cpu_seconds"] if request["op"] == "explain" else 0.0
            reason = self._death_reason(cpu_seconds)
            self._discard()
            raise WorkerError(
                "crashed", f"The explanation worker died ({reason}); it was replaced."
            ) from None

    def _death_reason(self, cpu_seconds: float) -> str:
        if self.process is None:
            return "it was stopped"
        code, cpu_used = self._reap(5)
        # past a soft CPU limit the kernel sends SIGXCPU; a jailed worker's limit is hard
        # too, and at the hard limit the signal is SIGKILL
        spent = cpu_seconds > 0 and cpu_used >= cpu_seconds
        if code == -signal.SIGXCPU or (code == -signal.SIGKILL and spent):
            return "it used up its CPU-seconds limit"
        if code is not None and code < 0:
            return f"killed by signal {signal.Signals(-code).name}"
        return f"exit code {code}"

    def _reap(self, timeout: float) -> tuple[int | None, float]:
        """Wait up to ``timeout`` s for the process to end: its exit code (negative: the
        signal) and the CPU seconds it used."""
        process = self.process
        if process is None or process.returncode is not None:
            return (process.returncode if process else None), 0.0
        deadline = time.monotonic() + timeout
        while True:
            try:
                pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            except ChildProcessError:
                return process.poll(), 0.0
            if pid:
                process.returncode = os.waitstatus_to_exitcode(status)
                return process.returncode, usage.ru_utime + usage.ru_stime
            if time.monotonic() >= deadline:
                return None, 0.0
            time.sleep(0.01)

    def _discard(self) -> None:
        """After a failure: a shared worker is replaced, a jailed one only stopped (the pool
        starts a fresh one for the next request)."""
        if self.jailed:
            self.stop(force=True)
        else:
            self.replace()

    def replace(self) -> None:
        """Kill this worker (if alive) and start a new one in its place."""
        self.stop(force=True)
        self.start()

    def stop(self, *, force: bool = False) -> None:
        """Ask the worker to stop (or kill it), kill whatever it started, wait for it, and
        remove its directory."""
        process = self.process
        if process is not None:
            if not force and self.conn is not None and process.poll() is None:
                try:
                    self.conn.send_bytes(b'{"op": "stop"}')
                    process.wait(5)
                except (OSError, subprocess.TimeoutExpired):
                    pass
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)  # the worker and its process group
            self._reap(5)
        if self.conn is not None:
            self.conn.close()
        if self.temp_dir is not None:
            _remove_tree(self.temp_dir)
        self.process = None
        self.conn = None
        self.temp_dir = None


def _worker_environment(temp_dir: str) -> dict[str, str]:
    from .jail import worker_environment

    # passed on, not read: nothing but settings.py reads configuration from the environment
    return worker_environment(os.environ, temp_dir)


def _remove_tree(path: str) -> None:
    """Remove a worker's directory, whatever modes its model left on what it made."""
    for root, directories, _files in os.walk(path):
        for name in directories:
            with contextlib.suppress(OSError):
                os.chmod(os.path.join(root, name), 0o700)
    shutil.rmtree(path, ignore_errors=True)


class WorkerPool:
    """A fixed number of shared workers, where a request waits for an idle one (preferring
    the one that most likely has its model cached), and jailed workers for untrusted formats:
    at most ``size`` at once, each serving one request, a fresh one kept ready."""

    def __init__(self, limits: PoolLimits) -> None:
        self.limits = limits
        self._workers = [_Worker(limits) for _ in range(max(1, limits.size))]
        self._idle = set(range(len(self._workers)))
        self._condition = threading.Condition()
        self._closed = False
        self._jail_slots = threading.BoundedSemaphore(max(1, limits.size))
        self._jailed: set[_Worker] = set()
        self._spare: _Worker | None = None
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

    def _take_jailed(self) -> _Worker:
        with self._condition:
            if self._closed:
                raise WorkerError("busy", "The explanation workers are shutting down.")
            worker, self._spare = self._spare, None
            if worker is None:
                worker = _Worker(self.limits, jailed=True)
            self._jailed.add(worker)
            return worker

    def _restock(self) -> None:
        """Start the jailed worker the next untrusted request will take (it boots now)."""
        with self._condition:
            if self._spare is None and not self._closed:
                self._spare = _Worker(self.limits, jailed=True)

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
    """Stop every pool this process started."""
    for pool in list(_POOLS):
        pool.shutdown()


atexit.register(shutdown_all_pools)
