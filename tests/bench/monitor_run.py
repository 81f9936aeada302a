"""Benchmark: one drift + data-quality + bias + performance monitor run, end to end, on a
labelled window of any size, with its peak memory.

    python tests/bench/monitor_run.py [--rows 1000000]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Fills a fresh store through ingest_batch (10,000-row batches of 20 features, 15 numerical and
5 categorical, with a sensitive attribute of 3 groups and a label on every row, values drawn
with numpy), registers a 10,000-row reference, then in a fresh process claims and executes a
run the way the scheduler does (stream the window, count every row, sample for drift, store
the reports and the audit event) with the default ASSAY_MAX_WINDOW_ROWS (200,000: the drift
sample). Prints its seconds, the process's peak resident memory (and what the run added to
it), and the bytes the store holds per prediction (database + blobs). The anchor, in the same
process after the run, is the physical read of the same window: every Arrow block of it
selected and decoded into pandas part by part, nothing joined or counted.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest_throughput import CATEGORIES, FEATURES, _fresh_postgres

GROUPS = ["a", "b", "c"]
BATCH = 10_000
CHECKS = ["drift", "data_quality", "bias", "performance"]


def _context(url: str | None, workdir: str):
    from assay_server.db import Database
    from assay_server.roles import Actor
    from assay_server.settings import Settings
    from assay_server.wiring import wire

    settings = Settings(data_dir=workdir, database_url=url or "", max_batch_rows=BATCH)
    return Database.from_settings(settings), wire().context(Actor.cli("bench"), settings)


def _reference_csv(rows: int) -> bytes:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(11)
    frame = pd.DataFrame(
        {
            f["name"]: rng.normal(0, 1, rows)
            if f["kind"] == "numerical"
            else rng.choice(CATEGORIES, rows)
            for f in FEATURES
        }
    )
    frame["target"] = rng.integers(0, 2, rows)
    return frame.to_csv(index=False).encode()


def _batch(rng, start: int, size: int, first_ts: float, spacing: float) -> dict:
    import numpy as np

    score = rng.random(size)
    columns = {
        "prediction_id": [f"m-{i}" for i in range(start, start + size)],
        "timestamp": (first_ts + np.arange(start, start + size) * spacing).tolist(),
        "features": {
            f["name"]: rng.normal(0.1, 1, size).tolist()
            if f["kind"] == "numerical"
            else rng.choice(CATEGORIES, size).tolist()
            for f in FEATURES
        },
        "prediction": (score >= 0.5).astype(int).tolist(),
        "score": score.tolist(),
        "sensitive": {"group": rng.choice(GROUPS, size).tolist()},
        "label": (rng.random(size) < score).astype(int).tolist(),
    }
    return {"columns": columns}


def fill(url: str | None, workdir: str, rows: int) -> None:
    import numpy as np

    from assay_server.ingest.service import ingest_batch
    from assay_server.migrate import upgrade
    from assay_server.monitoring.service import MonitorService
    from assay_server.registry.service import RegistryService, Upload, VersionSpec

    database, ctx = _context(url, workdir)
    upgrade(database.engine)
    with database.unit_of_work() as session:
        registry = RegistryService(session, ctx)
        registry.create_model(name="bench", task="binary_classification")
        registry.register_version(
            "bench",
            VersionSpec(features=FEATURES, target="target"),
            reference_data=Upload(io.BytesIO(_reference_csv(10_000)), "reference.csv"),
        )
        MonitorService(session, ctx).create(
            "bench",
            {
                "checks": CHECKS,
                "window": {"hours": 48},
                "schedule": None,
                "sensitive_features": ["group"],
                "options": {"min_group_count": 30},
            },
        )
    rng = np.random.default_rng(3)
    # the rows span the last 23 hours, oldest first, as a day of serving would
    spacing = 23 * 3600 / rows
    first_ts = time.time() - 23 * 3600 - 60
    started = time.perf_counter()
    for start in range(0, rows, BATCH):
        document = _batch(rng, start, min(BATCH, rows - start), first_ts, spacing)
        with database.unit_of_work() as session:
            result = ingest_batch(database, session, ctx, "bench", 1, document)
        assert result.accepted == min(BATCH, rows - start), result
    print(f"filled {rows:,} rows in {time.perf_counter() - started:.1f} s", flush=True)
    database.dispose()


def _stored_bytes(url: str | None, workdir: str) -> int:
    """The database's size (after a checkpoint) plus every blob in the data directory."""
    from sqlalchemy import create_engine, text

    blobs = sum(p.stat().st_size for p in Path(workdir).rglob("*") if p.is_file())
    if url:
        engine = create_engine(url)
        with engine.connect() as connection:
            connection.execute(text("CHECKPOINT"))
            size = connection.execute(text("SELECT pg_database_size(current_database())"))
            database = int(size.scalar_one())
        engine.dispose()
        return database + blobs
    return blobs  # the SQLite file (and its WAL) is in the data directory


