"""PostgreSQL's day partitions: created ahead by the scheduler, rows placed by day (the
default partition catching the rest), whole days dropped by retention, and the migration
that partitions a store with rows in it (and takes it back)."""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from alembic import command
from sqlalchemy import text

from assay_server.db import Database
from assay_server.ingest import partitions
from assay_server.migrate import alembic_config, upgrade
from assay_server.scheduler import MonitorScheduler
from assay_server.settings import Settings
from tests.api.factories import audit_events, create_model, declared_version
from tests.conftest import POSTGRES_URL_VAR, create_postgres_database
from tests.ingest.test_retention import batch, post, ts

pytestmark = pytest.mark.skipif(
    not os.environ.get(POSTGRES_URL_VAR),
    reason="partitions are PostgreSQL's: SQLite keeps one table and deletes by time",
)
NOON = {"hour": 12, "tzinfo": timezone.utc}


def _where_rows_are(db) -> dict[str, int]:
    """Rows of ``predictions`` per partition (short names)."""
    with db.unit_of_work(write=False) as session:
        found = session.execute(
            text("SELECT tableoid::regclass::text, count(*) FROM predictions GROUP BY 1 ORDER BY 1")
        ).all()
    return {name.removeprefix(partitions.SCHEMA + "."): int(count) for name, count in found}


def _days(db, table: partitions.PartitionedTable) -> list[date]:
    with db.unit_of_work(write=False) as session:
        return partitions.partition_days(session.connection(), table)


@pytest.fixture(autouse=True)
def no_day_partitions(db):
    """Start from the default partitions alone: schedulers of live-server tests commit the
    partitions of their own days (dropped here inside the test's transaction, so they are
    back after it)."""
    with db.unit_of_work() as session:
        connection = session.connection()
        for table in partitions.TABLES:
            for day in partitions.partition_days(connection, table):
                partitions.drop_partition(connection, table, day)


def _models(client, headers, **retention: int | None) -> None:
    for name, days in retention.items():
        create_model(client, headers, name, retention_days=days)
        declared_version(client, headers, name)


def test_the_job_creates_the_partitions_of_every_day_a_row_may_arrive_for_once(db, settings, clock):
    scheduler = MonitorScheduler(db, settings, clock=clock)
    today = clock().date()
    wanted = partitions.wanted_days(today, settings.max_backfill_days)
    assert wanted[0] == today - timedelta(days=30)
    assert wanted[-1] == today + timedelta(days=partitions.DAYS_AHEAD)
    assert scheduler.create_partitions() == len(wanted)
    assert _days(db, partitions.ROWS) == _days(db, partitions.BATCHES) == wanted
    assert scheduler.create_partitions() == 0  # idempotent; a second scheduler finds them
    clock.advance(days=1)
    assert scheduler.create_partitions() == 1
    assert _days(db, partitions.ROWS)[-1] == today + timedelta(days=partitions.DAYS_AHEAD + 1)


def test_rows_land_in_their_days_partition_and_in_the_default_one_outside(
    client, contributor_headers, db, settings, clock
):
    _models(client, contributor_headers, churn=None)
    post(client, contributor_headers, "churn", batch("early", [ts(21), ts(22), ts(22, 23)]))
    assert _where_rows_are(db) == {"predictions_default": 3}  # no day partition yet
    MonitorScheduler(db, settings, clock=clock).create_partitions()
    # creating a day's partition took its rows out of the default one
    assert _where_rows_are(db) == {"predictions_p20261121": 1, "predictions_p20261122": 2}
    post(client, contributor_headers, "churn", batch("late", [ts(23, 8)]))
    assert _where_rows_are(db)["predictions_p20261123"] == 1
    with db.unit_of_work(write=False) as session:
        batch_days = session.execute(
            text("SELECT tableoid::regclass::text, day FROM prediction_batches ORDER BY day, id")
        ).all()
    assert [(name.split(".")[-1], day.day) for name, day in batch_days] == [
        ("prediction_batches_p20261121", 21),
        ("prediction_batches_p20261122", 22),
        ("prediction_batches_p20261123", 23),
    ]


def test_retention_drops_whole_expired_days_and_deletes_from_days_another_model_keeps(
    client, contributor_headers, admin_headers, db, settings, clock
):
    _models(client, contributor_headers, brief=3, also=3, kept=None)
    scheduler = MonitorScheduler(db, settings, clock=clock)
    clock.now = datetime(2026, 11, 21, **NOON)
    scheduler.create_partitions()
    for model in ("brief", "also"):
        post(client, contributor_headers, model, batch("a", [ts(20), ts(21, 10)]))
    post(client, contributor_headers, "kept", batch("k", [ts(21, 11)]))  # kept shares Nov 21
    clock.now = datetime(2026, 11, 23, **NOON)
    for model in ("brief", "also", "kept"):
        post(client, contributor_headers, model, batch("b", [ts(22), ts(23, 10)]))
    clock.now = datetime(2026, 11, 25, **NOON)  # brief and also keep from Nov 22 on
    assert scheduler.expire_predictions() == 2
    days = _days(db, partitions.ROWS)
    assert date(2026, 11, 20) not in days  # only brief and also had rows: dropped
    assert date(2026, 11, 21) in days  # kept still needs it: their rows deleted from it
    assert _days(db, partitions.BATCHES) == days
    rows = _where_rows_are(db)
    assert rows == {
        "predictions_p20261121": 1,  # kept's
        "predictions_p20261122": 3,
        "predictions_p20261123": 3,
    }
    payload = _expired(client, admin_headers, "brief")
    assert payload["first_day"] == "2026-11-20" and payload["last_day"] == "2026-11-21"
    assert (payload["rows"], payload["batches"], payload["partitions_dropped"]) == (2, 2, 1)
    assert "predictions.expired" not in [
        e["action"] for e in audit_events(client, admin_headers, "model", "kept")
    ]
    # days no model had rows in go once no row may arrive for them any more
    clock.now = datetime(2027, 1, 15, **NOON)
    scheduler.expire_predictions()
    oldest = partitions.wanted_days(clock().date(), settings.max_backfill_days)[0]
    assert [day for day in _days(db, partitions.ROWS) if day < oldest] == [
        date(2026, 11, 21),
        date(2026, 11, 22),
        date(2026, 11, 23),
    ]  # kept's rows keep their days


