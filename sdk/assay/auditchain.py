"""The audit trail's hash chain: canonical form, event hash, and an offline verifier.

The server and the ``assay audit verify`` command share these functions, so that an auditor
can recompute the chain on their own machine from an export, without trusting the server's
own check.

Each event's hash is ``sha256(prev_hash + canonical_json(body))`` where ``body`` holds the
fields listed in :data:`HASHED_FIELDS`; the first event's ``prev_hash`` is :data:`GENESIS_HASH`.
The verifier also checks the server's signed checkpoints (:mod:`assay.auditsigning`): each
must match the chain at its seq, and, given a public key, carry a valid signature. Hashes are
checked with the standard library alone.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from assay.auditsigning import Checkpoint, load_public_keys, signature_verifies

__all__ = [
    "GENESIS_HASH",
    "HASHED_FIELDS",
    "ChainVerification",
    "Checkpoint",
    "canonical_json",
    "event_hash",
    "verify_chain",
    "verify_export_lines",
    "verify_records",
]

GENESIS_HASH = "0" * 64

HASHED_FIELDS = (
    "seq",
    "timestamp",
    "actor_token_id",
    "actor_name",
    "action",
    "target_type",
    "target_id",
    "request_id",
    "payload",
)


def canonical_json(value: Any) -> str:
    """Serialise ``value`` the one way the chain hashes it: sorted keys, no spaces, UTF-8."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def event_hash(prev_hash: str, event: Mapping[str, Any]) -> str:
    """Return the hex SHA-256 of ``prev_hash`` followed by the canonical JSON of the event."""
    body = {field: event.get(field) for field in HASHED_FIELDS}
    return hashlib.sha256((prev_hash + canonical_json(body)).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChainVerification:
    """The outcome of recomputing a chain: ``ok``, how many events were checked, and where
    it first broke (``first_broken_seq``) with a human-readable ``message``; ``checkpoints``
    counts the checkpoints found to match the chain, and ``signed_seq`` is the last seq a
    checkpoint with a verified signature covers (None when no signature was checked)."""

    ok: bool
    checked: int
    first_broken_seq: int | None = None
    message: str = "chain intact"
    head_seq: int | None = None
    checkpoints: int = 0
    signed_seq: int | None = None


class _Broken(Exception):
    """Where and why a chain walk stopped."""

    def __init__(self, seq: int, message: str, head_seq: int | None = None) -> None:
        super().__init__(message)
        self.seq, self.message, self.head_seq = seq, message, head_seq


class _ChainWalk:
    """Recompute a chain one record at a time, holding checkpoints until their seq arrives."""

    def __init__(self, keys: Mapping[str, Any] | None) -> None:
        self.keys = keys
        self.seq = 0
        self.hash = GENESIS_HASH
        self.checked = 0
        self.waiting: dict[int, list[tuple[Checkpoint, bool]]] = {}
        self.matched = 0
        self.matched_seq = 0  # the last seq a checkpoint was found to match
        self.signed_seq: int | None = None

    def event(self, event: Mapping[str, Any]) -> None:
        expected = self.seq + 1
        seq = event.get("seq")
        if seq != expected:
            raise _Broken(
                expected, f"event seq {expected} is missing (the next event found has seq {seq})"
            )
        if event.get("prev_hash") != self.hash:
            raise _Broken(seq, f"event seq {seq} does not link to the event before it")
        recomputed = event_hash(self.hash, event)
        if recomputed != event.get("hash"):
            raise _Broken(seq, f"event seq {seq} was changed after it was written")
        self.checked += 1
        self.seq, self.hash = seq, recomputed
        if self.waiting and seq in self.waiting:
            for checkpoint, saved in self.waiting.pop(seq):
                self._match(checkpoint, saved)

    def checkpoint(self, checkpoint: Checkpoint, *, saved: bool = False) -> None:
        if self.keys is not None:
            self._check_signature(self.keys, checkpoint, saved)
        if checkpoint.seq == self.seq:
            self._match(checkpoint, saved)
        elif checkpoint.seq > self.seq:
            self.waiting.setdefault(checkpoint.seq, []).append((checkpoint, saved))
        else:
            raise _Broken(
                checkpoint.seq,
                f"the checkpoint of seq {checkpoint.seq} comes after event seq {self.seq}: "
                "the export is out of order",
            )

    @staticmethod
    def _check_signature(keys: Mapping[str, Any], checkpoint: Checkpoint, saved: bool) -> None:
        which = _which(checkpoint, saved)
        key = keys.get(checkpoint.key_id)
        if key is None:
            given = ", ".join(_short(k) for k in keys) or "none"
            raise _Broken(
                checkpoint.seq,
                f"{which} was signed by key {_short(checkpoint.key_id)}, not by the public "
                f"key given ({given})",
            )
        if not signature_verifies(key, checkpoint):
            raise _Broken(
                checkpoint.seq,
                f"{which} does not carry a valid signature by key {_short(checkpoint.key_id)}: "
                "it was forged or altered",
            )

    def _match(self, checkpoint: Checkpoint, saved: bool) -> None:
        if checkpoint.hash != self.hash:
            since = (
                f"after seq {self.matched_seq}, where the chain still matched a checkpoint"
                if 0 < self.matched_seq < checkpoint.seq
                else f"at or before seq {checkpoint.seq}"
            )
            when = "it was saved" if saved else "they were signed"
            raise _Broken(
                checkpoint.seq,
                f"event seq {checkpoint.seq} is not the one {_which(checkpoint, saved)} "
                f"records: events {since} were rewritten after {when}",
            )
        self.matched += 1
        self.matched_seq = max(self.matched_seq, checkpoint.seq)
        if self.keys is not None:
            self.signed_seq = max(self.signed_seq or 0, checkpoint.seq)

    def finish(
        self, head: Mapping[str, Any] | None, *, require_signed_head: bool
    ) -> ChainVerification:
        last = self.seq
        if head is not None:
            head_seq = int(head["seq"])
            if head_seq != last or (head_seq > 0 and head.get("hash") != self.hash):
                raise _Broken(
                    _first_seq_off_head(head_seq, last),
                    f"the chain head is at seq {head_seq} but the events end at seq {last}",
                    head_seq=head_seq,
                )
        if self.waiting:
            beyond = min(self.waiting)
            checkpoint, saved = self.waiting[beyond][0]
            when = "since it was saved" if saved else "from its end"
            raise _Broken(
                last + 1,
                f"{_which(checkpoint, saved)} covers seq {beyond}, but the trail ends at seq "
                f"{last}: events were deleted {when}",
            )
        if require_signed_head and self.keys is not None and self.signed_seq != last:
            covered = self.signed_seq or 0
            raise _Broken(
                covered + 1,
                f"the chain head (seq {last}) carries no signed checkpoint: events after seq "
                f"{covered} are not covered by a signature",
            )
        message = f"{self.checked} events, chain intact"
        if self.keys is not None and self.matched:
            message += f"; {self.matched} signed checkpoint(s) verified, the last at seq " + str(
                self.signed_seq
            )
        elif self.matched:
            message += f"; {self.matched} checkpoint(s) match, signatures not checked"
        return ChainVerification(
            True,
            self.checked,
            None,
            message,
            head_seq=last,
            checkpoints=self.matched,
            signed_seq=self.signed_seq,
        )

    def broken(self, stop: _Broken) -> ChainVerification:
        return ChainVerification(
            False,
            self.checked,
            stop.seq,
            stop.message,
            head_seq=stop.head_seq,
            checkpoints=self.matched,
            signed_seq=self.signed_seq,
        )


def _which(checkpoint: Checkpoint, saved: bool) -> str:
    if saved:
        return f"your saved checkpoint of seq {checkpoint.seq} ({checkpoint.timestamp})"
    return f"the checkpoint of seq {checkpoint.seq} signed {checkpoint.timestamp}"


def _short(key_id: str) -> str:
    return key_id[:16]


def verify_records(
    records: Iterable[Mapping[str, Any] | Checkpoint],
    *,
    head: Mapping[str, Any] | Callable[[], Mapping[str, Any] | None] | None = None,
    public_keys: Iterable[str | bytes] | None = None,
    since: Checkpoint | None = None,
    require_signed_head: bool = False,
) -> ChainVerification:
    """Recompute the chain over ``records`` in ``seq`` order: events, and checkpoints (a
    :class:`Checkpoint`, or ``{"checkpoint": {...}}``) placed after the event they cover.

    Detects a changed event (its hash no longer matches), a deleted or inserted event (a gap
    in ``seq`` or a ``prev_hash`` that does not link), events deleted from the end when the
    chain ``head`` (``{"seq", "hash"}``, or a callable returning it once the records are
    read) is given, and a chain rewritten and rehashed when a checkpoint no longer matches.
    With ``public_keys`` (PEM), every checkpoint's signature is checked and must be by one of
    them; ``require_signed_head`` then demands a checkpoint of the last event. ``since`` is a
    checkpoint saved earlier: the chain must still hold its hash at its seq (it was only
    appended to since).

    Raises:
        ImportError: ``public_keys`` were given and ``cryptography`` is not installed.
        ValueError: a public key or a checkpoint record is malformed.
    """
    keys = None if public_keys is None else load_public_keys(public_keys)
    walk = _ChainWalk(keys)
    try:
        if since is not None:
            walk.checkpoint(since, saved=True)
        for record in records:
            if isinstance(record, Checkpoint):
                walk.checkpoint(record)
            elif "checkpoint" in record:
                walk.checkpoint(Checkpoint.from_json(record["checkpoint"]))
            else:
                walk.event(record)
        if callable(head):
            head = head()
        return walk.finish(head, require_signed_head=require_signed_head)
    except _Broken as stop:
        return walk.broken(stop)


def verify_chain(
    events: Iterable[Mapping[str, Any]],
    *,
    head: Mapping[str, Any] | Callable[[], Mapping[str, Any] | None] | None = None,
) -> ChainVerification:
    """Recompute the hash chain over ``events`` alone (no checkpoints): see
    :func:`verify_records`."""
    return verify_records(events, head=head)


def _first_seq_off_head(head_seq: int, last_seq: int) -> int:
    if head_seq > last_seq:
        return last_seq + 1  # events deleted from the end
    if head_seq < last_seq:
        return head_seq + 1  # events appended without moving the head
    return last_seq  # same length, but the last event is not the one the head recorded


def verify_export_lines(
    lines: Iterable[str | bytes],
    *,
    public_keys: Iterable[str | bytes] | None = None,
    since: Checkpoint | None = None,
) -> ChainVerification:
    """Verify a JSON Lines export as written by ``GET /api/v1/audit/export``.

    Each line is an event, a checkpoint (``{"checkpoint": {...}}``, after the event it
    covers) or, last, ``{"chain_head": {"seq", "hash"}}``, which lets the verifier notice
    events deleted from the end of the trail. With ``public_keys``, every checkpoint's
    signature is checked and the export's head must be signed; with ``since``, the trail
    must extend that earlier checkpoint (see :func:`verify_records`).

    Raises:
        ValueError: a line is not a JSON object, or a checkpoint line or key is malformed.
        ImportError: ``public_keys`` were given and ``cryptography`` is not installed.
    """
    found: dict[str, Any] = {}

    def records() -> Iterator[Mapping[str, Any] | Checkpoint]:
        for number, raw in enumerate(lines, start=1):
            text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"line {number} is not JSON: {exc.msg}") from None
            if not isinstance(record, dict):
                raise ValueError(f"line {number} is not a JSON object")
            if "chain_head" in record:
                found["head"] = record["chain_head"]
                continue
            if "checkpoint" in record:
                try:
                    checkpoint = Checkpoint.from_json(record["checkpoint"])
                except ValueError as exc:
                    raise ValueError(f"line {number}: {exc}") from None
                yield checkpoint
                continue
            yield record

    return verify_records(
        records(),
        head=lambda: found.get("head"),
        public_keys=public_keys,
        since=since,
        require_signed_head=public_keys is not None,
    )
