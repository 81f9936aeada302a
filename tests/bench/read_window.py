"""Benchmark: reading a 1,000,000-row window of 20-feature predictions into pandas.

    python tests/bench/read_window.py [--rows 1000000] [--labelled]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Fills a fresh store through ingest_batch (1,000-row batches, the path the API takes; with
``--labelled`` every row carries a label), then reads the whole window back, each way in a
fresh process, printing the seconds and the peak memory that process added:

- ``read_window``: the whole window as one DataFrame;
- ``stream_window``: the same rows part by part (of ``ROWS_PER_BLOCK`` rows), as monitor
  runs read them; each part dropped before the next;
- the anchor, the physical limit: the same Arrow blocks selected from the store and decoded
  with pyarrow into one pandas DataFrame, no labels joined, no rows filtered.

A second anchor, kept from the first version of this benchmark, is the naive storage's read:
``json.loads`` of one JSON text per row (timed on 100,000 rows, scaled).
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


def fill(url: str | None, workdir: str, rows: int, labelled: bool) -> int:
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
        if labelled:
            document["columns"]["label"] = [rng.randint(0, 1) for _ in range(1000)]
        with database.unit_of_work() as session:
            ingest_batch(database, session, ctx, "bench", 1, document)
    print(f"filled {rows:,} rows in {time.perf_counter() - started:.1f} s")
    database.dispose()
    return version_id


def read(url: str | None, workdir: str, version_id: int, how: str) -> None:
    from sqlalchemy import select

    from assay_server.ingest.blocks import concat_blocks, decode_block
    from assay_server.ingest.models import PredictionBatch
    from assay_server.ingest.window import ROWS_PER_BLOCK, read_window, stream_window

    database, _ctx = _store(url, workdir)
    import pandas  # noqa: F401  (imported before the baseline: not part of the read)
    import pyarrow  # noqa: F401

    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime
    started = time.perf_counter()
    frame_mb = None
    with database.unit_of_work(write=False) as session:
        if how == "read_window":
            window = read_window(session, version_id)
            rows = len(window)
            frame_mb = window.frame.memory_usage(deep=True).sum() / 1e6
        elif how == "stream_window":
            rows = 0
            for part in stream_window(session, version_id, max_rows=ROWS_PER_BLOCK):
                rows += len(part)
        else:  # the physical limit: the blocks, decoded, nothing joined
            connection = session.connection()
            if connection.dialect.name == "postgresql":  # bytea without the hex text form
                cursor = connection.connection.cursor(binary=True)
                cursor.execute(
                    "SELECT block FROM prediction_batches WHERE version_id = %s ORDER BY id",
                    (version_id,),
                )
                blocks = [block for (block,) in cursor.fetchall()]
                cursor.close()
            else:
                blocks = session.scalars(
                    select(PredictionBatch.block)
                    .where(PredictionBatch.version_id == version_id)
                    .order_by(PredictionBatch.id)
                ).all()
            table = concat_blocks(decode_block(block) for block in blocks)
            frame = table.to_pandas(split_blocks=True)  # no copy into 2-D blocks
            rows = len(frame)
    elapsed = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime - cpu
    peak = usage.ru_maxrss
    print(
        json.dumps(
            {
                "rows": rows,
                "seconds": elapsed,
                "cpu_seconds": cpu,
                "peak_added_mb": (peak - baseline) / 1024,
                "frame_mb": frame_mb,
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
    parser.add_argument("--labelled", action="store_true", help="a label on every row")
    parser.add_argument(
        "--read", nargs=4, metavar=("URL", "WORKDIR", "VERSION_ID", "HOW"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.read:
        url, workdir, version_id, how = args.read
        read(None if url == "-" else url, workdir, int(version_id), how)
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

    figures = {}
    try:
        with tempfile.TemporaryDirectory() as workdir:
            version_id = fill(url, workdir, args.rows, args.labelled)
            for how in ("physical", "read_window", "stream_window"):
                result = subprocess.run(
                    [sys.executable, __file__, "--read", url or "-", workdir, str(version_id), how],
                    check=True,
                    capture_output=True,
                    text=True,
                )
                figures[how] = json.loads(result.stdout.strip().splitlines()[-1])
    finally:
        if drop:
            drop()
    naive = anchor(args.rows)
    store = "postgresql" if url else "sqlite"
    limit = figures["physical"]
    kind = "labelled rows" if args.labelled else "rows"
    print(f"store: {store}; window of {limit['rows']:,} {kind} x 20 features")
    print(
        f"anchor, the physical limit (the same Arrow blocks into pandas, no joins): "
        f"{limit['seconds']:.2f} s ({limit['cpu_seconds']:.2f} s of CPU), peak memory added "
        f"{limit['peak_added_mb']:.0f} MB"
    )
    for how in ("read_window", "stream_window"):
        got = figures[how]
        assert got["rows"] == limit["rows"], (how, got["rows"], limit["rows"])
        frame = f" (the DataFrame itself: {got['frame_mb']:.0f} MB)" if got["frame_mb"] else ""
        print(
            f"{how} into pandas: {got['seconds']:.2f} s = {got['seconds'] / limit['seconds']:.2f}x "
            f"the physical limit ({got['cpu_seconds']:.2f} s of CPU = "
            f"{got['cpu_seconds'] / limit['cpu_seconds']:.2f}x), "
            f"peak memory added {got['peak_added_mb']:.0f} MB{frame}"
        )
    print(
        f"anchor, json.loads of one text per row (no database): {naive:.2f} s "
        f"= {naive / figures['read_window']['seconds']:.1f}x read_window"
    )


if __name__ == "__main__":
    main()
