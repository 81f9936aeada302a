"""``assay audit``: export the hash-chained audit trail, verify it on this machine, save a
signed checkpoint of its head and the public key checkpoints are signed with."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import requests

from assay._cli_common import EXIT_BROKEN, EXIT_OK, client_for, fail
from assay.audit import load_checkpoint, save_checkpoint, verify_audit_export
from assay.auditsigning import public_key_id
from assay.errors import AssayError
from assay.types import AuditVerification


def add_audit_commands(commands: Any) -> None:
    """Add ``audit`` and its actions to the ``assay`` command's subparsers."""
    audit = commands.add_parser("audit", help="export and verify the hash-chained audit trail")
    audit_commands = audit.add_subparsers(dest="audit_command", metavar="ACTION", required=True)

    verify = audit_commands.add_parser(
        "verify",
        help="recompute the audit chain on this machine",
        description="Recompute the audit trail's hash chain on this machine, from the "
        "server's export or from an export file, and check its signed checkpoints. Exit 0 "
        "if intact, 1 if broken.",
    )
    verify.add_argument(
        "--file", metavar="EXPORT.jsonl", help="verify this export file (needs no server)"
    )
    verify.add_argument(
        "--public-key",
        action="append",
        metavar="FILE|URL",
        help="check every checkpoint's signature with this public key (PEM, or the server's "
        "/api/v1/audit/public-key); repeat it for a trail signed across a key rotation. "
        "Without it, --file checks no signature and the server's own key is used otherwise",
    )
    verify.add_argument(
        "--since-checkpoint",
        metavar="FILE",
        help="a checkpoint saved earlier ('assay audit checkpoint'): prove the trail was only "
        "appended to since",
    )
    verify.set_defaults(handler=_audit_verify)

    export = audit_commands.add_parser(
        "export",
        help="download the audit trail as JSON Lines",
        description="Stream the audit trail to a JSON Lines file, with its signed "
        "checkpoints, ending with a checkpoint of its head and the chain head.",
    )
    export.add_argument("--out", required=True, metavar="FILE", help="the file to write")
    export.set_defaults(handler=_audit_export)

    checkpoint = audit_commands.add_parser(
        "checkpoint",
        help="save a signed checkpoint of the audit chain's head",
        description="Have the server sign its audit chain head now and save the checkpoint. "
        "Keep it where the server's database administrators cannot write (a CI artifact, an "
        "object store with a retention lock, an e-mail); 'assay audit verify "
        "--since-checkpoint FILE' later proves the trail was only appended to since.",
    )
    checkpoint.add_argument("--out", required=True, metavar="FILE", help="the file to write")
    checkpoint.set_defaults(handler=_audit_checkpoint)

    public_key = audit_commands.add_parser(
        "public-key",
        help="save the public key audit checkpoints are signed with",
        description="Save the server's checkpoint-signing public key (PEM) and print its id, "
        "to pin it for 'assay audit verify --public-key FILE'.",
    )
    public_key.add_argument("--out", required=True, metavar="FILE", help="the file to write")
    public_key.set_defaults(handler=_audit_public_key)


def _audit_verify(args: argparse.Namespace) -> int:
    since = load_checkpoint(args.since_checkpoint) if args.since_checkpoint else None
    keys = [_public_key_pem(source, args.timeout) for source in args.public_key or ()]
    served_key = False
    try:
        if args.file:
            result = verify_audit_export(args.file, public_key=keys or None, since=since)
            source = args.file
        else:
            with client_for(args) as client:
                if not keys and _can_check_signatures():
                    keys, served_key = [client.audit_public_key()], True
                result = client.verify_audit_locally(public_key=keys or None, since=since)
                source = client.base_url + "/audit/export"
    except ImportError as exc:  # a key was given, and checking it needs cryptography
        return fail(str(exc))
    print(_describe(result, source))
    if result.ok:
        print(_describe_signatures(keys, served_key))
        if since is not None:
            print(
                f"  append-only since your checkpoint of seq {since.seq} ({since.timestamp}): "
                "the trail still holds it"
            )
    return EXIT_OK if result.ok else EXIT_BROKEN


def _describe(result: AuditVerification, source: str) -> str:
    if result.ok:
        return f"audit chain intact: {result.checked} events checked ({source})"
    return (
        f"audit chain BROKEN at seq {result.first_broken_seq}: {result.message} "
        f"({result.checked} events verified before it; {source})"
    )


def _can_check_signatures() -> bool:
    try:
        import cryptography  # noqa: F401  (checking signatures imports it anyway)
    except ImportError:
        return False
    return True


def _describe_signatures(keys: list[str], served_key: bool) -> str:
    if not keys and not _can_check_signatures():
        return (
            "  checkpoint signatures NOT checked: that needs the cryptography package "
            "(pip install 'assay-ml[verify]')"
        )
    if not keys:
        return (
            "  checkpoint signatures NOT checked: pass --public-key FILE|URL "
            "(e.g. a key saved with 'assay audit public-key')"
        )
    ids = ", ".join(public_key_id(key)[:16] for key in keys)
    line = f"  every checkpoint signature verified, the chain head's too (key {ids})"
    if served_key:
        line += "; the key is the one the server serves now: pin it with --public-key"
    return line


_URL = re.compile(r"^https?://", re.IGNORECASE)


def _public_key_pem(source: str, timeout: float) -> str:
    """The PEM public key in a file or at a URL: PEM text, or the JSON of
    ``GET /api/v1/audit/public-key``."""
    if _URL.match(source):
        try:
            response = requests.get(source, timeout=timeout)
        except requests.RequestException as exc:
            raise AssayError(f"cannot fetch the public key from {source}: {exc}") from None
        if response.status_code != 200:
            raise AssayError(
                f"cannot fetch the public key from {source}: HTTP {response.status_code}"
            )
        text = response.text
    else:
        text = Path(source).read_text(encoding="utf-8", errors="replace")
    if text.lstrip().startswith("{"):
        try:
            text = str(json.loads(text).get("public_key") or "")
        except (ValueError, AttributeError):
            text = ""
    try:
        public_key_id(text)
    except ValueError:
        raise ValueError(f"{source} holds no PEM public key") from None
    return text


def _audit_checkpoint(args: argparse.Namespace) -> int:
    with client_for(args) as client:
        checkpoint = client.checkpoint_audit()
    save_checkpoint(checkpoint, args.out)
    print(
        f"saved the checkpoint of seq {checkpoint.seq} (signed {checkpoint.timestamp} by key "
        f"{checkpoint.key_id[:16]}) to {args.out}; keep it where the server's database "
        "administrators cannot write"
    )
    return EXIT_OK


def _audit_public_key(args: argparse.Namespace) -> int:
    with client_for(args) as client:
        pem = client.audit_public_key()
    Path(args.out).write_text(pem, encoding="utf-8")
    print(f"saved the public key {public_key_id(pem)} to {args.out}")
    return EXIT_OK


def _audit_export(args: argparse.Namespace) -> int:
    with client_for(args) as client:
        events = client.export_audit(args.out)
    print(f"exported {events} audit events to {args.out}")
    return EXIT_OK
