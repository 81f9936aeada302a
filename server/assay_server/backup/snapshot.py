"""Taking a backup: a transactionally consistent snapshot of the store, then the blobs its
rows reference, the audit signing key, and the manifest."""

from __future__ import annotations

import json
import secrets
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from .. import __version__
from ..audit.service import AuditTrail
from ..context import ServiceContext
from ..db import TIMESTAMP_FORMAT, Database
from ..settings import Settings
from ..storage import BlobMissing, open_storage
from .files import (
    client_tool,
    copy_private,
    engine_on,
    libpq,
    row_counts,
    run_tool,
    sha256_of,
    sqlite_path,
    write_checked,
)
from .manifest import (
    BLOB_COLUMNS,
    FORMAT,
    KEY_FILE,
    MANIFEST,
    POSTGRES_FILE,
    REBUILT_WHEN_MISSING,
    SECRET_FILE,
    SQLITE_FILE,
    BackupError,
    blob_path,
    code_heads,
    current_revision,
)


@dataclass(frozen=True)
class Snapshot:
    """What one consistent view of the store holds: its revision, the rows of every table,
    the audit chain's head, and the blobs its rows name, by store."""

    revision: str
    rows: dict[str, int]
    audit_head: dict[str, Any]
    blobs: dict[str, list[str]]


