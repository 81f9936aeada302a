"""Restoring a backup into an empty data directory and an empty database: every digest
checked before anything is written, every row count after, all of it undone on failure."""

from __future__ import annotations

import json
import os
import secrets
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Engine, inspect

from assay.auditchain import ChainVerification, verify_records
from assay.auditsigning import Checkpoint, load_public_keys, signature_verifies

from .. import __version__
from ..audit.service import AuditTrail
from ..audit.signing import signing_key
from ..context import ServiceContext
from ..db import Database
from ..migrate import alembic_config, upgrade
from ..settings import Settings
from ..storage import discard, open_storage
from .files import (
    client_tool,
    copy_checked,
    copy_private,
    engine_on,
    libpq,
    row_counts,
    run_tool,
    sha256_of,
    sqlite_path,
)
from .manifest import (
    KEY_FILE,
    POSTGRES_FILE,
    SECRET_FILE,
    SQLITE_FILE,
    BackupError,
    backup_files,
    blob_path,
    blob_stores,
    code_heads,
    read_manifest,
)


@dataclass(frozen=True)
class Restored:
    """What a restore put back, the revision it migrated up from (None: none needed), and
    the check of the restored audit trail against the backup's checkpoint."""

    manifest: dict[str, Any]
    blobs: int
    blob_bytes: int
    migrated_from: str | None
    audit: ChainVerification


@dataclass
class _Written:
    """What a restore has written so far, removed again if a later step fails."""

    paths: list[Path] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)

    def undo(self, settings: Settings) -> None:
        if self.tables:
            _drop_tables(settings, self.tables)
        for path in reversed(self.paths):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def restore(ctx: ServiceContext, source: Path) -> Restored:
    """Restore the backup in ``source`` into the empty data directory and empty database of
    ``ctx.settings``, its blobs into their blob storage (the data directory, or the bucket
    ``ASSAY_STORAGE_URL`` names), then migrate the store up if the backup is of an older
    revision.

    Every file of the backup is checked against its digest before anything is written, and
    every blob again as it is written; the restored tables must hold the rows the manifest
    counted. If any of that fails, what was written is removed again (blobs written to a
    bucket stay: they are kept by content, and no row names them).

    Raises:
        BackupError: the backup is damaged, of another kind of store or of a newer release;
            the target is not empty; ``pg_restore`` is missing, too old, or fails.
    """
    settings = ctx.settings
    manifest = read_manifest(source)
    store = manifest["database"]
    revision = store["alembic_revision"]
    _require_kind(store["kind"], settings)
    _require_known_revision(revision)
    for path, sha in backup_files(manifest):
        _require_digest(source / path, sha)
    _require_empty_target(settings, source, manifest)

    blobs, blob_bytes = _put_back(source, manifest, settings)

    database = Database.from_settings(settings)
    try:
        migrated_from = None
        if revision not in code_heads():
            try:
                upgrade(database.engine)
            except Exception as exc:
                raise BackupError(
                    f"The backup was restored at revision {revision}, but migrating it failed "
                    f"({type(exc).__name__}): fix the cause and run 'assay-server db upgrade'."
                ) from exc
            migrated_from = revision
        checkpoint = Checkpoint.from_json(manifest["audit"]["checkpoint"])
        audit = _verify_audit(database, ctx, checkpoint)
    finally:
        database.dispose()
    return Restored(manifest, blobs, blob_bytes, migrated_from, audit)


def _put_back(source: Path, manifest: dict[str, Any], settings: Settings) -> tuple[int, int]:
    """Write the blobs, the keys and the database into the empty target, all or nothing;
    return how many blobs and bytes of them were written."""
    store = manifest["database"]
    written = _Written()
    try:
        blobs, blob_bytes = _place_blobs(source, manifest, settings, written)
        if manifest["audit"]["signing_key"] is not None:
            _place_private(source / KEY_FILE, settings.audit_signing_key_path, written)
        if manifest["secret_key"] is not None:
            _place_private(source / SECRET_FILE, settings.data_dir / SECRET_FILE, written)
        if store["kind"] == "sqlite":
            _restore_sqlite(source / SQLITE_FILE, store, settings, written)
        else:
            _restore_postgres(source / POSTGRES_FILE, store, settings, written)
    except BaseException:
        written.undo(settings)
        raise
    return blobs, blob_bytes


