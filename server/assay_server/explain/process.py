"""One explanation worker process, seen from the web process: start it, talk to it, stop it.

A :class:`WorkerProcess` has the launcher (:mod:`.launcher`) fork a worker into a private
temporary directory with an allow-listed environment (:func:`.jail.worker_environment`) and
its boot message, and exchanges JSON with it over a socket; the launcher, its parent, writes
how it ended to the worker's exit pipe. When it fails it is killed with its process group and
its directory removed (:mod:`.workers` describes the pool that schedules them).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import socket
import sys
import tempfile
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, cast

from .launcher import BOOT_TIMEOUT_SECONDS, ForkRefused, LauncherDied, start_worker
from .limits import JAIL_FILE_MB, JAIL_OPEN_FILES

if TYPE_CHECKING:
    from .limits import PoolLimits
    from .messages import Answer, BootMessage, ExplainMessage, JailSpec, PingMessage

__all__ = ["BOOT_TIMEOUT_SECONDS", "WorkerError", "WorkerProcess"]


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
        self.pid: int | None = None
        self.conn: Connection | None = None
        self.temp_dir: str | None = None
        self.ready = False
        self._exit_pipe: int | None = None  # read end: the launcher writes how it ended
        self._ended: tuple[int | None, float] | None = None
        self.start()

    def start(self) -> None:
        self.temp_dir = tempfile.mkdtemp(prefix="assay-explain-")
        ours, theirs = socket.socketpair()
        exit_read, exit_write = os.pipe()
        try:
            self.pid = start_worker(
                {
                    "boot": self._boot(self.temp_dir),
                    "temp_dir": self.temp_dir,
                    "environment": _worker_environment(self.temp_dir),
                    "quiet": self.jailed,  # a model writes to no log
                },
                theirs.fileno(),
                exit_write,
            )
        except (LauncherDied, ForkRefused) as error:
            ours.close()
            os.close(exit_read)
            _remove_tree(self.temp_dir)
            self.temp_dir = None
            raise WorkerError(
                "crashed", f"An explanation worker could not be started ({error})."
            ) from None
        finally:
            theirs.close()
            os.close(exit_write)
        self.conn = Connection(ours.detach())
        self._exit_pipe = exit_read
        self._ended = None
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
        if self.pid is None:
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
        signal) and the CPU seconds it used, as its parent, the launcher, saw them."""
        if self._ended is not None or self._exit_pipe is None:
            return self._ended or (None, 0.0)
        readable, _, _ = select.select([self._exit_pipe], [], [], timeout)
        if not readable:
            return None, 0.0
        data = b""
        while chunk := os.read(self._exit_pipe, 4096):
            data += chunk
        os.close(self._exit_pipe)
        self._exit_pipe = None
        try:
            ended = json.loads(data)
            self._ended = (int(ended["code"]), float(ended["cpu"]))
        except (ValueError, KeyError, TypeError):  # the launcher died before it could say
            self._ended = (None, 0.0)
        return self._ended

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
        if self.pid is not None:
            # a worker that never answered (still starting, or a spare) has nothing to finish
            conn = self.conn if not force and self.ready else None
            if conn is not None and self._reap(0)[0] is None:
                try:
                    conn.send_bytes(b'{"op": "stop"}')
                    self._reap(5)
                except OSError:
                    pass
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)  # the worker and its process group
            self._reap(5)
        if self.conn is not None:
            self.conn.close()
        if self._exit_pipe is not None:
            os.close(self._exit_pipe)
        if self.temp_dir is not None:
            _remove_tree(self.temp_dir)
        self.pid = None
        self.conn = None
        self._exit_pipe = None
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