def back_up(
    database: Database, ctx: ServiceContext, out: Path, *, signing_key: bool = True
) -> dict[str, Any]:
    """Back up the store, the blobs it references (read from their blob storage: the data
    directory, or the bucket ``ASSAY_STORAGE_URL`` names) and (unless ``signing_key`` is
    False) the audit signing key into ``out`` (absent or empty); return the manifest.

    First the chain head is signed (a checkpoint the manifest carries), then the store is
    read in one snapshot, then the blobs are copied.

    Raises:
        BackupError: ``out`` is not empty, the store is not at this release's revision, a
            referenced artifact or reference dataset is missing or damaged, ``pg_dump`` is
            missing or older than the server or fails.
    """
    settings = ctx.settings
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BackupError(f"{out} exists and is not an empty directory: name a new one.")
    with database.unit_of_work() as session:
        _require_served_revision(session.connection())
        checkpoint = AuditTrail(session, ctx).sign_head()
    out.parent.mkdir(parents=True, exist_ok=True)
    work = out.parent / f".{out.name}.partial-{secrets.token_hex(4)}"
    work.mkdir(mode=0o700)
    try:
        if settings.is_sqlite:
            store, snapshot = _snapshot_sqlite(ctx, work)
        else:
            store, snapshot = _snapshot_postgres(database, ctx, work)
        # Blobs are copied after the snapshot, and that captures every blob it references:
        # the server writes a blob to its content address before the row naming it commits
        # (registration stores the artifact, the reference dataset and its profile, then
        # flushes the version; a report's page and a late profile are stored, then their
        # column is set), and never deletes one. So whatever a row of the snapshot names was
        # on disk before the snapshot was taken. Blobs stored since, for rows the snapshot
        # does not hold, are left for the next backup.
        blobs, rebuilt = _copy_blobs(snapshot.blobs, settings, work)
        key, secret = _copy_keys(settings, work, signing_key=signing_key)
        manifest = {
            "format": FORMAT,
            "created_at": ctx.clock().strftime(TIMESTAMP_FORMAT),
            "assay_version": __version__,
            "database": {**store, "alembic_revision": snapshot.revision, "rows": snapshot.rows},
            "audit": {
                "head": snapshot.audit_head,
                "checkpoint": checkpoint.to_json(),
                "signing_key": key,
            },
            "blobs": blobs,
            "missing_rebuilt_on_demand": rebuilt,
            "secret_key": secret,
        }
        (work / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        if out.exists():
            out.rmdir()
        work.rename(out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return manifest


def _copy_keys(
    settings: Settings, work: Path, *, signing_key: bool
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Copy the audit signing key (if wanted) and the UI's session key (if the data directory
    holds one), each readable by its owner only; return their manifest entries."""
    key = None
    if signing_key:
        key = {"file": KEY_FILE, **copy_private(settings.audit_signing_key_path, work / KEY_FILE)}
    secret = None
    if (settings.data_dir / SECRET_FILE).is_file():
        copied = copy_private(settings.data_dir / SECRET_FILE, work / SECRET_FILE)
        secret = {"file": SECRET_FILE, **copied}
    return key, secret


def _require_served_revision(connection: Connection) -> None:
    """Refuse a store this release would migrate: a backup is of the store as it is served,
    and taking one never migrates it (a backup before an upgrade must be of the old store)."""
    current = current_revision(connection)
    heads = code_heads()
    if current not in heads:
        raise BackupError(
            f"The store is at revision {current or '(none: never migrated)'}; this "
            f"assay-server serves revision {', '.join(sorted(heads))}. Back it up with the "
            "release that serves it."
        )


def _read_snapshot(connection: Connection, ctx: ServiceContext) -> Snapshot:
    """The revision, row counts, audit head and blob references, all read in the one
    transaction ``connection`` is in."""
    rows = row_counts(connection)
    with Session(bind=connection) as session:
        head = AuditTrail(session, ctx).head()
    blobs = {
        store: sorted(
            str(sha)
            for sha in connection.scalars(select(column).where(column.is_not(None)).distinct())
        )
        for store, column in BLOB_COLUMNS.items()
    }
    return Snapshot(current_revision(connection) or "", rows, head, blobs)


def _snapshot_sqlite(ctx: ServiceContext, work: Path) -> tuple[dict[str, Any], Snapshot]:
    settings = ctx.settings
    target = work / SQLITE_FILE
    timeout = settings.sqlite_busy_timeout_ms / 1000
    # mode=rw: a store that is not there is an error, never a new empty file
    uri = f"{sqlite_path(settings).resolve().as_uri()}?mode=rw"
    source = sqlite3.connect(uri, uri=True, timeout=timeout)
    try:
        source.execute("PRAGMA wal_checkpoint(PASSIVE)")  # as far as it goes without waiting
        copy = sqlite3.connect(target)
        try:
            # One step (pages=-1): the whole copy is read inside one read transaction of the
            # source, so it is one consistent snapshot, and in WAL mode that reader does not
            # block the writers, which carry on meanwhile. Copied in several steps, each write
            # by another connection would restart the copy: under steady ingest it might
            # never finish.
            source.backup(copy, pages=-1)
            # The copy stands alone: its WAL checkpointed into the file, no -wal beside it.
            copy.execute("PRAGMA journal_mode=DELETE")
        finally:
            copy.close()
    finally:
        source.close()
    with engine_on(f"sqlite:///{target}") as engine, engine.connect() as connection:
        snapshot = _read_snapshot(connection, ctx)
    store = {"kind": "sqlite", "file": SQLITE_FILE, "sha256": sha256_of(target)}
    return {**store, "size": target.stat().st_size}, snapshot


def _snapshot_postgres(
    database: Database, ctx: ServiceContext, work: Path
) -> tuple[dict[str, Any], Snapshot]:
    target = work / POSTGRES_FILE
    uri, env = libpq(ctx.settings.database_url)
    with database.engine.connect() as connection:
        connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            connection.exec_driver_sql("SET TRANSACTION READ ONLY")
            version = connection.exec_driver_sql("SHOW server_version_num").scalar_one()
            server_major = int(version) // 10000
            pg_dump, dump_major = client_tool("pg_dump", server_major)
            # pg_dump reads the very snapshot the manifest's counts are read in, so the
            # manifest describes exactly what the dump holds; the snapshot lives as long as
            # this transaction, which ends after pg_dump.
            exported = connection.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
            snapshot = _read_snapshot(connection, ctx)
            run_tool(
                [
                    pg_dump,
                    "--format=custom",
                    f"--snapshot={exported}",
                    f"--file={target}",
                    f"--dbname={uri}",
                ],
                env,
            )
    store = {
        "kind": "postgresql",
        "file": POSTGRES_FILE,
        "sha256": sha256_of(target),
        "size": target.stat().st_size,
        "server_major": server_major,
        "pg_dump_major": dump_major,
    }
    return store, snapshot


def _copy_blobs(
    referenced: dict[str, list[str]], settings: Settings, work: Path
) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    """Copy each referenced blob, checking it holds the bytes its name says; return the
    copies by store, and the missing blobs the server rebuilds on demand."""
    storage = open_storage(settings)
    copied: dict[str, list[dict[str, Any]]] = {}
    rebuilt: list[str] = []
    lost: list[str] = []
    for store, digests in referenced.items():
        source = storage.area(store)
        copied[store] = []
        for sha in digests:
            try:
                opened = source.open(sha)
            except BlobMissing:
                (rebuilt if store in REBUILT_WHEN_MISSING else lost).append(f"{store}/{sha}")
                continue
            size = write_checked(
                opened.chunks(),
                work / blob_path(store, sha),
                sha,
                what=f"{storage.location}: {store}/{sha}",
            )
            copied[store].append({"sha256": sha, "size": size})
    if lost:
        raise BackupError(
            f"{len(lost)} blob(s) the store references are missing from {storage.location} "
            f"(the first: {lost[0]}): the blob storage is damaged. Nothing was backed up."
        )
    return copied, rebuilt
