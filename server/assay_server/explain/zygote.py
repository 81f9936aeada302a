"""What runs inside the launcher process: import once, then fork each worker from that state.

The launcher (:mod:`.launcher` starts it) is a fresh interpreter with a worker's allow-listed
environment in a private directory of its own. It imports what a worker needs (numpy,
pandas, scikit-learn, LIME, pyarrow, skops: :func:`.runtime.preload`) once, then waits on its
socket to the web process. Each message asks for one worker and carries that worker's socket
and the write end of its exit pipe; the launcher forks, answers with the child's pid, and
when the child ends it writes the exit code and the CPU seconds the child used to that pipe.

A forked child is a copy of this process as it was after the imports — never of the web
process — so it starts in milliseconds, and a jailed worker inherits nothing an earlier
request left behind: each one is a new copy. Before it runs the worker it closes everything
of the launcher's (its socket, the exit pipes), becomes a process group of its own (killed
whole by the web process; the launcher has a session of its own, with no terminal), moves to
its own directory and takes its own environment.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import socket
import sys
import tempfile
import traceback
import warnings
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, TypedDict

if TYPE_CHECKING:
    from .messages import BootMessage

#: One fork request: its socket and its exit pipe arrive as file descriptors beside it.
MAX_REQUEST_BYTES = 1 << 20


class ForkRequest(TypedDict):
    """What the web process sends for one worker (:meth:`.launcher.Launcher.fork`)."""

    boot: BootMessage
    temp_dir: str
    environment: dict[str, str]
    quiet: bool  # a jailed worker's output goes nowhere


def launcher_main(control: socket.socket) -> None:
    """The launcher's life: import, say ready, fork workers and report their exits until the
    web process closes its end."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server, which stops us
    name_this_process("assay-launcher")
    from .child import worker_main
    from .runtime import preload

    preload()
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_read, False)
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # only to wake the selector
    exit_pipes: dict[int, int] = {}  # child pid → the write end of its exit pipe
    selector = selectors.DefaultSelector()
    selector.register(control, selectors.EVENT_READ)
    selector.register(wake_read, selectors.EVENT_READ)
    control.sendall(json.dumps({"ready": True, "pid": os.getpid()}).encode())

    def close_in_child() -> None:
        selector.close()
        control.close()
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for descriptor in (wake_read, wake_write, *exit_pipes.values()):
            os.close(descriptor)

    while True:
        for key, _events in selector.select():
            if key.fd == wake_read:
                with contextlib.suppress(BlockingIOError):
                    os.read(wake_read, 4096)
                _report_exits(exit_pipes)
                continue
            try:
                data, descriptors, _flags, _address = socket.recv_fds(control, MAX_REQUEST_BYTES, 2)
            except OSError:
                data, descriptors = b"", []
            if not data:  # the web process is gone: its workers see their sockets close
                os._exit(0)
            request: ForkRequest = json.loads(data)
            worker_socket, exit_write = descriptors
            try:
                pid = _fork(request, worker_socket, exit_write, close_in_child, worker_main)
            except OSError as error:  # no process left to fork (a limit, memory)
                os.close(exit_write)
                control.sendall(json.dumps({"error": str(error)}).encode())
                continue
            finally:
                os.close(worker_socket)
            exit_pipes[pid] = exit_write
            control.sendall(json.dumps({"pid": pid}).encode())


def _fork(
    request: ForkRequest,
    worker_socket: int,
    exit_write: int,
    close_in_child: Callable[[], None],
    worker_main: Callable[[Connection, BootMessage], None],
) -> int:
    """Fork one worker; in the child, run it and never return."""
    with warnings.catch_warnings():
        # Python 3.12 warns when a process with threads forks: pyarrow's allocator keeps one
        # idle thread, whose locks it resets in the child itself (pthread_atfork)
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid:
        # the child does the same: whichever runs first, the group exists before the web
        # process hears the pid (and may kill the group)
        with contextlib.suppress(OSError):
            os.setpgid(pid, pid)
        return pid
    code = 1
    try:
        close_in_child()
        os.close(exit_write)  # how it ended is the launcher's to say, not the worker's
        os.setpgid(0, 0)  # a process group of its own: the web process kills it whole
        name_this_process("assay-jailed" if request["boot"]["jail"] else "assay-worker")
        if request["quiet"]:
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(null, 1)
            os.dup2(null, 2)
            os.close(null)
        os.chdir(request["temp_dir"])
        os.environ.clear()
        os.environ.update(request["environment"])
        tempfile.tempdir = None  # read TMPDIR again: the worker's own directory
        worker_main(Connection(worker_socket), request["boot"])
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _report_exits(exit_pipes: dict[int, int]) -> None:
    """Reap every ended child and write its exit code and CPU seconds to its exit pipe."""
    while True:
        try:
            pid, status, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if not pid:
            return
        descriptor = exit_pipes.pop(pid, None)
        if descriptor is None:
            continue
        ended = {"code": os.waitstatus_to_exitcode(status), "cpu": usage.ru_utime + usage.ru_stime}
        with contextlib.suppress(OSError):  # the web process may have stopped listening
            os.write(descriptor, json.dumps(ended).encode())
        os.close(descriptor)


def name_this_process(name: str) -> None:
    """The name ``top`` and ``ps -o comm`` show (at most 15 bytes): the workers would otherwise
    all show the launcher's ``python``."""
    import ctypes

    set_name = 15  # PR_SET_NAME
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(set_name, ctypes.c_char_p(name.encode()[:15]), 0, 0, 0)
