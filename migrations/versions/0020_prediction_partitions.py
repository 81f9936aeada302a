"""The prediction store partitioned by day on PostgreSQL, and retention per model.

- ``models.retention_days``: days a model's predictions are kept (null: for ever). Models
  that exist already keep everything (null) until someone sets it: an upgrade deletes nothing.
- ``prediction_batches.day``: the UTC day of a batch's rows (of its arrival when it stored
  none). Ingest stores one batch per day from now on; a batch stored before whose rows span
  days gets the day of its newest row, so its block stays as long as any of its rows.
- ``predictions``: unique by version, prediction id *and* timestamp, and ``batch_id`` is no
  longer a foreign key (PostgreSQL puts the partition key in every unique key, and a foreign
  key can only name a unique key). On SQLite ingest still stores an id once per version.
- PostgreSQL only: both tables are rebuilt as tables range-partitioned by day (``ts_us``,
  ``day``), with a partition per day that has rows (up to 400 days back) and a default
  partition for the rest, in the schema ``prediction_partitions``; every row is carried over.

Downgrade puts the plain tables back (an id stored twice with two timestamps keeps its
first row) and drops the columns.

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-30 18:30:00
"""

from datetime import date, datetime, timedelta, timezone

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

SCHEMA = "prediction_partitions"
US_PER_DAY = 86_400_000_000
EPOCH = date(1970, 1, 1)
#: Existing days older than this, or too far ahead, stay in the default partition.
DAYS_BACK = 400
DAYS_AHEAD = 7


def upgrade() -> None:
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retention_days", sa.Integer(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        _partition_postgres()
        return
    with op.batch_alter_table("prediction_batches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("day", sa.Date(), nullable=True))
    op.execute(
        "UPDATE prediction_batches SET day = CASE WHEN ts_max_us IS NOT NULL "
        "THEN date(ts_max_us / 1000000, 'unixepoch') ELSE substr(received_at, 1, 10) END"
    )
    with op.batch_alter_table("prediction_batches", schema=None) as batch_op:
        batch_op.alter_column("day", existing_type=sa.Date(), nullable=False)
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.drop_constraint("fk_predictions_batch_id_prediction_batches", type_="foreignkey")
        batch_op.drop_index("uq_predictions_version_prediction_id")
        batch_op.create_index(
            "uq_predictions_version_prediction_id",
            ["version_id", "prediction_id", "ts_us"],
            unique=True,
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _unpartition_postgres()
    else:
        _keep_first_of_each_id()
        with op.batch_alter_table("predictions", schema=None) as batch_op:
            batch_op.drop_index("uq_predictions_version_prediction_id")
            batch_op.create_index(
                "uq_predictions_version_prediction_id", ["version_id", "prediction_id"], unique=True
            )
            batch_op.create_foreign_key(
                "fk_predictions_batch_id_prediction_batches",
                "prediction_batches",
                ["batch_id"],
                ["id"],
            )
        with op.batch_alter_table("prediction_batches", schema=None) as batch_op:
            batch_op.drop_column("day")
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.drop_column("retention_days")


def _keep_first_of_each_id() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "DELETE FROM predictions AS later USING predictions AS older "
            "WHERE older.version_id = later.version_id "
            "AND older.prediction_id = later.prediction_id AND older.id < later.id"
        )
    else:
        op.execute(
            "DELETE FROM predictions WHERE EXISTS (SELECT 1 FROM predictions AS older "
            "WHERE older.version_id = predictions.version_id "
            "AND older.prediction_id = predictions.prediction_id "
            "AND older.id < predictions.id)"
        )
    op.execute(
        "DELETE FROM predictions WHERE NOT EXISTS "
        "(SELECT 1 FROM prediction_batches AS b WHERE b.id = predictions.batch_id)"
    )


def _partition_postgres() -> None:
    op.execute("ALTER TABLE prediction_batches ADD COLUMN day date")
    op.execute(
        "UPDATE prediction_batches SET day = CASE WHEN ts_max_us IS NOT NULL "
        f"THEN DATE '1970-01-01' + (ts_max_us / {US_PER_DAY})::integer "
        "ELSE (received_at AT TIME ZONE 'UTC')::date END"
    )
    op.execute("ALTER TABLE prediction_batches ALTER COLUMN day SET NOT NULL")
    op.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    for table, key in (("prediction_batches", "day"), ("predictions", "ts_us")):
        old = f"{table}_unpartitioned"
        op.execute(f"ALTER TABLE {table} RENAME TO {old}")
        op.execute(
            f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS) PARTITION BY RANGE ({key})"
        )
        op.execute(f"CREATE TABLE {SCHEMA}.{table}_default PARTITION OF {table} DEFAULT")
    for day in _days_with_rows():
        for table, low, high in _bounds(day):
            op.execute(
                f"CREATE TABLE {SCHEMA}.{table}_p{day:%Y%m%d} PARTITION OF {table} "
                f"FOR VALUES FROM ({low}) TO ({high})"
            )
    for table in ("prediction_batches", "predictions"):
        op.execute(f"INSERT INTO {table} SELECT * FROM {table}_unpartitioned")
        op.execute(f"ALTER SEQUENCE {table}_id_seq OWNED BY {table}.id")
    op.execute("DROP TABLE predictions_unpartitioned")
    op.execute("DROP TABLE prediction_batches_unpartitioned")
    _keys_and_indexes(partitioned=True)