def _require_kind(kind: str, settings: Settings) -> None:
    target = "sqlite" if settings.is_sqlite else "postgresql"
    if kind != target:
        raise BackupError(
            f"This is a backup of a {kind} store, and ASSAY_DATABASE_URL names a {target} "
            "one: restore it into the kind of store it was taken from."
        )


def _require_known_revision(revision: str) -> None:
    try:
        known = ScriptDirectory.from_config(alembic_config()).get_revision(revision)
    except CommandError:
        known = None
    if known is None:
        raise BackupError(
            f"The backup is of revision {revision}, which this assay-server ({__version__}) "
            "does not know: restore it with the release that made it, or a newer one."
        )


def _require_digest(path: Path, sha256: str) -> None:
    try:
        actual = sha256_of(path)
    except FileNotFoundError:
        raise BackupError(f"The backup is incomplete: {path} is missing.") from None
    if actual != sha256:
        raise BackupError(
            f"The backup is damaged: {path} does not match its digest in the manifest. "
            "Nothing was restored."
        )


def _require_empty_target(settings: Settings, source: Path, manifest: dict[str, Any]) -> None:
    key = settings.audit_signing_key_path
    problems = []
    data_dir = settings.data_dir
    # the one file a data directory may hold already: the signing key, provisioned
    if data_dir.exists() and (
        not data_dir.is_dir() or any(p.resolve() != key.resolve() for p in data_dir.iterdir())
    ):
        problems.append(f"the data directory {data_dir} is not empty")
    key_problem = _signing_key_problem(settings, source, manifest)
    if key_problem:
        problems.append(key_problem)
    if settings.is_sqlite:
        path = sqlite_path(settings)
        sidecars = [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm")]
        if (path.exists() and path.stat().st_size > 0) or any(p.exists() for p in sidecars):
            problems.append(f"the database file {path} exists")
    else:
        with engine_on(settings.database_url) as engine, engine.connect() as connection:
            tables = sorted(inspect(connection).get_table_names())
        if tables:
            shown = ", ".join(tables[:3]) + (", …" if len(tables) > 3 else "")
            problems.append(f"the database holds {len(tables)} table(s) ({shown})")
    if problems:
        raise BackupError(
            "Restore refused: "
            + "; ".join(problems)
            + ". A backup is restored into an empty data directory and an empty database; "
            "nothing was changed."
        )


def _signing_key_problem(settings: Settings, source: Path, manifest: dict[str, Any]) -> str:
    """Why the signing key at the target does not fit the backup ("" when it does): it must
    be absent or the backup's own; for a backup made without it, present and the key its
    checkpoint was signed with."""
    key = settings.audit_signing_key_path
    if manifest["audit"]["signing_key"] is not None:
        if key.exists() and key.read_bytes() != (source / KEY_FILE).read_bytes():
            return f"the audit signing key file {key} exists and holds another key"
        return ""
    wanted = manifest["audit"]["checkpoint"]["key_id"]
    if not key.exists():
        return (
            f"the backup holds no audit signing key and {key} does not exist: put the key "
            f"with id {wanted[:16]}… there first (or name it in ASSAY_AUDIT_SIGNING_KEY_FILE)"
        )
    found = signing_key(settings).key_id
    if found != wanted:
        return (
            f"{key} holds the key with id {found[:16]}…, not the key {wanted[:16]}… the "
            "backup's checkpoint was signed with"
        )
    return ""


def _place_blobs(
    source: Path, manifest: dict[str, Any], settings: Settings, written: _Written
) -> tuple[int, int]:
    """Copy every blob to its content address, checking the digest of what is written."""
    if not settings.data_dir.exists():
        settings.data_dir.mkdir(parents=True)
        written.paths.append(settings.data_dir)
    storage = open_storage(settings)
    count = total = 0
    for store, entries in manifest["blobs"].items():
        if not entries:
            continue
        if storage.is_local:
            written.paths.append(blob_stores(settings)[store])
        # In a bucket, blobs a failed restore wrote stay: they are kept by content, so no
        # row names them and the next attempt writes the same bytes under the same keys.
        target = storage.area(store)
        for entry in entries:
            sha = entry["sha256"]
            path = source / blob_path(store, sha)
            with path.open("rb") as reading:
                staged = target.stage_stream(
                    reading, max_bytes=max(1, path.stat().st_size), what=f"{store} blob"
                )
            if staged.sha256 != sha:
                discard(staged)
                raise BackupError(
                    f"{path} does not hold the bytes its digest names (sha256 {staged.sha256},"
                    f" expected {sha}): the backup is damaged."
                )
            total += target.commit(staged).size
            count += 1
    return count, total


def _place_private(source: Path, target: Path, written: _Written) -> None:
    if target.exists():  # the same key, provisioned beforehand (checked to be identical)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    written.paths.append(target)
    copy_private(source, target)


def _restore_sqlite(
    dump: Path, store: dict[str, Any], settings: Settings, written: _Written
) -> None:
    """Copy the database beside its place, check it, and only then move it into place."""
    path = sqlite_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.restoring-{secrets.token_hex(4)}")
    written.paths.append(draft)
    copy_checked(dump, draft, store["sha256"])
    with engine_on(f"sqlite:///{draft}") as engine:
        with engine.connect() as connection:
            result = connection.exec_driver_sql("PRAGMA integrity_check").scalar_one()
        if result != "ok":
            raise BackupError(f"The backup's database fails SQLite's integrity check: {result}")
        _require_rows(engine, store["rows"])
    written.paths.append(path)
    os.replace(draft, path)


def _restore_postgres(
    dump: Path, store: dict[str, Any], settings: Settings, written: _Written
) -> None:
    """pg_restore in one transaction (all or nothing), then count the rows."""
    pg_restore, _major = client_tool("pg_restore", int(store["pg_dump_major"]))
    uri, env = libpq(settings.database_url)
    run_tool(
        [
            pg_restore,
            "--single-transaction",
            "--exit-on-error",
            "--no-owner",  # the tables belong to the user the server connects as
            "--no-acl",
            f"--dbname={uri}",
            str(dump),
        ],
        env,
    )
    written.tables = sorted(store["rows"])
    with engine_on(settings.database_url) as engine:
        _require_rows(engine, store["rows"])


def _require_rows(engine: Engine, expected: dict[str, int]) -> None:
    with engine.connect() as connection:
        found = row_counts(connection, sorted(expected))
    wrong = [
        f"{name}: {found.get(name, 'no table')} rows, {rows} backed up"
        for name, rows in expected.items()
        if found.get(name) != rows
    ]
    if wrong:
        raise BackupError(
            "The restored store does not hold what was backed up ("
            + "; ".join(wrong[:3])
            + "): the restore was undone."
        )


def _verify_audit(
    database: Database, ctx: ServiceContext, checkpoint: Checkpoint
) -> ChainVerification:
    """Recompute the restored chain, which must still hold the backup's checkpoint (signed by
    the restored key) at its seq: nothing up to it differs from what was backed up."""
    with database.unit_of_work(write=False) as session:
        trail = AuditTrail(session, ctx)
        up_to = trail.last_checkpoint_seq()
        head = trail.head()
        lines = trail.export_lines(head, checkpoints_up_to=max(up_to, head["seq"]))
        records = (json.loads(line) for line in lines)
        # No public keys here: checkpoints by an earlier, rotated key are for `assay audit
        # verify` with every key to check; the backup's own checkpoint is checked below.
        verification = verify_records(
            (record for record in records if "chain_head" not in record),
            head=head,
            since=checkpoint,
        )
    keys = load_public_keys([signing_key(ctx.settings).public_pem])
    key = keys.get(checkpoint.key_id)
    if not verification.ok:
        return verification
    if key is None or not signature_verifies(key, checkpoint):
        return replace(
            verification,
            ok=False,
            first_broken_seq=checkpoint.seq,
            message="the backup's checkpoint is not signed by the restored audit signing key",
        )
    return replace(
        verification,
        message=f"{verification.checked} events, chain intact; it holds the backup's "
        f"checkpoint of seq {checkpoint.seq}, signed by the restored key",
    )


def _drop_tables(settings: Settings, tables: list[str]) -> None:
    """Undo a PostgreSQL restore: the database was empty, so every table is the restore's."""
    with engine_on(settings.database_url) as engine, engine.begin() as connection:
        quote = connection.dialect.identifier_preparer.quote
        for name in tables:
            connection.exec_driver_sql(f"DROP TABLE IF EXISTS {quote(name)} CASCADE")
