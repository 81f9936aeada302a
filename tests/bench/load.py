"""Benchmark: the production shape (gunicorn workers on PostgreSQL) under a mixed load.

    python tests/bench/load.py [--seconds 60] [--clients 16] [--workers 4] [--threads 8]
        [--batch 100] [--anchor-seconds 10]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Starts `assay-server run --workers 4 --no-scheduler` (gunicorn, --threads threads per worker)
on a PostgreSQL database of its own (created next to the one named, dropped at the end),
registers model `load` v1, then, in the same run:
- the anchor: --clients threads calling `GET /api/v1/health` (no token, no database) for
  --anchor-seconds: what the same processes answer when a request does nothing;
- the mix: --clients threads for --seconds, each drawing its next request at random:
  40% ingest (POST a batch of --batch predictions, the SDK's column format), 40% reads
  (model list, version get, a page of the audit trail), 20% registry writes (register a
  version, log a benchmark; each one audited).
Prints requests/s overall and per kind, p50/p99 latency per kind, the errors (must be 0), the
stored predictions against the acknowledged ones, the CPU the server and the clients used,
and whether the audit trail (exported through the API) verifies offline with the server's
public key. The clients run on the same machine as the server and the database.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "sdk")]

from ingest_throughput import process_tree_cpu_s  # noqa: E402  (a sibling: run as a script)

from assay.auditchain import verify_export_lines  # noqa: E402

FEATURES = [{"name": f"n{i}", "kind": "numerical"} for i in range(8)] + [
    {"name": f"c{i}", "kind": "categorical"} for i in range(2)
]
CATEGORIES = ["red", "green", "blue", "amber"]
#: (kind, weight): what one client request is, drawn at random.
MIX = [
    ("ingest", 40),
    ("read models", 15),
    ("read version", 15),
    ("read audit page", 10),
    ("write version", 10),
    ("write benchmark", 10),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _fresh_postgres(base: str) -> tuple[str, callable]:
    import psycopg

    dsn = base.replace("postgresql+psycopg://", "postgresql://")
    name = f"assay_load_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return base.rsplit("/", 1)[0] + "/" + name, drop


def _stored_predictions(url: str) -> int:
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as connection:
        return connection.execute("SELECT count(*) FROM predictions").fetchone()[0]


def _machine_cpu_ticks() -> tuple[int, int] | None:
    """(busy, total) CPU ticks of the whole machine so far, from /proc/stat (Linux only)."""
    try:
        with open("/proc/stat") as stat:
            values = [int(v) for v in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = values[3] + values[4]  # idle, iowait
    return sum(values) - idle, sum(values)


def _process_tree_rss_mb(pid: int) -> tuple[float, int] | None:
    """Resident memory (MB) of a process and its descendants, and how many there are."""
    try:
        total, count, stack = 0, 0, [pid]
        while stack:
            current = stack.pop()
            with open(f"/proc/{current}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            count += 1
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    stack.extend(int(child) for child in children.read().split())
        return total / 1024, count
    except (OSError, ValueError):
        return None


@dataclass
class Tally:
    """What one client thread saw: latencies by kind, errors, predictions acknowledged."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    acknowledged: int = 0


