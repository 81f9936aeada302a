"""Files and tools a backup is made and restored with: copies checked against their digest,
secret files, throwaway engines, and PostgreSQL's client tools."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, func, inspect, select
from sqlalchemy import table as table_named
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from ..settings import Settings
from .manifest import BackupError

CHUNK = 1024 * 1024


def copy_checked(source: Path, target: Path, sha256: str) -> int:
    """Copy ``source`` to ``target``, hashing the bytes as they are written; refuse bytes
    whose digest is not ``sha256``. Returns the size."""

    def chunks() -> Iterator[bytes]:
        with source.open("rb") as reading:
            while chunk := reading.read(CHUNK):
                yield chunk

    return write_checked(chunks(), target, sha256, what=str(source))


def write_checked(chunks: Iterable[bytes], target: Path, sha256: str, *, what: str) -> int:
    """Write ``chunks`` to ``target``, hashing them as they are written; refuse bytes whose
    digest is not ``sha256`` (``what`` names where they came from). Returns the size."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    with target.open("wb") as writing:
        for chunk in chunks:
            digest.update(chunk)
            writing.write(chunk)
            size += len(chunk)
    if digest.hexdigest() != sha256:
        raise BackupError(
            f"{what} does not hold the bytes its digest names (sha256 {digest.hexdigest()}, "
            f"expected {sha256}): it is damaged."
        )
    return size


def sha256_of(path: Path) -> str:
    """The hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as reading:
        while chunk := reading.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def copy_private(source: Path, target: Path) -> dict[str, Any]:
    """Copy a secret file to a new file readable by its owner only (0600); return its
    ``sha256`` and ``size``."""
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise BackupError(f"{source} cannot be read ({type(exc).__name__}).") from None
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as writing:
        writing.write(data)
    return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


@contextmanager
def engine_on(url: str) -> Iterator[Engine]:
    """An engine without a pool on ``url``, disposed at the end of the ``with`` block."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        yield engine
    finally:
        engine.dispose()


def row_counts(connection: Connection, names: list[str] | None = None) -> dict[str, int]:
    """Rows in each table (every table of the store when ``names`` is None)."""
    present = sorted(inspect(connection).get_table_names())
    wanted = present if names is None else [name for name in names if name in present]
    return {
        name: int(connection.scalar(select(func.count()).select_from(table_named(name))) or 0)
        for name in wanted
    }


def sqlite_path(settings: Settings) -> Path:
    """The SQLite database file ``ASSAY_DATABASE_URL`` names."""
    name = make_url(settings.database_url).database
    if not name or name == ":memory:":
        raise BackupError("ASSAY_DATABASE_URL names an in-memory SQLite store.")
    return Path(name)


def libpq(database_url: str) -> tuple[str, dict[str, str]]:
    """The libpq URI of ``database_url`` without its password, and an environment passing
    the password (so that it never shows in the process list)."""
    url = make_url(database_url)
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    uri = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    return uri, env


def client_tool(name: str, at_least: int) -> tuple[str, int]:
    """The PostgreSQL client tool ``name`` on PATH and its major version, which must be
    ``at_least`` (pg_dump refuses a newer server; pg_restore a newer dump)."""
    advice = (
        f"install the PostgreSQL client tools of version {at_least} or newer "
        f"(Debian: postgresql-client-{at_least}) and put {name} on PATH"
    )
    path = shutil.which(name)
    if path is None:
        raise BackupError(f"{name} was not found on PATH: {advice}.")
    answer = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60)
    found = re.search(r"\)\s*(\d+)", answer.stdout)  # "pg_dump (PostgreSQL) 15.20 (Debian…)"
    major = int(found.group(1)) if found else 0
    if major < at_least:
        raise BackupError(
            f"{path} is version {major or 'unknown'}, older than {at_least} (the PostgreSQL "
            f"server's or the dump's): {advice}."
        )
    return path, major


def run_tool(command: list[str], env: dict[str, str]) -> None:
    """Run a client tool; its last lines of error output become the message if it fails."""
    answer = subprocess.run(command, env=env, capture_output=True, text=True)
    if answer.returncode != 0:
        tail = " ".join(answer.stderr.strip().splitlines()[-3:])
        raise BackupError(f"{Path(command[0]).name} failed (exit {answer.returncode}): {tail}")