def _physical_read(database, version_id: int) -> tuple[int, float]:
    """Every block of the window, selected and decoded into pandas a part at a time."""
    from sqlalchemy import select

    from assay_server.ingest.blocks import concat_blocks, decode_block
    from assay_server.ingest.models import PredictionBatch

    started = time.perf_counter()
    rows, after = 0, 0
    with database.unit_of_work(write=False) as session:
        connection = session.connection()
        binary = connection.dialect.name == "postgresql"  # bytea without the hex text form
        while True:
            if binary:
                cursor = connection.connection.cursor(binary=True)
                cursor.execute(
                    "SELECT id, block FROM prediction_batches WHERE version_id = %s AND id > %s"
                    " ORDER BY id LIMIT 25",
                    (version_id, after),
                )
                blocks = cursor.fetchall()
                cursor.close()
            else:
                blocks = session.execute(
                    select(PredictionBatch.id, PredictionBatch.block)
                    .where(PredictionBatch.version_id == version_id, PredictionBatch.id > after)
                    .order_by(PredictionBatch.id)
                    .limit(25)
                ).all()
            if not blocks:
                break
            after = blocks[-1][0]
            table = concat_blocks(decode_block(block) for _, block in blocks)
            frame = table.to_pandas(split_blocks=True)  # no copy into 2-D blocks
            rows += len(frame)
    return rows, time.perf_counter() - started


def _cpu() -> float:
    """This process's CPU seconds (user + system): on a shared machine, what the wall
    clock would show were the cores its own (SQLite runs in the process; PostgreSQL's
    share is not in it)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(url: str | None, workdir: str) -> None:
    from assay_server.monitoring.runner import MonitorRunner
    from assay_server.roles import Actor

    database, ctx = _context(url, workdir)
    import pandas  # noqa: F401  (imported before the baseline: not part of the run)
    import pyarrow  # noqa: F401
    import scipy.stats  # noqa: F401
    import sklearn.isotonic  # noqa: F401

    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    runner = MonitorRunner(database, ctx)
    cpu = _cpu()
    started = time.perf_counter()
    run_id = runner.request("bench", 1, actor=Actor.cli("bench"), wait=True)
    status = runner.execute(run_id)
    elapsed = time.perf_counter() - started
    cpu = _cpu() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    finished = runner.load(run_id)
    read_cpu = _cpu()
    rows, read_seconds = _physical_read(database, 1)
    read_cpu = _cpu() - read_cpu
    print(
        json.dumps(
            {
                "rows": finished.rows_total,
                "rows_read": rows,
                "rows_used": finished.rows_used,
                "status": status,
                "statuses": finished.statuses,
                "error": finished.error,
                "seconds": elapsed,
                "cpu_seconds": cpu,
                "read_seconds": read_seconds,
                "read_cpu_seconds": read_cpu,
                "peak_mb": peak / 1024,
                "peak_added_mb": max(0, peak - baseline) / 1024,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--run", nargs=2, metavar=("URL", "WORKDIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        url, workdir = args.run
        run(None if url == "-" else url, workdir)
        return
    url, drop = args.database_url, None
    if url:
        url, drop = _fresh_postgres(url)
    try:
        with tempfile.TemporaryDirectory() as workdir:
            fill(url, workdir, args.rows)
            stored = _stored_bytes(url, workdir)
            done = subprocess.run(
                [sys.executable, __file__, "--run", url or "-", workdir],
                check=True,
                capture_output=True,
                text=True,
                env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
            )
            figures = json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        if drop:
            drop()
    store = "postgresql" if url else "sqlite"
    print(f"store: {store}; window of {figures['rows']:,} labelled rows x 20 features, 3 groups")
    print(f"stored: {stored / args.rows:,.0f} bytes per prediction (database + blobs)")
    print(
        f"{'+'.join(CHECKS)} run: {figures['seconds']:.2f} s ({figures['cpu_seconds']:.2f} s "
        f"of CPU), peak RSS "
        f"{figures['peak_mb']:,.0f} MB (the run added {figures['peak_added_mb']:,.0f} MB); "
        f"drift on {figures['rows_used']:,} sampled rows, the rest on all {figures['rows']:,}; "
        f"status {figures['status']} {figures['statuses']}"
        + (f" error {figures['error']}" if figures["error"] else "")
    )
    print(
        f"anchor, the physical read of the same {figures['rows_read']:,} rows (blocks decoded "
        f"into pandas part by part, no joins): {figures['read_seconds']:.2f} s "
        f"({figures['read_cpu_seconds']:.2f} s of CPU); the run is "
        f"{figures['seconds'] / figures['read_seconds']:.1f}x it "
        f"({figures['cpu_seconds'] / figures['read_cpu_seconds']:.1f}x in CPU)"
    )


if __name__ == "__main__":
    main()
