"""The audit trail in the SDK: reading events, exporting the trail, verifying its hash chain.

:class:`AuditMethods` is mixed into :class:`assay.Client`; :func:`verify_audit_export` checks an
export on this machine with the standard library alone (:mod:`assay.auditchain`).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import IO

from assay import auditchain
from assay._dates import iso_utc
from assay._http import ServerCalls
from assay.types import AuditEvent, AuditVerification

__all__ = ["AuditMethods", "verify_audit_export"]

PathLike = str | os.PathLike[str]


class AuditMethods(ServerCalls):
    """The audit trail's calls (mixed into Client)."""

    def audit_events(
        self,
        *,
        target_type: str | None = None,
        target_id: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
    ) -> list[AuditEvent]:
        """Return the audit events matching the filters, oldest first, walking the cursor.

        Args:
            target_type: e.g. ``model`` or ``model_version``. target_id: e.g. ``churn/2``.
            actor: the name of the token that acted. action: e.g. ``version.registered``.
            since, until: datetimes or ISO 8601 strings; without a timezone they are UTC.
        """
        params: dict[str, str | int | None] = {
            "target_type": target_type,
            "target_id": target_id,
            "actor": actor,
            "action": action,
            "since": None if since is None else iso_utc(since),
            "until": None if until is None else iso_utc(until),
            "limit": self.page_size,
        }
        events: list[AuditEvent] = []
        while True:
            body = self._transport.json("GET", "/audit", params=params)
            events.extend(AuditEvent.from_json(item) for item in body.get("items") or ())
            cursor = body.get("next_cursor")
            if cursor is None or not body.get("items"):
                return events
            params["after_seq"] = int(cursor)

    def verify_audit(self) -> AuditVerification:
        """Ask the server to recompute the audit chain (``GET /audit/verify``)."""
        return AuditVerification.from_json(self._transport.json("GET", "/audit/verify"))

    def export_audit(self, path_or_file: PathLike | IO[bytes] | IO[str]) -> int:
        """Stream the audit trail as JSON Lines to a path or an open file.

        The export ends with the chain-head line ``{"chain_head": {"seq", "hash"}}`` that
        :func:`verify_audit_export` checks against. Returns the number of events written
        (the chain-head line is not counted).
        """
        with self._transport.lines("/audit/export") as lines, _writer(path_or_file) as write:
            events = 0
            for line in lines:
                write(line + b"\n")
                if not _is_chain_head(line):
                    events += 1
            return events

    def verify_audit_locally(self) -> AuditVerification:
        """Download the audit export and recompute its hash chain here, with the stdlib only.

        Unlike :meth:`verify_audit`, this does not trust the server's own check.
        """
        with self._transport.lines("/audit/export") as lines:
            return verify_audit_export(lines)


def verify_audit_export(source: PathLike | Iterable[str | bytes]) -> AuditVerification:
    """Recompute the hash chain of an audit export (a JSON Lines path, or its lines).

    The export must end with its chain-head line; an export without one is reported as
    broken, since events cut from its end could not otherwise be noticed.

    Raises:
        ValueError: a line is not a JSON object. OSError: the file cannot be read.
    """
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as lines:
            return verify_audit_export(lines)
    last_line: list[str | bytes] = []

    def remember_last(lines: Iterable[str | bytes]) -> Iterator[str | bytes]:
        for line in lines:
            if line.strip():
                last_line[:] = [line]
                yield line

    result = auditchain.verify_export_lines(remember_last(source))
    if result.ok and not (last_line and _is_chain_head(last_line[0])):
        return AuditVerification(
            ok=False,
            checked=result.checked,
            first_broken_seq=result.checked + 1,
            head_seq=None,
            message="the export has no chain_head line: it may have been cut short",
        )
    return AuditVerification(
        ok=result.ok,
        checked=result.checked,
        first_broken_seq=result.first_broken_seq,
        head_seq=result.head_seq,
        message=result.message,
    )


def _is_chain_head(line: str | bytes) -> bool:
    found = b"chain_head" in line if isinstance(line, bytes) else "chain_head" in line
    if not found:
        return False
    try:
        record = json.loads(line)
    except ValueError:
        return False
    return isinstance(record, dict) and "chain_head" in record


@contextlib.contextmanager
def _writer(target: PathLike | IO[bytes] | IO[str]) -> Iterator[Callable[[bytes], object]]:
    """Yield a writer of bytes to a path (opened and closed here) or to an open file."""
    if isinstance(target, (str, os.PathLike)):
        with open(target, "wb") as out:
            yield out.write
        return
    if isinstance(target, io.TextIOBase):
        text = target
        yield lambda data: text.write(data.decode("utf-8"))
    else:
        binary: IO[bytes] = target  # type: ignore[assignment]
        yield binary.write
    target.flush()
