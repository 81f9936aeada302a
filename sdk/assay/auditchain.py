"""The audit trail's hash chain: canonical form, event hash, and an offline verifier.

The server and the ``assay audit verify`` command share these few functions, so that an
auditor can recompute the chain on their own machine from an export, with the standard
library alone, without trusting the server's own check.

Each event's hash is ``sha256(prev_hash + canonical_json(body))`` where ``body`` holds the
fields listed in :data:`HASHED_FIELDS`; the first event's ``prev_hash`` is :data:`GENESIS_HASH`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "GENESIS_HASH",
    "HASHED_FIELDS",
    "ChainVerification",
    "canonical_json",
    "event_hash",
    "verify_chain",
    "verify_export_lines",
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
    it first broke (``first_broken_seq``) with a human-readable ``message``."""

    ok: bool
    checked: int
    first_broken_seq: int | None = None
    message: str = "chain intact"
    head_seq: int | None = None


def verify_chain(
    events: Iterable[Mapping[str, Any]],
    *,
    head: Mapping[str, Any] | Callable[[], Mapping[str, Any] | None] | None = None,
) -> ChainVerification:
    """Recompute the chain over ``events`` in ``seq`` order.

    Detects a changed event (its hash no longer matches), a deleted or inserted event (a gap
    in ``seq`` or a ``prev_hash`` that does not link), and, when the chain ``head``
    (``{"seq", "hash"}``, or a callable returning it once the events are read) is given,
    events deleted from the end.
    """
    expected_seq = 1
    prev_hash = GENESIS_HASH
    checked = 0
    for event in events:
        seq = event.get("seq")
        if seq != expected_seq:
            return ChainVerification(
                False,
                checked,
                expected_seq,
                f"event seq {expected_seq} is missing (the next event found has seq {seq})",
            )
        if event.get("prev_hash") != prev_hash:
            return ChainVerification(
                False, checked, seq, f"event seq {seq} does not link to the event before it"
            )
        recomputed = event_hash(prev_hash, event)
        if recomputed != event.get("hash"):
            return ChainVerification(
                False, checked, seq, f"event seq {seq} was changed after it was written"
            )
        checked += 1
        prev_hash = recomputed
        expected_seq += 1
    last_seq = expected_seq - 1
    if callable(head):
        head = head()
    if head is not None:
        head_seq = int(head["seq"])
        if head_seq != last_seq or (head_seq > 0 and head.get("hash") != prev_hash):
            return ChainVerification(
                False,
                checked,
                _first_seq_off_head(head_seq, last_seq),
                f"the chain head is at seq {head_seq} but the events end at seq {last_seq}",
                head_seq=head_seq,
            )
    return ChainVerification(
        True, checked, None, f"{checked} events, chain intact", head_seq=last_seq
    )


def _first_seq_off_head(head_seq: int, last_seq: int) -> int:
    if head_seq > last_seq:
        return last_seq + 1  # events deleted from the end
    if head_seq < last_seq:
        return head_seq + 1  # events appended without moving the head
    return last_seq  # same length, but the last event is not the one the head recorded


def verify_export_lines(lines: Iterable[str | bytes]) -> ChainVerification:
    """Verify a JSON Lines export as written by ``GET /api/v1/audit/export``.

    Each line is one event; the export's last line, ``{"chain_head": {"seq", "hash"}}``,
    lets the verifier notice events deleted from the end of the trail. Raises
    ``ValueError`` for a line that is not JSON.
    """
    found: dict[str, Any] = {}

    def events() -> Iterator[Mapping[str, Any]]:
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
            yield record

    return verify_chain(events(), head=lambda: found.get("head"))