class Client:
    """One client thread's session and the requests of the mix."""

    def __init__(self, base: str, token: str, index: int, batch: int) -> None:
        self.base = base
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.index = index
        self.batch = batch
        self.rng = random.Random(index)
        self.sent = 0
        self.benchmarks = 0

    def request(self, kind: str) -> requests.Response:
        if kind == "ingest":
            return self.session.post(
                f"{self.base}/models/load/versions/1/predictions",
                data=json.dumps(self._predictions()),
                headers={"Content-Type": "application/json"},
            )
        if kind == "read models":
            return self.session.get(f"{self.base}/models")
        if kind == "read version":
            return self.session.get(f"{self.base}/models/load/versions/1")
        if kind == "read audit page":
            return self.session.get(f"{self.base}/audit", params={"limit": 50})
        if kind == "write version":
            return self.session.post(
                f"{self.base}/models/load/versions", json={"features": FEATURES}
            )
        if kind == "write benchmark":
            self.benchmarks += 1
            return self.session.post(
                f"{self.base}/models/load/versions/1/benchmarks",
                json={
                    "name": f"holdout-{self.index}-{self.benchmarks}",
                    "metrics": {"accuracy": self.rng.random(), "f1": self.rng.random()},
                    "dataset_hash": uuid.uuid4().hex,
                },
            )
        if kind == "health":
            return self.session.get(f"{self.base}/health")
        raise ValueError(kind)

    def _predictions(self) -> dict:
        rng, size, start = self.rng, self.batch, self.sent
        self.sent += size
        features: dict[str, list] = {}
        for spec in FEATURES:
            if spec["kind"] == "numerical":
                features[spec["name"]] = [rng.gauss(0, 1) for _ in range(size)]
            else:
                features[spec["name"]] = [rng.choice(CATEGORIES) for _ in range(size)]
        now = time.time()
        return {
            "columns": {
                "prediction_id": [f"c{self.index}-{i}" for i in range(start, start + size)],
                "timestamp": [now] * size,
                "features": features,
                "prediction": [rng.randint(0, 1) for _ in range(size)],
                "score": [rng.random() for _ in range(size)],
            }
        }


def drive(base: str, token: str, clients: int, seconds: float, batch: int, kinds: list) -> list:
    """Run ``clients`` threads for ``seconds``, each drawing requests from ``kinds``."""
    names = [kind for kind, _ in kinds]
    weights = [weight for _, weight in kinds]
    tallies = [Tally() for _ in range(clients)]
    deadline = time.perf_counter() + seconds

    def run(index: int) -> None:
        client, tally = Client(base, token, index, batch), tallies[index]
        while time.perf_counter() < deadline:
            kind = client.rng.choices(names, weights)[0]
            started = time.perf_counter()
            try:
                response = client.request(kind)
            except requests.RequestException as exc:
                tally.errors.append(f"{kind}: {type(exc).__name__}")
                continue
            tally.latencies[kind].append(time.perf_counter() - started)
            if response.status_code >= 400:
                tally.errors.append(f"{kind}: {response.status_code} {response.text[:200]}")
            elif kind == "ingest":
                tally.acknowledged += response.json()["accepted"]
        client.session.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return tallies


def report(label: str, tallies: list, seconds: float) -> None:
    merged: dict[str, list[float]] = defaultdict(list)
    for tally in tallies:
        for kind, values in tally.latencies.items():
            merged[kind].extend(values)
    total = sum(len(values) for values in merged.values())
    print(f"{label}: {total / seconds:,.0f} requests/s over {seconds:.0f} s ({total:,} requests)")
    for kind, values in sorted(merged.items(), key=lambda item: -len(item[1])):
        values.sort()
        p50 = values[len(values) // 2] * 1000
        p99 = values[min(len(values) - 1, int(len(values) * 0.99))] * 1000
        print(
            f"  {kind:<16} {len(values) / seconds:>8,.1f} req/s   p50 {p50:>7.1f} ms   "
            f"p99 {p99:>7.1f} ms"
        )


def start_server(url: str, workdir: Path, port: int, workers: int, threads: int):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSAY_")}
    env.update(ASSAY_DATA_DIR=str(workdir / "data"), ASSAY_DATABASE_URL=url)
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "assay_server.cli", "run", "--port", str(port)),
            *("--workers", str(workers), "--threads", str(threads), "--no-scheduler"),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    token = None
    deadline = time.monotonic() + 120
    while token is None and time.monotonic() < deadline:
        line = server.stdout.readline()
        if not line and server.poll() is not None:
            raise SystemExit("the server exited before printing its admin token")
        found = re.search(r"asy_[0-9A-Za-z]{43}", line)
        token = found.group(0) if found else None
    threading.Thread(target=server.stdout.read, daemon=True).start()  # the access log
    base = f"http://127.0.0.1:{port}/api/v1"
    while True:
        try:
            if requests.get(f"{base}/ready", timeout=2).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    return server, base, token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the mix")
    parser.add_argument("--anchor-seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=16, help="client threads")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=8, help="threads per gunicorn worker")
    parser.add_argument("--batch", type=int, default=100, help="predictions per ingest POST")
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "ASSAY_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
        help="a PostgreSQL server: the benchmark makes a database of its own beside this one",
    )
    args = parser.parse_args()
    print(
        f"assay-server run --workers {args.workers} --threads {args.threads} --no-scheduler on "
        f"PostgreSQL; {args.clients} client threads on the same machine ({os.cpu_count()} CPUs)"
    )
    url, drop = _fresh_postgres(args.database_url)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            server, base, token = start_server(
                url, Path(tmp), _free_port(), args.workers, args.threads
            )
            try:
                run(args, url, server, base, token)
            finally:
                os.killpg(server.pid, signal.SIGTERM)
                server.wait(timeout=60)
    finally:
        drop()


