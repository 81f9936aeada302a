"""Verify the webhooks an Assay server sends (the Standard Webhooks scheme), stdlib only.

Every delivery carries three headers: ``webhook-id`` (the event id), ``webhook-timestamp``
(integer epoch seconds of the attempt) and ``webhook-signature`` (space-separated
``v1,<base64>`` entries, one per active secret while a channel's secret is rotated), each
signature being ``HMAC-SHA256(key, f"{id}.{timestamp}.{body}")`` with ``key`` the base64
decoding of the channel's ``whsec_...`` secret.

Delivery is at least once: a failed attempt is retried with the same ``webhook-id`` (and a new
timestamp and signature), so a receiver should treat the id as an idempotency key::

    from assay import webhooks

    def receive(request):
        try:
            event = webhooks.verify(request.headers, request.get_data(), SECRET)
        except webhooks.WebhookVerificationError:
            return "", 401
        if already_seen(event["id"]):
            return "", 204
        ...

Verify the raw body bytes exactly as received: parsing and re-serialising the JSON first
changes the bytes and the signature no longer matches.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

__all__ = ["DEFAULT_TOLERANCE", "WebhookVerificationError", "verify"]

DEFAULT_TOLERANCE = 300  # seconds either side of the receiver's clock
_SECRET_PREFIX = "whsec_"


class WebhookVerificationError(Exception):
    """The delivery is not authentic, or not fresh: answer it with 401 and do not process it."""


def verify(
    headers: Mapping[str, str],
    body: bytes | str,
    secret: str,
    tolerance: int = DEFAULT_TOLERANCE,
) -> dict[str, Any]:
    """Check a delivery's signature and timestamp; return its JSON payload.

    ``headers`` is any mapping of the request's headers (names in any case), ``body`` the raw
    body, ``secret`` the channel's ``whsec_...`` secret (the prefix may be left off).
    Raises :class:`WebhookVerificationError` when a header is missing or malformed, when the
    timestamp is more than ``tolerance`` seconds from now (a replay, or a skewed clock), or when
    no ``v1`` signature matches.
    """
    lowered = {str(name).lower(): value for name, value in headers.items()}
    message_id = lowered.get("webhook-id")
    timestamp_text = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    if not (message_id and timestamp_text and signatures):
        raise WebhookVerificationError(
            "missing webhook-id, webhook-timestamp or webhook-signature header"
        )
    timestamp = _fresh_timestamp(timestamp_text, tolerance)
    raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    signed = f"{message_id}.{timestamp}.".encode() + raw
    expected = hmac.new(_key_bytes(secret), signed, hashlib.sha256).digest()
    if not any(hmac.compare_digest(expected, given) for given in _v1_signatures(signatures)):
        raise WebhookVerificationError("no webhook-signature entry matches the secret")
    try:
        payload = json.loads(raw)
    except ValueError:
        raise WebhookVerificationError("the signed body is not JSON") from None
    if not isinstance(payload, dict):
        raise WebhookVerificationError("the signed body is not a JSON object")
    return payload


def _fresh_timestamp(text: str, tolerance: int) -> int:
    """The header's epoch seconds, if within ``tolerance`` of now."""
    stripped = text.strip()
    if not (stripped.isascii() and stripped.isdigit()):
        raise WebhookVerificationError(f"webhook-timestamp is not integer epoch seconds: {text!r}")
    timestamp = int(stripped)
    skew = time.time() - timestamp
    if skew > tolerance:
        raise WebhookVerificationError(
            f"webhook-timestamp is {int(skew)} s old (limit {tolerance} s)"
        )
    if -skew > tolerance:
        raise WebhookVerificationError(
            f"webhook-timestamp is {int(-skew)} s in the future (limit {tolerance} s)"
        )
    return timestamp


def _key_bytes(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret (or of its bare base64)."""
    encoded = secret[len(_SECRET_PREFIX) :] if secret.startswith(_SECRET_PREFIX) else secret
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise WebhookVerificationError("the secret is not whsec_ followed by base64") from None
    if not key:
        raise WebhookVerificationError("the secret is empty")
    return key


def _v1_signatures(header: str) -> list[bytes]:
    """The decoded ``v1`` signatures of a header; other versions and bad entries are skipped."""
    found = []
    for entry in header.split():
        version, _, encoded = entry.partition(",")
        if version != "v1":
            continue
        try:
            found.append(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            continue
    return found