def _days_with_rows() -> list[date]:
    """The days of the existing rows and batches within reach, each to get a partition."""
    today = datetime.now(timezone.utc).date()
    first, last = today - timedelta(days=DAYS_BACK), today + timedelta(days=DAYS_AHEAD)
    bind = op.get_bind()
    row_days = bind.exec_driver_sql(
        f"SELECT DISTINCT ts_us / {US_PER_DAY} FROM predictions_unpartitioned"
    ).scalars()
    days = {EPOCH + timedelta(days=int(n)) for n in row_days}
    batch_days = bind.exec_driver_sql("SELECT DISTINCT day FROM prediction_batches_unpartitioned")
    days |= set(batch_days.scalars())
    return sorted(day for day in days if first <= day <= last)


def _bounds(day: date) -> list[tuple[str, str, str]]:
    start = (day - EPOCH).days * US_PER_DAY
    return [
        ("prediction_batches", f"'{day}'", f"'{day + timedelta(days=1)}'"),
        ("predictions", str(start), str(start + US_PER_DAY)),
    ]


def _keys_and_indexes(*, partitioned: bool) -> None:
    """The keys and indexes of the models (``ingest/models.py``); partitioned tables hold
    the partition key in their unique ones."""
    batch_key = "id, day" if partitioned else "id"
    row_key = "id, ts_us" if partitioned else "id"
    unique_row = "version_id, prediction_id, ts_us" if partitioned else "version_id, prediction_id"
    op.execute(
        f"ALTER TABLE prediction_batches ADD CONSTRAINT pk_prediction_batches "
        f"PRIMARY KEY ({batch_key})"
    )
    op.execute(
        "ALTER TABLE prediction_batches ADD CONSTRAINT "
        "fk_prediction_batches_version_id_model_versions "
        "FOREIGN KEY (version_id) REFERENCES model_versions (id)"
    )
    op.execute(
        "CREATE INDEX ix_prediction_batches_version_ts_max "
        "ON prediction_batches (version_id, ts_max_us)"
    )
    op.execute(
        "CREATE INDEX ix_prediction_batches_not_rolled_up ON prediction_batches (received_at) "
        "WHERE rolled_up_at IS NULL"
    )
    op.execute(f"ALTER TABLE predictions ADD CONSTRAINT pk_predictions PRIMARY KEY ({row_key})")
    op.execute(
        "ALTER TABLE predictions ADD CONSTRAINT fk_predictions_version_id_model_versions "
        "FOREIGN KEY (version_id) REFERENCES model_versions (id)"
    )
    op.execute(
        f"CREATE UNIQUE INDEX uq_predictions_version_prediction_id ON predictions ({unique_row})"
    )
    op.execute("CREATE INDEX ix_predictions_version_ts ON predictions (version_id, ts_us)")
    if not partitioned:
        op.execute(
            "ALTER TABLE predictions ADD CONSTRAINT fk_predictions_batch_id_prediction_batches "
            "FOREIGN KEY (batch_id) REFERENCES prediction_batches (id)"
        )


def _unpartition_postgres() -> None:
    for table in ("prediction_batches", "predictions"):
        plain = f"{table}_unpartitioned"
        op.execute(f"CREATE TABLE {plain} (LIKE {table} INCLUDING DEFAULTS)")
        op.execute(f"INSERT INTO {plain} SELECT * FROM {table}")
        op.execute(f"ALTER SEQUENCE {table}_id_seq OWNED BY NONE")
        op.execute(f"DROP TABLE {table}")
        op.execute(f"ALTER TABLE {plain} RENAME TO {table}")
        op.execute(f"ALTER SEQUENCE {table}_id_seq OWNED BY {table}.id")
    op.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    _keep_first_of_each_id()
    op.execute("ALTER TABLE prediction_batches DROP COLUMN day")
    _keys_and_indexes(partitioned=False)
