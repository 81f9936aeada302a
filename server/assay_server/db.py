"""The store: declarative base, engine, sessions and the unit of work.

SQLite runs in WAL mode with a busy timeout; a unit of work that writes opens its
transaction with ``BEGIN IMMEDIATE`` so two writers queue on the database lock instead of
failing on a stale snapshot. PostgreSQL's pool pings each connection it hands out, and after
one connection is found dropped replaces every connection made before it, so a restarted or
failed-over server is reconnected to without a restart of ours. :func:`is_unavailable` tells
such outages from mistakes.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, DateTime, Engine, MetaData, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from .settings import Settings

#: How a stored UTC timestamp is written, in the API and in the audit chain's hashed events.
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass an aware UTC datetime")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    """Declarative base of every table, with alembic's recommended constraint names."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[str]: JSON}


def utcnow() -> datetime:
    """The default clock: now, in UTC."""
    return datetime.now(timezone.utc)


def make_engine(settings: Settings) -> Engine:
    """Create the engine for ``settings.database_url`` (SQLite tuned for concurrent use)."""
    url = settings.database_url
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={
                "timeout": settings.sqlite_busy_timeout_ms / 1000,
                "check_same_thread": False,
            },
        )
        _tune_sqlite(engine, settings.sqlite_busy_timeout_ms)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


#: SQLite result codes (the low byte of an extended code) that say "not now": another
#: connection held the lock past the busy timeout (BUSY, LOCKED), the disk failed or is full
#: (IOERR, FULL), the file cannot be opened (CANTOPEN).
_SQLITE_NOT_NOW = frozenset({5, 6, 10, 13, 14})
#: Their messages, for Python 3.10 (whose sqlite3 errors carry no code).
_SQLITE_NOT_NOW_MESSAGES = (
    "database is locked",
    "database table is locked",
    "disk i/o error",
    "database or disk is full",
    "unable to open database file",
)
#: PostgreSQL SQLSTATEs that say "not now": the connection failed (class 08); the server is
#: shutting down, starting up, or ended the session (57P01-57P05: ``pg_terminate_backend``
#: is 57P01); no connection slot is left (53300). Not the rest of psycopg's OperationalError,
#: which also holds statement faults (54000 program_limit_exceeded) that a retry repeats.
_POSTGRES_NOT_NOW_PREFIXES = ("08", "57P")
_POSTGRES_NOT_NOW_CODES = frozenset({"53300"})


def is_unavailable(error: BaseException) -> bool:
    """Whether ``error``, or an error it was raised from, says the store cannot serve now
    and the same request may succeed later: unreachable, the connection dropped, no pooled
    connection free in time, SQLite locked past its busy timeout."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _says_not_now(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _says_not_now(error: BaseException) -> bool:
    if isinstance(error, sa_exc.TimeoutError):  # every pooled connection was busy
        return True
    driver_error: BaseException | None = error
    if isinstance(error, sa_exc.DBAPIError):
        if error.connection_invalidated:  # the dialect saw the connection drop
            return True
        driver_error = error.orig
    if isinstance(driver_error, sqlite3.OperationalError):
        code = getattr(driver_error, "sqlite_errorcode", None)
        if code is not None:
            return code & 0xFF in _SQLITE_NOT_NOW
        return str(driver_error).lower().startswith(_SQLITE_NOT_NOW_MESSAGES)
    # Loaded by the engine when the store is PostgreSQL; otherwise none of its errors occur.
    psycopg = sys.modules.get("psycopg")
    if psycopg is not None and isinstance(driver_error, psycopg.OperationalError):
        sqlstate = driver_error.sqlstate
        # None: psycopg's own "connection failed", "server closed the connection unexpectedly"
        return (
            sqlstate is None
            or sqlstate.startswith(_POSTGRES_NOT_NOW_PREFIXES)
            or sqlstate in _POSTGRES_NOT_NOW_CODES
        )
    return False


def _tune_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get("sqlite_write"):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")


@dataclass(frozen=True)
class Database:
    """The engine and the two session factories: one for reads, one for writes."""

    engine: Engine
    read_sessions: sessionmaker[Session]
    write_sessions: sessionmaker[Session]

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        """Connect to the store named in ``settings``."""
        return cls.from_engine(make_engine(settings))

    @classmethod
    def from_engine(cls, engine: Engine) -> Database:
        """Wrap an existing engine."""
        writer = engine.execution_options(sqlite_write=True)
        return cls(
            engine=engine,
            read_sessions=sessionmaker(engine, expire_on_commit=False),
            write_sessions=sessionmaker(writer, expire_on_commit=False),
        )

    def session(self, *, write: bool) -> Session:
        """A new session; ``write=True`` takes SQLite's write lock at the first statement."""
        return (self.write_sessions if write else self.read_sessions)()

    @contextmanager
    def unit_of_work(self, *, write: bool = True) -> Iterator[Session]:
        """Commit on success, roll back on error, always close: for jobs, the CLI and tests."""
        session = self.session(write=write)
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
