"""The ``assay`` command: verify and export the audit trail from a shell or a CI job.

Exit codes: 0 success (for ``audit verify``: the chain is intact), 1 the chain is broken,
2 a usage error, a missing URL or token, an unreachable server or an error answer.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from assay._http import VERSION
from assay.client import Client, verify_audit_export
from assay.errors import AssayError
from assay.types import AuditVerification

__all__ = ["main"]

EXIT_OK = 0
EXIT_BROKEN = 1
EXIT_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``assay`` command."""
    parser = argparse.ArgumentParser(
        prog="assay",
        description="Command-line tools for an Assay server (ML model governance).",
        epilog="The URL and token default to the ASSAY_URL and ASSAY_TOKEN variables.",
    )
    parser.add_argument("--version", action="version", version=f"assay {VERSION}")
    parser.add_argument("--url", help="the Assay server, e.g. http://127.0.0.1:8080")
    parser.add_argument("--token", help="an API token (asy_...)")
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="seconds to wait for the server (30)"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    audit = commands.add_parser("audit", help="export and verify the hash-chained audit trail")
    audit_commands = audit.add_subparsers(dest="audit_command", metavar="ACTION", required=True)

    verify = audit_commands.add_parser(
        "verify",
        help="recompute the audit chain on this machine",
        description="Recompute the audit trail's hash chain on this machine, from the "
        "server's export or from an export file. Exit 0 if intact, 1 if broken.",
    )
    verify.add_argument(
        "--file", metavar="EXPORT.jsonl", help="verify this export file (needs no server)"
    )
    verify.set_defaults(handler=_audit_verify)

    export = audit_commands.add_parser(
        "export",
        help="download the audit trail as JSON Lines",
        description="Stream the audit trail to a JSON Lines file, ending with its chain head.",
    )
    export.add_argument("--out", required=True, metavar="FILE", help="the file to write")
    export.set_defaults(handler=_audit_export)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``assay`` command with ``argv`` (default: the process's) and return its exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    try:
        return int(args.handler(args))
    except AssayError as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"{exc.filename or 'file'}: {exc.strerror or exc}")
    except ValueError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return _fail("interrupted")


def _client(args: argparse.Namespace) -> Client:
    url = args.url or os.environ.get("ASSAY_URL")
    token = args.token or os.environ.get("ASSAY_TOKEN")
    if not url:
        raise AssayError("no server URL: pass --url or set ASSAY_URL")
    if not token:
        raise AssayError("no API token: pass --token or set ASSAY_TOKEN")
    return Client(url, token, timeout=args.timeout)


def _audit_verify(args: argparse.Namespace) -> int:
    if args.file:
        result = verify_audit_export(args.file)
        source = args.file
    else:
        with _client(args) as client:
            result = client.verify_audit_locally()
            source = client.base_url + "/audit/export"
    print(_describe(result, source))
    return EXIT_OK if result.ok else EXIT_BROKEN


def _describe(result: AuditVerification, source: str) -> str:
    if result.ok:
        return f"audit chain intact: {result.checked} events checked ({source})"
    return (
        f"audit chain BROKEN at seq {result.first_broken_seq}: {result.message} "
        f"({result.checked} events verified before it; {source})"
    )


def _audit_export(args: argparse.Namespace) -> int:
    with _client(args) as client:
        events = client.export_audit(args.out)
    print(f"exported {events} audit events to {args.out}")
    return EXIT_OK


def _fail(message: str) -> int:
    print(f"assay: error: {message}", file=sys.stderr)
    return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
