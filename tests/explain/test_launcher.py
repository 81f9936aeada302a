"""Workers are forked from one launcher per process: it holds no secret of the server, its
workers are not the web process's children, and a launcher that dies is started again (one
test: each launcher started costs an interpreter importing scikit-learn)."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from assay_server.explain.launcher import stop_launcher
from assay_server.explain.workers import PoolLimits, WorkerError, WorkerPool

# starts a launcher of its own (an interpreter importing scikit-learn), and touches no store
pytestmark = [pytest.mark.slow, pytest.mark.store_independent]

SECRET = "pa55-SECRET-of-the-server"


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _environment(pid: int) -> dict[str, str]:
    """What the process was started with (what /proc shows, whatever it changed since)."""
    entries = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(entry.decode().split("=", 1) for entry in entries if entry)


def _ended(pid: int, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state == "Z":
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def fresh_launcher(monkeypatch: pytest.MonkeyPatch):
    """The next worker starts a new launcher, while the server's environment holds secrets."""
    stop_launcher()
    monkeypatch.setenv("ASSAY_SMTP_PASSWORD", SECRET)
    monkeypatch.setenv("ASSAY_DATABASE_URL", f"postgresql+psycopg://assay:{SECRET}@db/assay")
    yield
    stop_launcher()


def test_one_launcher_without_secrets_forks_every_worker_and_is_started_again_if_killed(
    fresh_launcher,
):
    first, second = WorkerPool(PoolLimits(size=2)), WorkerPool(PoolLimits(size=1))
    replacement = None
    try:
        workers = [*first.pids(), *second.pids()]
        launchers = {_parent(pid) for pid in workers}
        assert len(workers) == 3 and len(launchers) == 1  # one launcher for the process
        (launcher,) = launchers
        assert launcher != os.getpid() and _parent(launcher) == os.getpid()
        started_with = _environment(launcher)
        assert "ASSAY_SMTP_PASSWORD" not in started_with
        assert not any(SECRET in value for value in started_with.values())
        assert started_with["TMPDIR"] == os.readlink(f"/proc/{launcher}/cwd")
        for pid in workers:  # a process group of its own before the pool hears its pid
            assert os.getpgid(pid) == pid
        answered = [pool.run({"op": "ping"}, timeout=30)["pid"] for pool in (first, second)]
        assert set(answered) <= set(workers)
        # what top and ps -o comm show
        assert Path(f"/proc/{launcher}/comm").read_text() == "assay-launcher\n"
        assert {Path(f"/proc/{pid}/comm").read_text() for pid in answered} == {"assay-worker\n"}

        os.kill(launcher, signal.SIGKILL)
        assert _ended(launcher)
        (worker,) = second.pids()
        assert second.run({"op": "ping"}, timeout=30)["pid"] == worker  # it talks to us
        replacement = WorkerPool(PoolLimits(size=1))
        (fresh,) = replacement.pids()
        relaunched = _parent(fresh)
        assert relaunched not in (launcher, os.getpid())
        assert replacement.run({"op": "ping"}, timeout=30)["ok"]
        workers.append(fresh)
    finally:
        for pool in (first, second, replacement):
            if pool is not None:
                pool.shutdown()
    assert all(_ended(pid) for pid in workers)
    stop_launcher()
    assert _ended(relaunched)


def test_a_launcher_that_cannot_start_fails_the_worker_with_a_clear_error(monkeypatch):
    stop_launcher()
    monkeypatch.setattr(sys, "executable", "/bin/false")  # exits at once: no launcher
    try:
        with pytest.raises(WorkerError) as raised:
            WorkerPool(PoolLimits(size=1))
        assert raised.value.kind == "crashed"
        assert raised.value.message.startswith("An explanation worker could not be started")
    finally:
        stop_launcher()
