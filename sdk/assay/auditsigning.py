"""The audit chain's signed checkpoints: the bytes signed, key ids, and the signature check.

A :class:`Checkpoint` states that the chain's event ``seq`` had ``hash``; the server signs
:func:`checkpoint_bytes` with its Ed25519 key (the shape of Certificate Transparency's signed
tree heads and of C2SP checkpoints, kept to what a hash chain needs). Reading checkpoints and
key ids needs the standard library alone; checking a signature needs the ``cryptography``
package (``pip install 'assay-ml[verify]'``), imported only then.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CHECKPOINT_ORIGIN",
    "Checkpoint",
    "checkpoint_bytes",
    "key_id_of",
    "load_public_keys",
    "public_key_id",
    "signature_verifies",
]

#: The first line of every signed checkpoint: what the bytes are, and their version.
CHECKPOINT_ORIGIN = "assay-audit-checkpoint/v1"

_HEX64 = re.compile(r"^[0-9a-f]{64}\Z")
_PEM_PUBLIC_KEY = re.compile(r"-----BEGIN PUBLIC KEY-----(.*?)-----END PUBLIC KEY-----", re.S)
_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z\Z")
_NEEDS_CRYPTOGRAPHY = (
    "checking the audit checkpoints' signatures needs the cryptography package: "
    "pip install 'assay-ml[verify]'"
)


def checkpoint_bytes(seq: int, hash: str, timestamp: str, key_id: str) -> bytes:
    """The bytes a checkpoint's Ed25519 signature is made over: five ASCII lines, each ending
    in ``\\n`` — :data:`CHECKPOINT_ORIGIN`, ``seq`` in decimal, the event's ``hash`` (64
    lowercase hex), the ``timestamp`` of signing (``YYYY-MM-DDTHH:MM:SS.ffffffZ``, UTC) and the
    ``key_id`` (64 lowercase hex)."""
    return f"{CHECKPOINT_ORIGIN}\n{seq}\n{hash}\n{timestamp}\n{key_id}\n".encode("ascii")


def key_id_of(public_key_der: bytes) -> str:
    """A public key's id: the hex SHA-256 of its DER SubjectPublicKeyInfo (the bytes inside
    its PEM), as Certificate Transparency names a log's key."""
    return hashlib.sha256(public_key_der).hexdigest()


def public_key_id(pem: str | bytes) -> str:
    """The key id of a PEM public key (:func:`key_id_of` its DER), with the standard library.

    Raises:
        ValueError: ``pem`` holds no PEM public key.
    """
    text = pem.decode("ascii", "replace") if isinstance(pem, bytes) else pem
    match = _PEM_PUBLIC_KEY.search(text)
    if match is None:
        raise ValueError("not a PEM public key (-----BEGIN PUBLIC KEY-----)")
    try:
        der = base64.b64decode("".join(match.group(1).split()), validate=True)
    except binascii.Error:
        raise ValueError("not a PEM public key: its body is not base64") from None
    return key_id_of(der)


@dataclass(frozen=True)
class Checkpoint:
    """The server's signed statement that the chain's event ``seq`` had ``hash`` (seq 0 and
    :data:`GENESIS_HASH` for an empty trail), made at ``timestamp`` with the key ``key_id``;
    ``signature`` is the base64 Ed25519 signature over :meth:`signed_bytes`."""

    seq: int
    hash: str
    timestamp: str
    key_id: str
    signature: str

    def signed_bytes(self) -> bytes:
        """The bytes the signature covers (:func:`checkpoint_bytes`)."""
        return checkpoint_bytes(self.seq, self.hash, self.timestamp, self.key_id)

    def to_json(self) -> dict[str, Any]:
        """The checkpoint as the export, the API and a saved checkpoint file hold it."""
        return {
            "seq": self.seq,
            "hash": self.hash,
            "timestamp": self.timestamp,
            "key_id": self.key_id,
            "signature": self.signature,
        }

    @classmethod
    def from_json(cls, data: object) -> Checkpoint:
        """Read a checkpoint, refusing any field that could frame other signed bytes.

        Raises:
            ValueError: a field is missing or malformed.
        """
        if not isinstance(data, Mapping):
            raise ValueError("a checkpoint must be a JSON object")
        seq, digest, timestamp = data.get("seq"), data.get("hash"), data.get("timestamp")
        key_id, signature = data.get("key_id"), data.get("signature")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            raise ValueError("a checkpoint's seq must be a whole number >= 0")
        if not isinstance(digest, str) or not _HEX64.match(digest):
            raise ValueError("a checkpoint's hash must be 64 lowercase hex digits")
        if not isinstance(timestamp, str) or not _TIMESTAMP.match(timestamp):
            raise ValueError("a checkpoint's timestamp must look like 2026-01-31T12:00:00.000000Z")
        if not isinstance(key_id, str) or not _HEX64.match(key_id):
            raise ValueError("a checkpoint's key_id must be 64 lowercase hex digits")
        if not isinstance(signature, str) or not signature:
            raise ValueError("a checkpoint's signature must be base64 text")
        return cls(seq, digest, timestamp, key_id, signature)


def load_public_keys(pems: Iterable[str | bytes]) -> dict[str, Any]:
    """Load Ed25519 public keys from PEM text, by key id.

    Raises:
        ImportError: the ``cryptography`` package is not installed.
        ValueError: a PEM is not an Ed25519 public key.
    """
    try:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
        from cryptography.hazmat.primitives.serialization import (
            Encoding,
            PublicFormat,
            load_pem_public_key,
        )
    except ImportError:
        raise ImportError(_NEEDS_CRYPTOGRAPHY) from None
    keys: dict[str, Any] = {}
    for pem in pems:
        data = pem.encode("ascii", "replace") if isinstance(pem, str) else pem
        try:
            key = load_pem_public_key(data)
        except (ValueError, TypeError):
            raise ValueError("not a PEM public key (-----BEGIN PUBLIC KEY-----)") from None
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("not an Ed25519 public key: audit checkpoints are signed with Ed25519")
        der = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        keys[key_id_of(der)] = key
    return keys


def signature_verifies(key: Any, checkpoint: Checkpoint) -> bool:
    from cryptography.exceptions import InvalidSignature

    try:
        signature = base64.b64decode(checkpoint.signature, validate=True)
        key.verify(signature, checkpoint.signed_bytes())
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True
