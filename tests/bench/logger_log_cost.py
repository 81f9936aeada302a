"""Benchmark: what ``PredictionLogger.log()`` costs the serving thread, server up and down.

    python tests/bench/logger_log_cost.py [--threads 8] [--calls 25000]

Starts a real Assay server (``assay-server run``, SQLite in a temporary directory) in its own
process, registers a model version with 20 features, then times every call from ``--threads``
threads calling as fast as they can, and prints p50 / p99 / p99.9 / max in microseconds for:

- the anchors, timed the same way in the same run: a bare ``deque.append`` of a tuple (the
  least a queueing call can cost) and ``uuid.uuid4().hex`` (the id ``log()`` makes);
- ``log()`` with the server up;
- ``log()`` with the server down (a closed port: every batch goes to the disk spool).

Target: p99 <= 20 us. The figures include waits for the GIL, which the anchors pay too.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "sdk")]

import assay  # noqa: E402

FEATURES = {f"f{i:02d}": "numerical" for i in range(16)} | {
    f"c{i}": "categorical" for i in range(4)
}


def _row(i: int) -> dict[str, object]:
    row: dict[str, object] = {f"f{j:02d}": float(i % 97 + j) for j in range(16)}
    row.update({f"c{j}": ("a", "b", "c")[(i + j) % 3] for j in range(4)})
    return row


def timed(
    call: Callable[[int], object], threads: int, calls: int, pause: float = 0.0
) -> tuple[list[int], float]:
    """Run ``call(i)`` ``calls`` times in each of ``threads`` threads; per-call ns, seconds.

    ``pause`` seconds between calls stand for the rest of the serving work (sleeping, so the
    GIL is free meanwhile, as during I/O or a native model's inference).
    """
    samples: list[list[int]] = [[] for _ in range(threads)]
    rows = [_row(i) for i in range(100)]
    start = threading.Barrier(threads + 1)

    def work(slot: int) -> None:
        clock = time.perf_counter_ns
        record = samples[slot].append
        start.wait()
        for i in range(calls):
            features = rows[i % 100]
            t0 = clock()
            call(features)  # type: ignore[arg-type]
            record(clock() - t0)
            if pause:
                time.sleep(pause)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    began = time.perf_counter()
    start.wait()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - began
    return sorted(ns for each in samples for ns in each), elapsed


def report(name: str, samples: list[int], elapsed: float) -> None:
    def pct(q: float) -> float:
        return samples[min(len(samples) - 1, int(q * len(samples)))] / 1000

    print(
        f"{name:<34} p50 {pct(0.50):7.2f}  p99 {pct(0.99):7.2f}  p99.9 {pct(0.999):8.2f}  "
        f"max {samples[-1] / 1000:9.1f} us   ({len(samples) / elapsed:,.0f} calls/s)"
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(data_dir: Path) -> tuple[subprocess.Popen[str], str, str]:
    env = {**os.environ, "ASSAY_DATA_DIR": str(data_dir)}
    server_cli = [sys.executable, "-m", "assay_server.cli"]
    subprocess.run([*server_cli, "db", "upgrade"], env=env, check=True, capture_output=True)
    created = subprocess.run(
        [*server_cli, "tokens", "create", "--role", "admin", "--name", "bench"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    token = re.search(r"asy_\S+", created.stdout).group(0)  # type: ignore[union-attr]
    port = free_port()
    process = subprocess.Popen(
        [*server_cli, "run", "--port", str(port), "--no-scheduler"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process, url, token
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--calls", type=int, default=25_000, help="calls per thread")
    parser.add_argument("--rate", type=int, default=20_000, help="paced run: calls/s in all")
    parser.add_argument("--paced-calls", type=int, default=5_000, help="paced: per thread")
    args = parser.parse_args()
    print(f"{args.threads} threads x {args.calls:,} calls each, 20 features per row\n")

    queue: deque[tuple[object, ...]] = deque(maxlen=1_000_000)
    report(
        "anchor: deque.append(tuple)",
        *timed(lambda f: queue.append((f, 1)), args.threads, args.calls),
    )
    report("anchor: uuid.uuid4().hex", *timed(lambda f: uuid.uuid4().hex, args.threads, args.calls))
    report(
        f"anchor: deque.append, ~{args.rate:,}/s",
        *timed(
            lambda f: queue.append((f, 1)), args.threads, args.paced_calls, args.threads / args.rate
        ),
    )

    with tempfile.TemporaryDirectory() as scratch:
        process, url, token = start_server(Path(scratch) / "server")
        try:
            with assay.Client(url, token) as client:
                client.create_model("bench", "binary_classification")
                client.register_version("bench", features=FEATURES)
            for label, pause, calls in (
                ("log(), server up, flat out", 0.0, args.calls),
                (f"log(), server up, ~{args.rate:,}/s", args.threads / args.rate, args.paced_calls),
            ):
                up = client.prediction_logger("bench", 1, spool_dir=Path(scratch) / "up")
                samples, elapsed = timed(
                    lambda f, up=up: up.log(f, 1, score=0.5), args.threads, calls, pause
                )
                report(label, samples, elapsed)
                delivered = up.flush(timeout=300)
                stats = up.stats
                print(
                    f"{'':<34} delivered={delivered} sent={stats['sent']:,} "
                    f"spooled={stats['spooled']:,} dropped={stats['dropped']:,}"
                )
                up.close()
        finally:
            process.terminate()
            process.wait(timeout=30)

        closed = f"http://127.0.0.1:{free_port()}"
        for label, pause, calls in (
            ("log(), server down, flat out", 0.0, args.calls),
            (f"log(), server down, ~{args.rate:,}/s", args.threads / args.rate, args.paced_calls),
        ):
            with assay.Client(closed, "asy_nobody") as client:
                down = client.prediction_logger(
                    "bench", 1, spool_dir=Path(scratch) / f"down-{int(pause * 1e6)}"
                )
            samples, elapsed = timed(
                lambda f, down=down: down.log(f, 1, score=0.5), args.threads, calls, pause
            )
            report(label, samples, elapsed)
            down.close(timeout=10)
            stats = down.stats
            print(
                f"{'':<34} spooled={stats['spooled']:,} dropped={stats['dropped']:,} "
                f"spool={stats['spool_batches']} files, {stats['spool_bytes'] / 1e6:.1f} MB"
            )


if __name__ == "__main__":
    main()
