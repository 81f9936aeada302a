"""Benchmark: reading a 1,000,000-row window of 20-feature predictions into pandas.

    python tests/bench/read_window.py [--rows 1000000]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Fills a fresh store through ingest_batch (1,000-row batches, the path the API takes), then
reads the whole window back with `ingest.window.read_window` in a fresh process, printing the
seconds and the peak memory that process added. The anchor, in the same run, is the naive
storage's read: `json.loads` of one JSON text per row (timed on 100,000 rows, scaled).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest_throughput import FEATURES, _batch


def _store(url: str | None, workdir: str):
    from assay_server.db import Database
    from assay_server.roles import Actor
    from assay_server.settings import Settings
    from assay_server.wiring import wire

    settings = Settings(data_dir=workdir, database_url=url or "", max_batch_rows=10_000)
    return Database.from_settings(settings), wire().context(Actor.cli("bench"), settings)


def fill(url: str | None, workdir: str, rows: int) -> int:
    from assay_server.ingest.service import ingest_batch
    from assay_server.migrate import upgrade
    from assay_server.registry.service import RegistryService, VersionSpec

    database, ctx = _store(url, workdir)
    upgrade(database.engine)
    with database.unit_of_work() as session:
        registry = RegistryService(session, ctx)
        registry.create_model(name="bench", task="binary_classification")
        version_id = registry.register_version("bench", VersionSpec(features=FEATURES)).id
    rng = random.Random(3)
    started = time.perf_counter()
    for start in range(0, rows, 1000):
        document = _batch(rng, start, 1000, "w")
        with database.unit_of_work() as session:
            ingest_batch(database, session, ctx, "bench", 1, document)
    print(f"filled {rows:,} rows in {time.perf_counter() - started:.1f} s")
    database.dispose()
    return version_id


def read(url: str | None, workdir: str, version_id: int) -> None:
    from assay_server.ingest.window import read_window

    database, _ctx = _store(url, workdir)
    import pandas  # noqa: F401  (imported before the baseline: not part of the read)
    import pyarrow  # noqa: F401

    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    with database.unit_of_work(write=False) as session:
        window = read_window(session, version_id)
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    size = window.frame.memory_usage(deep=True).sum()
    print(
        json.dumps(
            {
                "rows": len(window),
                "seconds": elapsed,
                "peak_added_mb": (peak - baseline) / 1024,
                "frame_mb": size / 1e6,
            }
        )
    )


def anchor(rows: int) -> float:
    rng = random.Random(5)
    sample = 100_000
    texts = [
        json.dumps(
            {f["name"]: rng.gauss(0, 1) if f["kind"] == "numerical" else "red" for f in FEATURES}
        )
        for _ in range(sample)
    ]
    started = time.perf_counter()
    for text in texts:
        json.loads(text)
    return (time.perf_counter() - started) * rows / sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument(
        "--read", nargs=3, metavar=("URL", "WORKDIR", "VERSION_ID"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.read:
        url, workdir, version_id = args.read
        read(None if url == "-" else url, workdir, int(version_id))
        return
    url, drop = args.database_url, None
    if url:
        import psycopg

        dsn = url.replace("postgresql+psycopg://", "postgresql://")
        name = f"assay_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        url = url.rsplit("/", 1)[0] + "/" + name

        def drop() -> None:
            with psycopg.connect(dsn, autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    try:
        with tempfile.TemporaryDirectory() as workdir:
            version_id = fill(url, workdir, args.rows)
            result = subprocess.run(
                [sys.executable, __file__, "--read", url or "-", workdir, str(version_id)],
                check=True,
                capture_output=True,
                text=True,
            )
            figures = json.loads(result.stdout.strip().splitlines()[-1])
    finally:
        if drop:
            drop()
    naive = anchor(args.rows)
    store = "postgresql" if url else "sqlite"
    print(f"store: {store}; window of {figures['rows']:,} rows x 20 features")
    print(
        f"read_window into pandas: {figures['seconds']:.2f} s, peak memory added "
        f"{figures['peak_added_mb']:.0f} MB (the DataFrame itself: {figures['frame_mb']:.0f} MB)"
    )
    print(
        f"anchor, json.loads of one text per row (no database): {naive:.2f} s "
        f"= {naive / figures['seconds']:.1f}x the window read"
    )


if __name__ == "__main__":
    main()
