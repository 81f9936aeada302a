"""What a pool of explanation workers may use, and what a jailed worker must never read.

:class:`PoolLimits` comes from the ``ASSAY_EXPLAIN_*`` settings; :mod:`.process` hands each
worker its share in the boot message (:mod:`.workers` describes the pool).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..settings import Settings

#: What a jailed worker may still do: open this many files, write files this large.
JAIL_OPEN_FILES = 64
JAIL_FILE_MB = 64


@dataclass(frozen=True)
class PoolLimits:
    """How many workers, what each may use, and what a jailed one must never read."""

    size: int = 2
    memory_mb: int = 4096
    cache_size: int = 8
    protected_paths: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> PoolLimits:
        """The limits the ``ASSAY_EXPLAIN_*`` settings give; the data directory and the SQLite
        store are protected."""
        return cls(
            size=settings.explain_workers,
            memory_mb=settings.explain_memory_mb,
            cache_size=settings.explain_cache_size,
            protected_paths=protected_paths(settings),
        )


def protected_paths(settings: Settings) -> tuple[str, ...]:
    """The data directory, and the directory of the SQLite store (with its journal files)."""
    paths = [os.path.abspath(settings.data_dir)]
    if settings.is_sqlite:
        from sqlalchemy.engine import make_url

        database = make_url(settings.database_url).database
        if database and database != ":memory:":
            paths.append(os.path.dirname(os.path.abspath(database)))
    return tuple(paths)
