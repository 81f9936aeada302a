"""The server's audit signing key: Ed25519, one PEM file created at first start, never logged.

The key signs checkpoints of the audit chain (:class:`assay.auditsigning.Checkpoint`). Its
private half stays in the file (``ASSAY_AUDIT_SIGNING_KEY_FILE``, else
``$ASSAY_DATA_DIR/audit_signing_key.pem``, mode 0600); its public half and key id are served
by ``GET /api/v1/audit/public-key`` so that anyone can verify an export offline.
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
import stat
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)

from assay.auditsigning import Checkpoint, checkpoint_bytes, key_id_of

from ..db import TIMESTAMP_FORMAT
from ..errors import Unavailable
from ..settings import Settings

log = logging.getLogger(__name__)

ALGORITHM = "Ed25519"


@dataclass(frozen=True)
class PublicKey:
    """What anyone may know of the signing key: its id, algorithm and PEM."""

    key_id: str
    algorithm: str
    public_key: str


class SigningKey:
    """The Ed25519 key checkpoints are signed with."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private_key = private_key
        public = private_key.public_key()
        self.key_id = key_id_of(
            public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        )
        self.public_pem = public.public_bytes(
            Encoding.PEM, PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")

    def __repr__(self) -> str:
        return f"SigningKey(key_id={self.key_id!r})"  # never the private half

    def public(self) -> PublicKey:
        """The public half, as ``GET /audit/public-key`` serves it."""
        return PublicKey(key_id=self.key_id, algorithm=ALGORITHM, public_key=self.public_pem)

    def sign(self, seq: int, hash: str, at: datetime) -> Checkpoint:
        """Sign the chain's ``hash`` at ``seq``, timestamped ``at`` (UTC)."""
        timestamp = at.strftime(TIMESTAMP_FORMAT)
        signature = self._private_key.sign(checkpoint_bytes(seq, hash, timestamp, self.key_id))
        return Checkpoint(
            seq=seq,
            hash=hash,
            timestamp=timestamp,
            key_id=self.key_id,
            signature=base64.b64encode(signature).decode("ascii"),
        )


def signing_key(settings: Settings) -> SigningKey:
    """The server's signing key, read from its file, which is created if it does not exist.

    Read at each use, not cached: a checkpoint is signed once per thousands of events, and
    reading plus parsing the file took about 0.1 ms.

    Raises:
        Unavailable: the file cannot be read or created, or holds no Ed25519 private key
            (the reason is logged with the file's path; never the key).
    """
    path = settings.audit_signing_key_path
    try:
        pem = _read_or_create(path)
        key = load_pem_private_key(pem, password=None)
    except (OSError, ValueError, TypeError, UnsupportedAlgorithm) as exc:
        log.error("the audit signing key %s cannot be used: %s", path, type(exc).__name__)
        raise Unavailable("The audit signing key cannot be used; see the server's log.") from None
    if not isinstance(key, Ed25519PrivateKey):
        log.error("the audit signing key %s is not an Ed25519 private key", path)
        raise Unavailable("The audit signing key cannot be used; see the server's log.")
    return SigningKey(key)


def _read_or_create(path: Path) -> bytes:
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        return _create(path)
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("the audit signing key %s is readable by others (mode %o)", path, mode & 0o777)
    return pem


def _create(path: Path) -> bytes:
    """Write a new key to ``path`` atomically: several processes starting at once keep one."""
    pem = Ed25519PrivateKey.generate().private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as out:
            out.write(pem)
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(draft, path)  # fails if another process created the key first
            log.info("created the audit signing key %s", path)
        except FileExistsError:
            pass
    finally:
        draft.unlink(missing_ok=True)
    return path.read_bytes()
