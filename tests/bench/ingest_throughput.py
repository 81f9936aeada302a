"""Benchmark: server ingest throughput against the database's raw insert ceiling.

    python tests/bench/ingest_throughput.py [--rows 200000] [--senders 4] [--batch 1000]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]
        [--threads 8] [--rounds 1] [--workers 1 2]

Starts one `assay-server run` process (gunicorn, 1 worker unless `--workers` says otherwise,
`--threads` threads: 8, the server's default) on a loopback port with a fresh store, registers
a version with 20 features (15 numerical, 5 categorical), and has `--senders` threads POST
column-wise JSON batches (the SDK's format; bodies encoded before the clock starts). In the
same run it measures the raw ceiling of the same database: `executemany` of the same rows, one
transaction per batch, into a plain table with one column per field and a unique index on the
prediction id. Prints both, the ratio, and where the server's time went (its CPU per batch,
Linux only). With `--rounds N` it measures the pair N times, each in fresh stores, and prints
the median ratio: on a shared machine the two halves of one round can see different loads. With
`--workers 1 2` each round measures the API with one gunicorn worker and then two (scale-out on
one host: two processes on the one database must not be slower than one).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import requests

FEATURES = [{"name": f"n{i}", "kind": "numerical"} for i in range(15)] + [
    {"name": f"c{i}", "kind": "categorical"} for i in range(5)
]
CATEGORIES = ["red", "green", "blue", "amber", "violet"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


#: Rows are stamped from two days ago (the server refuses rows older than its backfill window).
SENT_FROM = float(int(time.time()) - 2 * 86_400)


def _batch(rng: random.Random, start: int, size: int, run: str) -> dict:
    columns = {
        "prediction_id": [f"{run}-{i}" for i in range(start, start + size)],
        "timestamp": [SENT_FROM + i / 100 for i in range(start, start + size)],
        "features": {},
        "prediction": [rng.randint(0, 1) for _ in range(size)],
        "score": [rng.random() for _ in range(size)],
    }
    for spec in FEATURES:
        if spec["kind"] == "numerical":
            columns["features"][spec["name"]] = [rng.gauss(0, 1) for _ in range(size)]
        else:
            columns["features"][spec["name"]] = [rng.choice(CATEGORIES) for _ in range(size)]
    return {"columns": columns}


def _rows(batch: dict) -> list[tuple]:
    c = batch["columns"]
    names = [f["name"] for f in FEATURES]
    return [
        (
            c["prediction_id"][i],
            c["timestamp"][i],
            *(c["features"][n][i] for n in names),
            c["prediction"][i],
            c["score"][i],
        )
        for i in range(len(c["prediction_id"]))
    ]


def raw_ceiling(url: str | None, workdir: Path, batches: list[dict]) -> float:
    """Rows/s of executemany of the same rows, one transaction per batch."""
    names = [f["name"] for f in FEATURES]
    cols = ", ".join(f"{n} {'DOUBLE PRECISION' if n.startswith('n') else 'TEXT'}" for n in names)
    ddl = (
        f"CREATE TABLE raw_predictions (id SERIAL PRIMARY KEY, prediction_id TEXT, "
        f"ts DOUBLE PRECISION, {cols}, prediction INTEGER, score DOUBLE PRECISION)"
    )
    index = "CREATE UNIQUE INDEX uq_raw ON raw_predictions (prediction_id)"
    marks = ", ".join(["{p}"] * (len(names) + 4))
    insert = (
        f"INSERT INTO raw_predictions (prediction_id, ts, {', '.join(names)}, "
        f"prediction, score) VALUES ({marks})"
    )
    rows = [_rows(b) for b in batches]
    if url is None:
        connection = sqlite3.connect(workdir / "raw.db", isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute(ddl.replace("SERIAL", "INTEGER"))
        connection.execute(index)
        statement = insert.format(p="?")
        started = time.perf_counter()
        for batch_rows in rows:
            connection.execute("BEGIN")
            connection.executemany(statement, batch_rows)
            connection.execute("COMMIT")
        elapsed = time.perf_counter() - started
        connection.close()
    else:
        import psycopg

        dsn = url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(ddl)
            connection.execute(index)
            statement = insert.format(p="%s")
            started = time.perf_counter()
            for batch_rows in rows:
                with connection.transaction(), connection.cursor() as cursor:
                    cursor.executemany(statement, batch_rows)
            elapsed = time.perf_counter() - started
    return sum(len(r) for r in rows) / elapsed


def _fresh_postgres(base: str) -> tuple[str, callable]:
    import psycopg

    dsn = base.replace("postgresql+psycopg://", "postgresql://")
    name = f"assay_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return base.rsplit("/", 1)[0] + "/" + name, drop


def process_tree_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds used so far by a process and its descendants (Linux only)."""
    try:
        ticks, stack = 0, [pid]
        while stack:
            current = stack.pop()
            with open(f"/proc/{current}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    stack.extend(int(child) for child in children.read().split())
        return ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return None


def ingest_rate(
    bodies: list[bytes],
    rows: int,
    senders: int,
    threads: int,
    database_url: str | None,
    workers: int = 1,
) -> tuple[float, str]:
    """Rows/s through one fresh `assay-server run` process with ``senders`` concurrent POSTers,
    and where the time went (CPU of the server and of the senders per batch, and wall)."""
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("ASSAY_")}
        env["ASSAY_DATA_DIR"] = str(workdir / "data")
        drop = None
        if database_url:
            url, drop = _fresh_postgres(database_url)
            env["ASSAY_DATABASE_URL"] = url
        port = _free_port()
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "assay_server.cli",
                "run",
                "--port",
                str(port),
                "--workers",
                str(workers),
                "--threads",
                str(threads),
                "--no-scheduler",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            token = None
            deadline = time.monotonic() + 60
            while token is None and time.monotonic() < deadline:
                line = server.stdout.readline()
                found = re.search(r"asy_[0-9A-Za-z]{43}", line)
                token = found.group(0) if found else None
            threading.Thread(target=server.stdout.read, daemon=True).start()
            base = f"http://127.0.0.1:{port}/api/v1"
            headers = {"Authorization": f"Bearer {token}"}
            while True:
                try:
                    requests.get(f"{base}/health", timeout=1)
                    break
                except requests.ConnectionError:
                    time.sleep(0.2)
            requests.post(
                f"{base}/models",
                json={"name": "bench", "task": "binary_classification"},
                headers=headers,
            ).raise_for_status()
            requests.post(
                f"{base}/models/bench/versions", json={"features": FEATURES}, headers=headers
            ).raise_for_status()
            url = f"{base}/models/bench/versions/1/predictions"
            send_headers = {**headers, "Content-Type": "application/json"}
            accepted = [0] * senders

            def sender(index: int) -> None:
                with requests.Session() as session:
                    for body in bodies[index::senders]:
                        response = session.post(url, data=body, headers=send_headers)
                        response.raise_for_status()
                        accepted[index] += response.json()["accepted"]

            threads_ = [threading.Thread(target=sender, args=(i,)) for i in range(senders)]
            server_cpu_before = process_tree_cpu_s(server.pid)
            client_cpu_before = time.process_time()
            started = time.perf_counter()
            for thread in threads_:
                thread.start()
            for thread in threads_:
                thread.join()
            elapsed = time.perf_counter() - started
            client_cpu = time.process_time() - client_cpu_before
            server_cpu_after = process_tree_cpu_s(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=30)
            if drop is not None:
                drop()
    assert sum(accepted) == rows, accepted
    per_batch = 1000 / len(bodies)
    server_cpu = (
        f"{(server_cpu_after - server_cpu_before) * per_batch:.1f} ms"
        if server_cpu_before is not None and server_cpu_after is not None
        else "n/a"
    )
    costs = (
        f"per batch: server CPU {server_cpu}, senders' CPU {client_cpu * per_batch:.1f} ms, "
        f"wall {elapsed * per_batch:.1f} ms"
    )
    return sum(accepted) / elapsed, costs


