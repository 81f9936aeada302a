"""PostgreSQL: the prediction tables range-partitioned by UTC day, and the partitions kept.

``predictions`` is partitioned by ``ts_us`` (a day is ``[midnight, next midnight)`` in epoch
microseconds) and ``prediction_batches`` by ``day``, so a day's rows and the blocks that
hold them (ingest stores one batch per day, ``service.py``) are in two tables named for the
day: ``prediction_partitions.predictions_p20261130`` and
``prediction_partitions.prediction_batches_p20261130``. A ``…_default`` partition of each
catches whatever has no day partition (rows stored before the job first ran, a day the job
has not reached). The partitions live in a schema of their own so that the application's
schema shows the two tables it declares and nothing else (migrations compare it with the
models). SQLite has no partitions: every function here does nothing there.

:func:`ensure_partitions` (a scheduler job) creates the partitions of the days a row may
still arrive for, from ``ASSAY_MAX_BACKFILL_DAYS`` ago to :data:`DAYS_AHEAD` days ahead.
A partition is created as a plain table, given the rows the default partition holds for
its day, then attached — attaching takes a lighter lock on the parent than ``CREATE TABLE
… PARTITION OF`` and works when the default partition already has rows of that day. Two
schedulers serialise on a transaction-scoped advisory lock, and a partition that exists is
left alone, so the job is idempotent; it creates a day per transaction, since attaching
locks the default partition until commit. Retention drops partitions (``retention.py``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import Connection

SCHEMA = "prediction_partitions"
#: Days ahead of today whose partitions are created before any row arrives.
DAYS_AHEAD = 7
#: The advisory lock partition maintenance and retention hold (two keys: class, object).
_LOCK = (0x4153_5054, 1)  # "ASPT"
_US_PER_DAY = 86_400 * 1_000_000
_EPOCH = date(1970, 1, 1)
_DAY_SUFFIX = re.compile(r"_p(\d{8})$")


@dataclass(frozen=True)
class PartitionedTable:
    """A table partitioned by day, and how its rows of one day are told."""

    name: str
    key: str  # the partition key column

    def partition(self, day: date) -> str:
        """The qualified name of the day's partition."""
        return f"{SCHEMA}.{self.name}_p{day:%Y%m%d}"

    @property
    def default(self) -> str:
        """The qualified name of the default partition."""
        return f"{SCHEMA}.{self.name}_default"

    def bounds(self, day: date) -> tuple[str, str]:
        """The partition's ``FROM`` and ``TO`` values, as SQL literals."""
        if self.key == "day":
            return f"'{day.isoformat()}'", f"'{(day + timedelta(days=1)).isoformat()}'"
        start = (day - _EPOCH).days * _US_PER_DAY
        return str(start), str(start + _US_PER_DAY)

    def of_day(self, day: date) -> str:
        """A condition selecting the rows of ``day``."""
        low, high = self.bounds(day)
        return f"{self.key} >= {low} AND {self.key} < {high}"


ROWS = PartitionedTable("predictions", "ts_us")
BATCHES = PartitionedTable("prediction_batches", "day")
TABLES = (BATCHES, ROWS)


def is_partitioned(connection: Connection) -> bool:
    """True on PostgreSQL once the migration partitioned the prediction tables."""
    if connection.dialect.name != "postgresql":
        return False
    kind = connection.exec_driver_sql(
        "SELECT relkind FROM pg_class WHERE oid = to_regclass('public.predictions')"
    ).scalar()
    return kind == "p"


def lock(connection: Connection) -> None:
    """Hold the partition maintenance lock until the transaction ends."""
    connection.exec_driver_sql("SELECT pg_advisory_xact_lock(%s, %s)", _LOCK)


def partition_days(connection: Connection, table: PartitionedTable) -> list[date]:
    """The days that have a partition of ``table``, oldest first."""
    names = connection.exec_driver_sql(
        "SELECT c.relname FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent "
        "JOIN pg_namespace pn ON pn.oid = p.relnamespace "
        "WHERE pn.nspname = 'public' AND p.relname = %s",
        (table.name,),
    ).scalars()
    days = []
    for name in names:
        found = _DAY_SUFFIX.search(name)
        if found:
            days.append(datetime.strptime(found.group(1), "%Y%m%d").date())
    return sorted(days)