def _expired(client, headers, model: str) -> dict[str, Any]:
    events = audit_events(client, headers, "model", model)
    expired = [e["payload"] for e in events if e["action"] == "predictions.expired"]
    assert len(expired) == 1
    return expired[0]


@pytest.mark.usefixtures("db")
def test_the_migration_partitions_a_store_with_rows_and_takes_it_back(tmp_path):
    url, drop = create_postgres_database(os.environ[POSTGRES_URL_VAR])
    database = Database.from_settings(Settings(data_dir=tmp_path, database_url=url))
    try:
        with database.engine.begin() as connection:
            command.upgrade(alembic_config(connection), "0019")
            _old_rows(connection)
        upgrade(database.engine)
        with database.engine.connect() as connection:
            placed = connection.execute(
                text(
                    "SELECT tableoid::regclass::text, prediction_id FROM predictions "
                    "ORDER BY prediction_id"
                )
            ).all()
            days = connection.execute(
                text("SELECT id, day FROM prediction_batches ORDER BY id")
            ).all()
        today = datetime.now(timezone.utc).date()
        assert [(name.split(".")[-1], pid) for name, pid in placed] == [
            ("predictions_default", "ancient"),  # older than the migration makes days for
            (f"predictions_p{today - timedelta(days=1):%Y%m%d}", "p0"),
            (f"predictions_p{today:%Y%m%d}", "p1"),
        ]
        # a batch whose rows span days keeps the day of its newest row
        assert [day for _id, day in days] == [today, today - timedelta(days=500)]
        with database.engine.begin() as connection:
            command.downgrade(alembic_config(connection), "0019")
        with database.engine.connect() as connection:
            kind = connection.execute(
                text("SELECT relkind FROM pg_class WHERE relname = 'predictions'")
            ).scalar()
            count = connection.execute(text("SELECT count(*) FROM predictions")).scalar()
        assert (kind, count) == ("r", 3)
        upgrade(database.engine)  # and up again
    finally:
        database.dispose()
        drop()


def _old_rows(connection) -> None:
    """A model, a version, two batches and three predictions, as 0019 stored them."""
    now = datetime.now(timezone.utc)
    today_us = int(datetime(now.year, now.month, now.day, tzinfo=timezone.utc).timestamp() * 1e6)
    ancient_us = today_us - 500 * 86_400 * 1_000_000
    connection.execute(
        text(
            "INSERT INTO models (id, name, task, risk_tier, description, tags, latest_version, "
            "created_at, created_by, updated_at) VALUES (1, 'old', 'regression', 'low', '', "
            "'[]', 1, now(), 'test', now())"
        )
    )
    columns = connection.execute(
        text(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = "
            "'model_versions' AND is_nullable = 'NO' AND column_default IS NULL"
        )
    ).all()
    by_type = {"integer": 1, "boolean": False, "json": "{}", "jsonb": "{}"}
    values: dict[str, Any] = {
        name: now if "timestamp" in kind else by_type.get(kind, "") for name, kind in columns
    }
    values.update(model_id=1, version=1, stage="none", feature_schema='{"features": []}')
    connection.execute(
        text(
            f"INSERT INTO model_versions ({', '.join(values)}) "
            f"VALUES ({', '.join(':' + c for c in values)})"
        ),
        values,
    )
    for batch_id, ts_min, ts_max in (
        (1, today_us - 3_600_000_000, today_us + 60_000_000),
        (2, ancient_us, ancient_us),
    ):
        connection.execute(
            text(
                "INSERT INTO prediction_batches (id, version_id, received_at, accepted, "
                "duplicates, rejected, ts_min_us, ts_max_us, block) "
                "VALUES (:id, 1, now(), 1, 0, 0, :lo, :hi, NULL)"
            ),
            {"id": batch_id, "lo": ts_min, "hi": ts_max},
        )
    for pid, batch_id, ts_us in (
        ("p0", 1, today_us - 3_600_000_000),
        ("p1", 1, today_us + 60_000_000),
        ("ancient", 2, ancient_us),
    ):
        connection.execute(
            text(
                'INSERT INTO predictions (version_id, prediction_id, ts_us, batch_id, "row") '
                "VALUES (1, :pid, :ts, :batch, 0)"
            ),
            {"pid": pid, "ts": ts_us, "batch": batch_id},
        )
