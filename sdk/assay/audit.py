"""The audit trail in the SDK: reading events, exporting the trail, verifying its hash chain
and its signed checkpoints.

:class:`AuditMethods` is mixed into :class:`assay.Client`; :func:`verify_audit_export` checks an
export on this machine (:mod:`assay.auditchain`): the hashes with the standard library alone,
the checkpoints' signatures, when a public key is given, with ``cryptography``
(``pip install 'assay-ml[verify]'``).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import IO

from assay import auditchain
from assay._dates import iso_utc
from assay._http import ServerCalls
from assay.auditsigning import Checkpoint
from assay.types import AuditEvent, AuditVerification

__all__ = [
    "AuditMethods",
    "load_checkpoint",
    "save_checkpoint",
    "verify_audit_export",
]

PathLike = str | os.PathLike[str]
#: One PEM public key, or several (the keys a trail was signed with across a key rotation).
PublicKeys = str | bytes | Sequence[str | bytes]


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
            target_type: e.g. ``model`` or ``model_version``.
            target_id: e.g. ``churn/2``.
            actor: the name of the token that acted.
            action: e.g. ``version.registered``.
            since: a datetime or ISO 8601 string; without a timezone it is UTC.
            until: the same, for the end.
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

        The server signs its chain head first; the export carries the signed checkpoints
        (``{"checkpoint": {...}}`` lines) and ends with a checkpoint of its head and the
        chain-head line ``{"chain_head": {"seq", "hash"}}``. Returns the number of events
        written (checkpoint and chain-head lines are not counted).
        """
        with self._transport.lines("/audit/export") as lines, _writer(path_or_file) as write:
            events = 0
            for line in lines:
                write(line + b"\n")
                if _record_kind(line) == "event":
                    events += 1
            return events

    def verify_audit_locally(
        self,
        *,
        public_key: PublicKeys | None = None,
        since: Checkpoint | PathLike | None = None,
    ) -> AuditVerification:
        """Download the audit export and verify it here: see :func:`verify_audit_export`.

        Unlike :meth:`verify_audit`, this does not trust the server's own check. Pass
        ``public_key`` (a PEM kept from earlier, or :meth:`audit_public_key`) to check the
        checkpoints' signatures, and ``since`` (a checkpoint saved earlier) to prove the trail
        was only appended to since.
        """
        with self._transport.lines("/audit/export") as lines:
            return verify_audit_export(lines, public_key=public_key, since=since)

    def audit_checkpoints(self) -> list[Checkpoint]:
        """Every signed checkpoint of the audit chain, oldest first, walking the cursor."""
        params: dict[str, str | int | None] = {"limit": self.page_size}
        checkpoints: list[Checkpoint] = []
        while True:
            body = self._transport.json("GET", "/audit/checkpoints", params=params)
            items = body.get("items") or ()
            checkpoints.extend(Checkpoint.from_json(item) for item in items)
            cursor = body.get("next_cursor")
            if cursor is None or not items:
                return checkpoints
            params["after_seq"] = int(cursor)

    def checkpoint_audit(self) -> Checkpoint:
        """Have the server sign its chain head now (unless it is signed already) and return
        the checkpoint: save it with :func:`save_checkpoint` where the server's database
        administrators cannot write, and verify later exports ``since`` it."""
        return Checkpoint.from_json(self._transport.json("POST", "/audit/checkpoints"))

    def audit_public_key(self) -> str:
        """The PEM of the public key the server signs checkpoints with."""
        body = self._transport.json("GET", "/audit/public-key")
        return str(body["public_key"])


def verify_audit_export(
    source: PathLike | Iterable[str | bytes],
    *,
    public_key: PublicKeys | None = None,
    since: Checkpoint | PathLike | None = None,
) -> AuditVerification:
    """Verify an audit export (a JSON Lines path, or its lines) on this machine.

    Recomputes the hash chain and checks that every checkpoint matches the chain at its seq.
    With ``public_key`` (PEM text, or several), every checkpoint's signature must verify with
    one of them and the export's head must be signed: a trail rewritten and rehashed by
    someone without the private key fails. With ``since`` (a :class:`Checkpoint`, or the path
    of one saved with :func:`save_checkpoint`), the trail must still hold that checkpoint's
    hash at its seq: it was only appended to since.

    The export must end with its chain-head line; an export without one is reported as
    broken, since events cut from its end could not otherwise be noticed.

    Raises:
        ValueError: a line is not a JSON object, or a key or checkpoint is malformed.
        OSError: a file cannot be read.
        ImportError: ``public_key`` was given and the ``cryptography`` package is not
            installed.
    """
    if isinstance(since, (str, os.PathLike)):
        since = load_checkpoint(since)
    if isinstance(public_key, (str, bytes)):
        public_key = [public_key]
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as lines:
            return verify_audit_export(lines, public_key=public_key, since=since)
    last_line: list[str | bytes] = []

    def remember_last(lines: Iterable[str | bytes]) -> Iterator[str | bytes]:
        for line in lines:
            if line.strip():
                last_line[:] = [line]
                yield line

    result = auditchain.verify_export_lines(
        remember_last(source), public_keys=public_key, since=since
    )
    if result.ok and not (last_line and _record_kind(last_line[0]) == "chain_head"):
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


def save_checkpoint(checkpoint: Checkpoint, path: PathLike) -> None:
    """Write ``checkpoint`` to ``path`` as JSON, for :func:`verify_audit_export`'s ``since``."""
    with open(path, "w", encoding="utf-8") as out:
        json.dump(checkpoint.to_json(), out, indent=2)
        out.write("\n")


def load_checkpoint(path: PathLike) -> Checkpoint:
    """Read a checkpoint saved with :func:`save_checkpoint` (or an export's checkpoint line).

    Raises:
        ValueError: the file holds no checkpoint. OSError: it cannot be read.
    """
    with open(path, encoding="utf-8") as saved:
        try:
            data = json.load(saved)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{os.fspath(path)} is not a saved checkpoint: {exc.msg}") from None
    if isinstance(data, dict) and "checkpoint" in data:
        data = data["checkpoint"]
    try:
        return Checkpoint.from_json(data)
    except ValueError as exc:
        raise ValueError(f"{os.fspath(path)} is not a saved checkpoint: {exc}") from None


def _record_kind(line: str | bytes) -> str:
    """What a line of an export holds: ``"event"``, ``"checkpoint"`` or ``"chain_head"``."""
    if isinstance(line, bytes):
        maybe = b"chain_head" in line or b"checkpoint" in line
    else:
        maybe = "chain_head" in line or "checkpoint" in line
    if not maybe:
        return "event"  # the common case, without parsing the line
    try:
        record = json.loads(line)
    except ValueError:
        return "event"
    if isinstance(record, dict):
        for kind in ("chain_head", "checkpoint"):
            if kind in record:
                return kind
    return "event"


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
