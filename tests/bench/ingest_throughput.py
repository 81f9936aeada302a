"""Benchmark: server ingest throughput against the database's raw insert ceiling.

    python tests/bench/ingest_throughput.py [--rows 200000] [--senders 4] [--batch 1000]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Starts one `assay-server run` process (gunicorn, 1 worker, 8 threads) on a loopback port with
a fresh store, registers a version with 20 features (15 numerical, 5 categorical), and has
`--senders` threads POST column-wise JSON batches (the SDK's format; bodies encoded before
the clock starts). In the same run it measures the raw ceiling of the same database:
`executemany` of the same rows, one transaction per batch, into a plain table with one column
per field and a unique index on the prediction id. Prints both and the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import socket
import sqlite3
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


def _batch(rng: random.Random, start: int, size: int, run: str) -> dict:
    columns = {
        "prediction_id": [f"{run}-{i}" for i in range(start, start + size)],
        "timestamp": [1_795_000_000.0 + i / 100 for i in range(start, start + size)],
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    rng = random.Random(7)
    run = uuid.uuid4().hex[:6]
    batches = [_batch(rng, start, args.batch, run) for start in range(0, args.rows, args.batch)]
    bodies = [json.dumps(b).encode() for b in batches]

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("ASSAY_")}
        env["ASSAY_DATA_DIR"] = str(workdir / "data")
        drops = []
        if args.database_url:
            url, drop = _fresh_postgres(args.database_url)
            drops.append(drop)
            env["ASSAY_DATABASE_URL"] = url
            raw_url, raw_drop = _fresh_postgres(args.database_url)
            drops.append(raw_drop)
        else:
            raw_url = None
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
                "1",
                "--threads",
                "8",
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
            accepted = [0] * args.senders

            def sender(index: int) -> None:
                with requests.Session() as session:
                    for body in bodies[index :: args.senders]:
                        response = session.post(url, data=body, headers=send_headers)
                        response.raise_for_status()
                        accepted[index] += response.json()["accepted"]

            threads = [threading.Thread(target=sender, args=(i,)) for i in range(args.senders)]
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - started
        finally:
            server.terminate()
            server.wait(timeout=30)
        ingest_rate = sum(accepted) / elapsed
        assert sum(accepted) == args.rows, accepted
        ceiling = raw_ceiling(raw_url, workdir, batches)
        for drop in drops:
            drop()
    store = "postgresql" if args.database_url else "sqlite"
    print(
        f"store: {store}; {args.rows:,} rows of 20 features, {args.batch}-row batches, "
        f"{args.senders} senders, one server process"
    )
    print(f"raw executemany ceiling (same rows, same database): {ceiling:>10,.0f} rows/s")
    print(f"ingest through the API:                             {ingest_rate:>10,.0f} rows/s")
    print(f"ratio: {ingest_rate / ceiling:.0%} of the raw ceiling")


if __name__ == "__main__":
    main()
