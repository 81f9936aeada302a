"""What runs inside a worker process: set its limits, then answer the web process's requests.

The launcher (:mod:`.zygote`) calls :func:`worker_main` in each worker it forks, after the
launcher itself imported numpy, scikit-learn and LIME (:func:`.runtime.preload`); this module
imports nothing heavy.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from functools import partial
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .messages import BootMessage

MEBIBYTE = 1024 * 1024


def worker_main(conn: Connection, boot: BootMessage) -> None:
    """A worker's life: set limits, answer requests until told (a jailed worker: one
    request)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server, which stops us
    _limit_address_space(boot["memory_mb"])
    from .jail import enter_jail
    from .runtime import Runtime

    sys.path[:] = boot["sys_path"]
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