def ceiling_rate(batches: list[dict], database_url: str | None) -> float:
    """The raw ceiling in a fresh database (a new SQLite file, or a new PostgreSQL database)."""
    with tempfile.TemporaryDirectory() as tmp:
        if database_url is None:
            return raw_ceiling(None, Path(tmp), batches)
        url, drop = _fresh_postgres(database_url)
        try:
            return raw_ceiling(url, Path(tmp), batches)
        finally:
            drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument(
        "--threads", type=int, default=8, help="gunicorn threads of the one server process"
    )
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1],
        help="gunicorn workers of the server: one figure per count, e.g. --workers 1 2",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure ingest then ceiling this many times (fresh stores each round); "
        "on a shared machine the median ratio is the figure to read",
    )
    args = parser.parse_args()
    rng = random.Random(7)
    store = "postgresql" if args.database_url else "sqlite"
    print(
        f"store: {store}; {args.rows:,} rows of 20 features, {args.batch}-row batches, "
        f"{args.senders} senders, gunicorn workers {args.workers} ({args.threads} threads each)"
    )
    ratios: dict[int, list[float]] = {count: [] for count in args.workers}
    for round_ in range(1, args.rounds + 1):
        run = uuid.uuid4().hex[:6]  # fresh ids each round
        batches = [_batch(rng, start, args.batch, run) for start in range(0, args.rows, args.batch)]
        bodies = [json.dumps(b).encode() for b in batches]
        rates = {
            count: ingest_rate(
                bodies, args.rows, args.senders, args.threads, args.database_url, count
            )
            for count in args.workers
        }
        ceiling = ceiling_rate(batches, args.database_url)
        prefix = f"round {round_}: " if args.rounds > 1 else ""
        print(
            f"{prefix}raw executemany ceiling (same rows, same database): {ceiling:>10,.0f} rows/s"
        )
        for count, (ingest, costs) in rates.items():
            ratios[count].append(ingest / ceiling)
            label = f"ingest through the API, {count} worker{'s' if count > 1 else ''}:"
            print(f"{prefix}{label:<53}{ingest:>10,.0f} rows/s")
            print(f"{prefix}  ratio: {ingest / ceiling:.0%} of the raw ceiling; {costs}")
    if args.rounds > 1:
        for count, measured in ratios.items():
            print(
                f"{count} worker(s): median ratio over {args.rounds} rounds: "
                f"{statistics.median(measured):.0%} (min {min(measured):.0%}, "
                f"max {max(measured):.0%})"
            )


if __name__ == "__main__":
    main()
