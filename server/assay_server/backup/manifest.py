"""What a backup holds: its file names, the blob columns, the manifest and its checks."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Connection, Table

from assay.auditsigning import Checkpoint

from ..errors import AssayError
from ..migrate import alembic_config
from ..monitoring.models import Report
from ..registry.models import ModelVersion
from ..settings import Settings

FORMAT = "assay-backup/v1"
MANIFEST = "manifest.json"
SQLITE_FILE = "database.sqlite3"
POSTGRES_FILE = "database.pgdump"
KEY_FILE = "audit_signing_key.pem"
SECRET_FILE = "secret_key"

_VERSIONS = cast(Table, ModelVersion.__table__)
_REPORTS = cast(Table, Report.__table__)
#: Every column that names a blob, by the store the blob lives in.
BLOB_COLUMNS: dict[str, Column[Any]] = {
    "artifacts": _VERSIONS.c.artifact_sha256,
    "reference": _VERSIONS.c.reference_sha256,
    "profiles": _VERSIONS.c.reference_profile_sha256,
    "reports": _REPORTS.c.html_sha256,
}
#: Stores the server rebuilds a missing blob of (a profile from its reference dataset, a
#: report's page from its window): a backup without one is still whole.
REBUILT_WHEN_MISSING = frozenset({"profiles", "reports"})
_SHA256 = re.compile(r"^[0-9a-f]{64}\Z")


class BackupError(AssayError):
    """A backup or restore that cannot be done; the message says why and what to do.
    (Raised to the command line only; never answered over HTTP.)"""

    code = "backup_failed"


def blob_stores(settings: Settings) -> dict[str, Path]:
    """Where each store of blobs lives under the data directory."""
    return {
        "artifacts": settings.artifacts_dir,
        "reference": settings.reference_dir,
        "profiles": settings.profiles_dir,
        "reports": settings.reports_dir,
    }


def blob_path(store: str, sha256: str) -> str:
    """Where a blob sits in a backup: by content, as in the data directory."""
    return f"blobs/{store}/{sha256[:2]}/{sha256}"


def current_revision(connection: Connection) -> str | None:
    """The alembic revision the store on ``connection`` is at (None: never migrated)."""
    heads = MigrationContext.configure(connection).get_current_heads()
    return heads[0] if heads else None


def code_heads() -> set[str]:
    """The revisions this release's migrations end at."""
    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


def read_manifest(source: Path) -> dict[str, Any]:
    """The manifest of the backup in ``source``, its shape checked.

    Raises:
        BackupError: there is none, or it is not an Assay backup's, or it is damaged.
    """
    path = source / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise BackupError(f"{source} holds no {MANIFEST}: it is not a backup.") from None
    except (OSError, ValueError) as exc:
        raise BackupError(f"{path} cannot be read: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{path} is not an Assay backup manifest ({FORMAT}).")
    try:
        if manifest["database"]["kind"] not in ("sqlite", "postgresql"):
            raise ValueError("unknown database kind")
        Checkpoint.from_json(manifest["audit"]["checkpoint"])
        for store, entries in manifest["blobs"].items():
            if store not in BLOB_COLUMNS or not all(_SHA256.match(e["sha256"]) for e in entries):
                raise ValueError(f"blobs of {store}")
        list(backup_files(manifest))
    except (KeyError, TypeError, ValueError) as exc:
        raise BackupError(f"{path} is damaged ({exc}).") from None
    return manifest


def backup_files(manifest: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """Every file the backup holds, as ``(path in the backup, sha256)``. The paths are the
    backup's own names, never read from the manifest."""
    store = manifest["database"]
    yield (SQLITE_FILE if store["kind"] == "sqlite" else POSTGRES_FILE), store["sha256"]
    if manifest["audit"]["signing_key"] is not None:
        yield KEY_FILE, manifest["audit"]["signing_key"]["sha256"]
    if manifest["secret_key"] is not None:
        yield SECRET_FILE, manifest["secret_key"]["sha256"]
    for name, entries in manifest["blobs"].items():
        for entry in entries:
            yield blob_path(name, entry["sha256"]), entry["sha256"]