def run(args, url: str, server, base: str, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    requests.post(
        f"{base}/models", json={"name": "load", "task": "binary_classification"}, headers=headers
    ).raise_for_status()
    requests.post(
        f"{base}/models/load/versions", json={"features": FEATURES}, headers=headers
    ).raise_for_status()

    anchor = drive(base, token, args.clients, args.anchor_seconds, args.batch, [("health", 1)])
    report("anchor, GET /health (no token, no database)", anchor, args.anchor_seconds)

    server_cpu = process_tree_cpu_s(server.pid)
    machine = _machine_cpu_ticks()
    client_cpu = time.process_time()
    started = time.perf_counter()
    tallies = drive(base, token, args.clients, args.seconds, args.batch, MIX)
    elapsed = time.perf_counter() - started
    client_cpu = time.process_time() - client_cpu
    server_after = process_tree_cpu_s(server.pid)
    machine_after = _machine_cpu_ticks()
    report(f"the mix ({', '.join(f'{k} {w}%' for k, w in MIX)})", tallies, args.seconds)
    if machine is not None and machine_after is not None:
        busy = (machine_after[0] - machine[0]) / max(1, machine_after[1] - machine[1])
        print(f"the machine's CPUs were {busy:.0%} busy over the mix (everything on it)")
    print(
        "machine load average (1, 5, 15 min) after the mix: "
        + ", ".join(f"{value:.1f}" for value in os.getloadavg())
    )

    errors = [error for tally in tallies + anchor for error in tally.errors]
    acknowledged = sum(tally.acknowledged for tally in tallies)
    stored = _stored_predictions(url)
    print(f"errors: {len(errors)}" + (f" (first: {errors[0]})" if errors else ""))
    print(
        f"predictions: {acknowledged:,} acknowledged, {stored:,} stored "
        f"({'equal' if stored == acknowledged else 'DIFFERENT'}); "
        f"{acknowledged / elapsed:,.0f} rows/s"
    )
    if server_cpu is not None and server_after is not None:
        print(
            f"CPU over the mix: server {(server_after - server_cpu) / elapsed:.2f} cores "
            f"(gunicorn and its workers, not PostgreSQL), clients {client_cpu / elapsed:.2f} cores"
        )
    memory = _process_tree_rss_mb(server.pid)
    if memory is not None:
        print(f"server memory after the mix: {memory[0]:,.0f} MB resident in {memory[1]} processes")
    public_key = requests.get(f"{base}/audit/public-key", timeout=30).json()["public_key"]
    export = requests.get(f"{base}/audit/export", headers=headers, timeout=600)
    export.raise_for_status()
    check = verify_export_lines(export.text.splitlines(), public_keys=[public_key])
    print(f"audit trail: {'verifies' if check.ok else 'BROKEN'} ({check.message})")
    if errors or stored != acknowledged or not check.ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
