"""One explanation worker process, seen from the web process: start it, talk to it, stop it.

A :class:`WorkerProcess` starts a fresh interpreter in a private temporary directory with an
allow-listed environment (:func:`.jail.worker_environment`), sends it its boot message, and
exchanges JSON with it over a socket; when it fails it is killed with its process group and
its directory removed (:mod:`.workers` describes the pool that schedules them).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, cast

from .limits import JAIL_FILE_MB, JAIL_OPEN_FILES

if TYPE_CHECKING:
    from .limits import PoolLimits
    from .messages import Answer, BootMessage, ExplainMessage, JailSpec, PingMessage

BOOT_TIMEOUT_SECONDS = 120.0
# The worker's first lines: read the boot message, import from where the web process does.
# (A fresh interpreter with -I ignores PYTHON* variables and the user's site directory.)
_BOOTSTRAP = """\
import json, sys
from multiprocessing.connection import Connection
conn = Connection(int(sys.argv[1]))
boot = json.loads(conn.recv_bytes())
sys.path[:] = boot["sys_path"]
from assay_server.explain.child import worker_main
worker_main(conn, boot)
"""


class WorkerError(Exception):
    """A worker could not answer: ``kind`` is ``timeout``, ``crashed`` or ``busy``."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class WorkerProcess:
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
            # a worker that never answered (still importing, or a spare) has nothing to finish
            conn = self.conn if not force and self.ready else None
            if conn is not None and process.poll() is None:
                try:
                    conn.send_bytes(b'{"op": "stop"}')
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
