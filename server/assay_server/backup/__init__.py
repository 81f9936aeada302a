"""Backups and restores: the store, the blobs it references, and the audit signing key.

:func:`back_up` writes a directory (mode 0700), made under a temporary name and renamed into
place once complete, so a directory of that name always holds a whole backup::

    manifest.json                  what the backup holds, each file with its sha256 (last)
    database.sqlite3               SQLite: the online backup API's copy, WAL checkpointed
    database.pgdump                PostgreSQL: pg_dump, custom format
    blobs/<store>/<sha[:2]>/<sha>  artifacts, reference, profiles, reports: by content
    audit_signing_key.pem          the private key checkpoints are signed with (mode 0600)
    secret_key                     the UI's session key, when the data directory holds one

:func:`restore` puts a backup back into an empty data directory and an empty database,
checking every digest before anything is written and every row count after, then migrates
the store up when the backup is of an older revision.

A face, like the command line that calls it: it reads the registry's and monitoring's blob
columns and the audit trail, and writes nothing but the checkpoint it signs.
"""

from __future__ import annotations

from .manifest import BackupError, read_manifest
from .restore import Restored, restore
from .snapshot import back_up

__all__ = ["BackupError", "Restored", "back_up", "read_manifest", "restore"]