def tables_between(
    connection: Connection, table: PartitionedTable, low_us: int, high_us: int
) -> list[str]:
    """The partitions of ``table`` (by time) that may hold rows of ``[low_us, high_us]``: the
    day partitions of that range that exist, and the default one; the table itself when it
    is not partitioned."""
    first = _EPOCH + timedelta(days=max(low_us, 0) // _US_PER_DAY)
    last = _EPOCH + timedelta(days=max(high_us, 0) // _US_PER_DAY)
    names = [
        table.partition(first + timedelta(days=n)).split(".")[1]
        for n in range((last - first).days + 1)
    ]
    found = connection.exec_driver_sql(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = to_regclass(%s) AND c.relname = ANY(%s) ORDER BY c.relname",
        (f"public.{table.name}", [*names, table.default.split(".")[1]]),
    ).scalars()
    tables = [f"{SCHEMA}.{name}" for name in found]
    return tables or [f"public.{table.name}"]


def wanted_days(today: date, backfill_days: float) -> list[date]:
    """The days a row may still arrive for: ``backfill_days`` back to ``DAYS_AHEAD`` on."""
    first = today - timedelta(days=math.ceil(backfill_days))
    return [first + timedelta(days=n) for n in range((today - first).days + DAYS_AHEAD + 1)]


def ensure_partitions(
    connection: Connection, now: datetime, backfill_days: float, *, max_days: int | None = None
) -> list[date]:
    """Create the missing partitions of the days a row may arrive for, oldest first, at most
    ``max_days`` days of them; the days created (nothing on SQLite).

    Attaching a partition locks the default partition until the transaction ends, so the
    scheduler creates one day per transaction: reads and ingest wait milliseconds, not the
    seconds a month of days takes."""
    if not is_partitioned(connection):
        return []
    lock(connection)
    existing = {table: set(partition_days(connection, table)) for table in TABLES}
    created: list[date] = []
    for day in wanted_days(now.astimezone(timezone.utc).date(), backfill_days):
        if max_days is not None and len(created) >= max_days:
            break
        missing = [table for table in TABLES if day not in existing[table]]
        for table in missing:
            create_partition(connection, table, day)
        if missing:
            created.append(day)
    return created


def create_partition(connection: Connection, table: PartitionedTable, day: date) -> None:
    """Create the day's partition with the rows the default partition holds for it."""
    name = table.partition(day)
    low, high = table.bounds(day)
    connection.exec_driver_sql(f"CREATE TABLE {name} (LIKE public.{table.name})")
    connection.exec_driver_sql(
        f"WITH moved AS (DELETE FROM {table.default} WHERE {table.of_day(day)} RETURNING *) "
        f"INSERT INTO {name} SELECT * FROM moved"
    )
    connection.exec_driver_sql(
        f"ALTER TABLE public.{table.name} ATTACH PARTITION {name} "
        f"FOR VALUES FROM ({low}) TO ({high})"
    )


def drop_partition(connection: Connection, table: PartitionedTable, day: date) -> None:
    """Detach the day's partition and drop it."""
    name = table.partition(day)
    connection.exec_driver_sql(f"ALTER TABLE public.{table.name} DETACH PARTITION {name}")
    connection.exec_driver_sql(f"DROP TABLE {name}")


def versions_in(connection: Connection, table: PartitionedTable, day: date) -> set[int]:
    """The versions with rows in the day's partition: a loose scan of the version index
    (one index probe per version, however many rows)."""
    name = table.partition(day)
    return set(
        connection.exec_driver_sql(
            "WITH RECURSIVE v(id) AS ("
            f" SELECT min(version_id) FROM {name}"
            f" UNION ALL SELECT (SELECT min(version_id) FROM {name} WHERE version_id > v.id)"
            " FROM v WHERE v.id IS NOT NULL"
            ") SELECT id FROM v WHERE id IS NOT NULL"
        ).scalars()
    )
