"""Benchmark: one drift + data-quality + bias monitor run, end to end, on a 1,000,000-row window.

    python tests/bench/monitor_run.py [--rows 1000000]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Fills a fresh store through ingest_batch (1,000-row batches of 20 features, 15 numerical and
5 categorical, with a sensitive attribute of 3 groups and labels), registers a 10,000-row
reference, then in a fresh process claims and executes a run the way the scheduler does
(read the window from the store, compute, store the reports and the audit event). Prints the
seconds and the peak memory that process added, once with the default
ASSAY_MAX_WINDOW_ROWS (200,000: the window is sampled) and once with the whole window.
The anchor in the same process is the bare window read (`read_window`) the run starts with.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest_throughput import CATEGORIES, FEATURES, _batch, _fresh_postgres

GROUPS = ["a", "b", "c"]


def _context(url: str | None, workdir: str, max_window_rows: int = 200_000):
    from assay_server.db import Database
    from assay_server.roles import Actor
    from assay_server.settings import Settings
    from assay_server.wiring import wire

    settings = Settings(
        data_dir=workdir,
        database_url=url or "",
        max_batch_rows=10_000,
        max_window_rows=max_window_rows,
    )
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


def fill(url: str | None, workdir: str, rows: int) -> None:
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
                "checks": ["drift", "data_quality", "bias"],
                "window": {"hours": 24 * 365},
                "schedule": None,
                "sensitive_features": ["group"],
            },
        )
    rng = random.Random(3)
    started = time.perf_counter()
    for start in range(0, rows, 1000):
        document = _batch(rng, start, 1000, "m")
        columns = document["columns"]
        columns["sensitive"] = {"group": [rng.choice(GROUPS) for _ in range(1000)]}
        columns["label"] = [rng.randint(0, 1) for _ in range(1000)]
        with database.unit_of_work() as session:
            ingest_batch(database, session, ctx, "bench", 1, document)
    print(f"filled {rows:,} rows in {time.perf_counter() - started:.1f} s")
    database.dispose()


def run(url: str | None, workdir: str, max_window_rows: int) -> None:
    from assay_server.ingest.window import read_window
    from assay_server.monitoring.runner import MonitorRunner
    from assay_server.roles import Actor

    database, ctx = _context(url, workdir, max_window_rows)
    import pandas  # noqa: F401  (imported before the baseline: not part of the run)
    import pyarrow  # noqa: F401
    import scipy.stats  # noqa: F401

    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    runner = MonitorRunner(database, ctx)
    started = time.perf_counter()
    run_id = runner.request("bench", 1, actor=Actor.cli("bench"), wait=True)
    status = runner.execute(run_id)
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    finished = runner.load(run_id)
    started = time.perf_counter()  # the anchor, after the peak was read
    with database.unit_of_work(write=False) as session:
        rows = len(read_window(session, 1))
    read_seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "rows": rows,
                "rows_used": finished.rows_used,
                "status": status,
                "statuses": finished.statuses,
                "error": finished.error,
                "seconds": elapsed,
                "read_seconds": read_seconds,
                "peak_added_mb": max(0, peak - baseline) / 1024,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument(
        "--run", nargs=3, metavar=("URL", "WORKDIR", "MAX_ROWS"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.run:
        url, workdir, max_rows = args.run
        run(None if url == "-" else url, workdir, int(max_rows))
        return
    url, drop = args.database_url, None
    if url:
        url, drop = _fresh_postgres(url)
    results = []
    try:
        with tempfile.TemporaryDirectory() as workdir:
            fill(url, workdir, args.rows)
            for max_rows in (200_000, args.rows):
                done = subprocess.run(
                    [sys.executable, __file__, "--run", url or "-", workdir, str(max_rows)],
                    check=True,
                    capture_output=True,
                    text=True,
                )
                results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    finally:
        if drop:
            drop()
    store = "postgresql" if url else "sqlite"
    print(f"store: {store}; window of {results[0]['rows']:,} rows x 20 features, 3 groups")
    for figures in results:
        print(
            f"drift+quality+bias run on {figures['rows_used']:,} rows "
            f"({'sampled' if figures['rows_used'] < figures['rows'] else 'whole window'}): "
            f"{figures['seconds']:.2f} s, peak memory added {figures['peak_added_mb']:.0f} MB; "
            f"status {figures['status']} {figures['statuses']}"
            + (f" error {figures['error']}" if figures["error"] else "")
        )
    print(f"anchor, the bare read_window of the same window: {results[0]['read_seconds']:.2f} s")


if __name__ == "__main__":
    main()
