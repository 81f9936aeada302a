"""Webhook secrets and signatures, following the Standard Webhooks scheme.

A secret is ``whsec_`` followed by the base64 of 24 to 64 random key bytes. A signature is
``v1,`` followed by the base64 of ``HMAC-SHA256(key, f"{id}.{timestamp}.{body}")``; the
``webhook-signature`` header carries one such entry per active secret, space-separated, so a
receiver keeps verifying while a channel's secret is being rotated. Receivers verify with
``assay.webhooks.verify`` (the SDK), which implements the same scheme with the standard library.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Sequence

__all__ = [
    "KEY_BYTES",
    "MAX_KEY_BYTES",
    "MIN_KEY_BYTES",
    "SECRET_PREFIX",
    "decode_secret",
    "generate_secret",
    "sign",
    "signature_header",
]

SECRET_PREFIX = "whsec_"
KEY_BYTES = 32  # what generate_secret draws
MIN_KEY_BYTES = 24  # the Standard Webhooks bounds (192 to 512 bits)
MAX_KEY_BYTES = 64


def generate_secret() -> str:
    """Return a new random secret: ``whsec_`` + base64 of 32 key bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def decode_secret(secret: str) -> bytes:
    """Return the key bytes of a ``whsec_`` secret; ValueError says what is wrong with it."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"a webhook secret starts with {SECRET_PREFIX!r}")
    encoded = secret[len(SECRET_PREFIX) :]
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"a webhook secret is {SECRET_PREFIX!r} followed by base64") from None
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        raise ValueError(
            f"a webhook secret's key is {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes, not {len(key)}"
        )
    return key


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """Return one ``v1,<base64 signature>`` entry for ``body`` sent as ``message_id`` at
    ``timestamp`` (integer epoch seconds)."""
    if "." in message_id:
        # the id and timestamp are joined with dots: one inside the id would make two
        # different (id, body) pairs sign the same bytes
        raise ValueError("a webhook message id must not contain '.'")
    signed = f"{message_id}.{int(timestamp)}.".encode() + body
    digest = hmac.new(decode_secret(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signature_header(
    secrets_newest_first: Sequence[str], message_id: str, timestamp: int, body: bytes
) -> str:
    """Return the ``webhook-signature`` value: one ``v1`` entry per secret, space-separated."""
    if not secrets_newest_first:
        raise ValueError("a webhook channel needs at least one secret to sign with")
    return " ".join(sign(secret, message_id, timestamp, body) for secret in secrets_newest_first)
