"""The checkpoint format the SDK verifies without the server: its signed bytes, what a
checkpoint may hold, key ids, and the error when ``cryptography`` is missing."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from assay.auditchain import GENESIS_HASH, verify_export_lines
from assay.auditsigning import Checkpoint, checkpoint_bytes, public_key_id

pytestmark = pytest.mark.store_independent  # pure: the SQLite run is enough

HASH, KEY_ID = "ab" * 32, "cd" * 32
TIMESTAMP = "2026-11-30T12:00:00.123456Z"


def test_a_checkpoint_signs_five_ascii_lines() -> None:
    assert checkpoint_bytes(1000, HASH, TIMESTAMP, KEY_ID) == (
        b"assay-audit-checkpoint/v1\n1000\n" + HASH.encode() + b"\n"
        b"2026-11-30T12:00:00.123456Z\n" + KEY_ID.encode() + b"\n"
    )


@pytest.mark.parametrize(
    "change",
    [
        {"seq": -1},
        {"seq": "7"},
        {"seq": True},
        {"hash": HASH + "\n999"},
        {"hash": HASH.upper()},
        {"timestamp": "2026-11-30 12:00:00"},
        {"timestamp": TIMESTAMP + "\nx"},
        {"key_id": "k"},
        {"signature": ""},
    ],
)
def test_a_checkpoint_that_could_frame_other_bytes_is_refused(change: dict[str, object]) -> None:
    valid = {"seq": 7, "hash": HASH, "timestamp": TIMESTAMP, "key_id": KEY_ID, "signature": "x"}
    assert Checkpoint.from_json(valid).seq == 7

    with pytest.raises(ValueError, match="checkpoint's"):
        Checkpoint.from_json({**valid, **change})


def test_a_key_id_is_the_sha256_of_the_public_keys_der() -> None:
    public = Ed25519PrivateKey.generate().public_key()
    pem = public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    der = public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)

    assert public_key_id(pem) == public_key_id(pem.decode()) == hashlib.sha256(der).hexdigest()
    with pytest.raises(ValueError, match="not a PEM public key"):
        public_key_id("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")


def test_a_checkpoint_signed_with_the_documented_bytes_verifies_offline() -> None:
    private = Ed25519PrivateKey.generate()
    pem = private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    key_id = public_key_id(pem)
    signature = private.sign(checkpoint_bytes(0, GENESIS_HASH, TIMESTAMP, key_id))
    checkpoint = {
        "seq": 0,
        "hash": GENESIS_HASH,
        "timestamp": TIMESTAMP,
        "key_id": key_id,
        "signature": base64.b64encode(signature).decode(),
    }
    lines = [
        json.dumps({"checkpoint": checkpoint}),
        json.dumps({"chain_head": {"seq": 0, "hash": GENESIS_HASH}}),
    ]

    assert verify_export_lines(lines, public_keys=[pem]).ok
    with pytest.raises(ValueError, match="line 1: a checkpoint's seq"):
        verify_export_lines([json.dumps({"checkpoint": {**checkpoint, "seq": -1}})])


def test_checking_signatures_without_cryptography_says_what_to_install(
    tmp_path: Path, sdk_env: dict[str, str]
) -> None:
    export, key = tmp_path / "audit.jsonl", tmp_path / "key.pem"
    export.write_text(json.dumps({"chain_head": {"seq": 0, "hash": GENESIS_HASH}}) + "\n")
    key.write_bytes(
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    code = (
        "import sys; sys.modules['cryptography'] = None; from assay.cli import main; "
        f"sys.exit(main(['audit', 'verify', '--file', {str(export)!r}, "
        f"'--public-key', {str(key)!r}]))"
    )

    result = subprocess.run(
        [sys.executable, "-c", code], env=sdk_env, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 2, result.stderr
    assert "pip install 'assay-ml[verify]'" in result.stderr
    assert "Traceback" not in result.stderr
