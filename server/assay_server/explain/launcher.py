"""The process that starts explanation workers, seen from the web process: one per process.

Importing scikit-learn, LIME, pyarrow and skops takes a fresh interpreter seconds of CPU. The
launcher pays that once: it is a fresh interpreter (:mod:`.zygote` is what it runs) started
like a worker — allow-listed environment, private directory, a session of its own — and every
worker is forked from it (:meth:`Launcher.fork`), a copy of its state after the imports. So a
worker starts in milliseconds, a jailed one per untrusted request too, and nothing of the web
process is in any of them.

A process has one launcher (:func:`start_worker` starts it on first use, and again if it
died or the process forked); :func:`stop_launcher` stops it, the workers it started are the
pools' to stop.
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
import threading
from typing import TYPE_CHECKING, cast

from .jail import worker_environment

if TYPE_CHECKING:
    from .zygote import ForkRequest

__all__ = ["BOOT_TIMEOUT_SECONDS", "ForkRefused", "LauncherDied", "start_worker", "stop_launcher"]

BOOT_TIMEOUT_SECONDS = 120.0
FORK_TIMEOUT_SECONDS = 30.0
# The launcher's first lines: import from where the web process does, then run the zygote.
# (A fresh interpreter with -I ignores PYTHON* variables and the user's site directory.)
_BOOTSTRAP = """\
import json, socket, sys
control = socket.socket(fileno=int(sys.argv[1]))
sys.path[:] = json.loads(control.recv(1 << 20))["sys_path"]
from assay_server.explain.zygote import launcher_main
launcher_main(control)
"""


class LauncherDied(Exception):
    """The launcher did not answer: it died, or never finished starting."""


class ForkRefused(Exception):
    """The launcher answered but could not fork (a process limit, memory)."""


class Launcher:
    """The launcher process and the web process's end of its socket."""

    def __init__(self) -> None:
        self.owner = os.getpid()
        self.temp_dir = tempfile.mkdtemp(prefix="assay-explain-launcher-")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-I", "-B", "-c", _BOOTSTRAP, str(theirs.fileno())],
                # passed on, not read: nothing but settings.py reads configuration from it
                env=worker_environment(os.environ, self.temp_dir),
                cwd=self.temp_dir,
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError:
            ours.close()
            shutil.rmtree(self.temp_dir, ignore_errors=True)
            raise
        finally:
            theirs.close()
        self.control = ours
        self._lock = threading.Lock()
        self._ready = False
        self._stopped = False
        try:
            self.control.sendall(json.dumps({"sys_path": list(sys.path)}).encode())
        except OSError as error:  # it died at once
            self.stop()
            raise LauncherDied(str(error)) from None

    def fork(self, request: ForkRequest, worker_socket: int, exit_write: int) -> int:
        """Have the launcher fork one worker on ``worker_socket``; its pid. The launcher
        writes the worker's exit to ``exit_write`` when it ends."""
        with self._lock:
            try:
                if not self._ready:
                    self._receive(BOOT_TIMEOUT_SECONDS)
                    self._ready = True
                self.control.settimeout(FORK_TIMEOUT_SECONDS)
                message = json.dumps(request).encode()
                socket.send_fds(self.control, [message], [worker_socket, exit_write])
                answer = self._receive(FORK_TIMEOUT_SECONDS)
            except (OSError, ValueError, TypeError) as error:
                raise LauncherDied(str(error)) from None
        if "pid" not in answer:
            raise ForkRefused(str(answer.get("error", "no pid")))
        return int(answer["pid"])

    def _receive(self, timeout: float) -> dict[str, int | str]:
        self.control.settimeout(timeout)
        data = self.control.recv(65536)
        if not data:
            raise LauncherDied("the launcher closed its socket")
        return cast("dict[str, int | str]", json.loads(data))

    def alive(self) -> bool:
        """True while its process runs and belongs to this process (not a fork's parent)."""
        return self.owner == os.getpid() and self.process.poll() is None

    def stop(self) -> None:
        """Close its socket (it exits), kill its process group and remove its directory."""
        if self.owner != os.getpid() or self._stopped:
            return  # a forked child's copy is its parent's to stop
        self._stopped = True
        self.control.close()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)
        shutil.rmtree(self.temp_dir, ignore_errors=True)


_lock = threading.Lock()
_current: Launcher | None = None


def _launcher() -> Launcher:
    global _current
    with _lock:
        if _current is None or not _current.alive():
            if _current is not None:
                _current.stop()
            _current = Launcher()
        return _current


def start_worker(request: ForkRequest, worker_socket: int, exit_write: int) -> int:
    """Fork a worker from this process's launcher (started, or restarted, if needed); its
    pid. :class:`LauncherDied` if a fresh launcher fails too, :class:`ForkRefused` if the
    launcher could not fork."""
    for attempt in (1, 2):
        launcher = None
        try:
            launcher = _launcher()
            return launcher.fork(request, worker_socket, exit_write)
        except (LauncherDied, OSError) as error:
            if launcher is not None:
                with _lock:
                    launcher.stop()
            if attempt == 2:
                raise LauncherDied(str(error)) from None
    raise AssertionError("unreachable")


def stop_launcher() -> None:
    """Stop this process's launcher, if it started one."""
    global _current
    with _lock:
        if _current is not None:
            _current.stop()
            _current = None
