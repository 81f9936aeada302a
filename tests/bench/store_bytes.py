"""Benchmark: bytes stored per prediction, and expiring a day by partition drop against by DELETE.

    python tests/bench/store_bytes.py [--rows 200000] [--days 2]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Fills a fresh store through ingest_batch (1,000-row batches of 20 features, the path the API
takes) with ``--rows`` predictions spread over ``--days`` UTC days, the day partitions created
first (PostgreSQL), and prints the bytes the prediction tables take per prediction (row table
with its indexes, batch blocks with TOAST), then the figures `docs/scaling.md` derives how far
one database goes from. On PostgreSQL it then expires the oldest day twice in two copies of
the same store: once as retention does it (detach and drop the day's partitions), once by
DELETE of the same rows (what an unpartitioned table must do), and prints both times.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest_throughput import FEATURES, _batch, _fresh_postgres
from read_window import _store

US_PER_DAY = 86_400 * 1_000_000


def fill(url: str | None, workdir: str, rows: int, days: int) -> tuple[datetime, float]:
    """A store with ``rows`` predictions over ``days`` days ending now; the first day and
    the seconds the fill took."""
    from assay_server.ingest.service import ingest_batch
    from assay_server.ingest.store import prediction_store
    from assay_server.migrate import upgrade
    from assay_server.registry.service import RegistryService, VersionSpec

    database, ctx = _store(url, workdir)
    upgrade(database.engine)
    now = datetime.now(timezone.utc)
    first_day = (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    with database.unit_of_work() as session:
        registry = RegistryService(session, ctx)
        registry.create_model(name="bench", task="binary_classification", retention_days=None)
        registry.register_version("bench", VersionSpec(features=FEATURES))
        prediction_store(session).ensure_partitions(now, ctx.settings.max_backfill_days)
    rng = random.Random(3)
    span = min((now - first_day).total_seconds() - 60, days * 86_400.0)
    started = time.perf_counter()
    for start in range(0, rows, 1000):
        document = _batch(rng, start, 1000, "w")
        at = first_day.timestamp() + span * start / rows  # each batch within one day mostly
        document["columns"]["timestamp"] = [at + i / 1000 for i in range(1000)]
        with database.unit_of_work() as session:
            ingest_batch(database, session, ctx, "bench", 1, document)
    elapsed = time.perf_counter() - started
    database.dispose()
    return first_day, elapsed


def sizes(url: str | None, workdir: str) -> tuple[int, int, int]:
    """Rows, bytes of the row table (with indexes) and of the batches (blocks, TOAST)."""
    from sqlalchemy import text

    database, _ctx = _store(url, workdir)
    with database.engine.connect() as connection:
        rows = connection.execute(text("SELECT count(*) FROM predictions")).scalar() or 0
        if url:
            measure = (
                "SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0) FROM pg_inherits "
                "WHERE inhparent = to_regclass('public.{}')"
            )
            row_bytes = connection.execute(text(measure.format("predictions"))).scalar()
            batch_bytes = connection.execute(text(measure.format("prediction_batches"))).scalar()
        else:
            measure = "SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name IN ({})"
            row_bytes = connection.execute(
                text(
                    measure.format(
                        "'predictions', 'ix_predictions_version_ts', "
                        "'uq_predictions_version_prediction_id'"
                    )
                )
            ).scalar()
            batch_bytes = connection.execute(
                text(
                    measure.format(
                        "'prediction_batches', 'ix_prediction_batches_version_ts_max', "
                        "'ix_prediction_batches_not_rolled_up'"
                    )
                )
            ).scalar()
    database.dispose()
    return int(rows), int(row_bytes or 0), int(batch_bytes or 0)


def expire_day(url: str, workdir: str, day: datetime, *, by_partition: bool) -> tuple[int, float]:
    """Remove ``day``'s rows and batches; the rows removed and the seconds it took."""
    from assay_server.ingest import partitions

    database, _ctx = _store(url, workdir)
    start_us = int(day.timestamp() * 1_000_000)
    with database.unit_of_work() as session:
        connection = session.connection()
        rows = connection.exec_driver_sql(
            "SELECT count(*) FROM predictions WHERE ts_us >= %s AND ts_us < %s",
            (start_us, start_us + US_PER_DAY),
        ).scalar()
    started = time.perf_counter()
    with database.unit_of_work() as session:
        connection = session.connection()
        if by_partition:
            for table in partitions.TABLES:
                partitions.drop_partition(connection, table, day.date())
        else:
            connection.exec_driver_sql(
                "DELETE FROM predictions WHERE ts_us >= %s AND ts_us < %s",
                (start_us, start_us + US_PER_DAY),
            )
            connection.exec_driver_sql(
                "DELETE FROM prediction_batches WHERE day = %s", (day.date(),)
            )
    elapsed = time.perf_counter() - started
    database.dispose()
    return int(rows or 0), elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        url, drop = (None, None)
        if args.database_url:
            url, drop = _fresh_postgres(args.database_url)
        try:
            first_day, seconds = fill(url, workdir, args.rows, args.days)
            rows, row_bytes, batch_bytes = sizes(url, workdir)
            per_row = (row_bytes + batch_bytes) / rows
            print(
                f"store: {'PostgreSQL' if url else 'SQLite'}; {rows:,} predictions x 20 "
                f"features over {args.days} days, filled in {seconds:.1f} s"
            )
            print(
                f"row table + indexes: {row_bytes / rows:,.0f} B/prediction; "
                f"blocks (batches, TOAST): {batch_bytes / rows:,.0f} B/prediction; "
                f"total {per_row:,.0f} B/prediction"
            )
            for per_day, retention in ((10_000_000, 90), (100_000_000, 30)):
                total = per_row * per_day * retention / 1e12
                print(f"  {per_day:>12,} predictions/day kept {retention} days: {total:,.2f} TB")
            if url is None:
                return
            second, drop_second = _fresh_postgres(args.database_url)
            try:
                fill(second, f"{workdir}/b", args.rows, args.days)
                dropped, drop_s = expire_day(url, workdir, first_day, by_partition=True)
                deleted, delete_s = expire_day(
                    second, f"{workdir}/b", first_day, by_partition=False
                )
            finally:
                drop_second()
            print(
                f"expire one day of {dropped:,} rows: detach + drop partitions {drop_s:.3f} s; "
                f"anchor, DELETE of the same {deleted:,} rows {delete_s:.3f} s"
            )
        finally:
            if drop:
                drop()


if __name__ == "__main__":
    main()
