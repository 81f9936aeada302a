"""The ``assay`` command: the CI/CD gate, policies, compliance reports and the audit trail.

Exit codes: 0 success (``audit verify``: the chain is intact, every checkpoint signature checked
verifies, and the trail extends the saved checkpoint; ``gate check``: the version is approved
for the stage), 1 the chain is broken / the gate is closed (blocked, pending, rejected), 2 a
usage error, a missing URL or token, an unreachable server, an error answer, or a key or
checkpoint file that cannot be read.

The ``audit`` actions live in :mod:`assay._cli_audit`, the ``gate`` actions in
:mod:`assay._cli_gate`; this module builds the parser, runs a command, and holds the
``policies`` and ``compliance-report`` commands.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from assay._cli_audit import add_audit_commands
from assay._cli_common import EXIT_BROKEN as EXIT_BROKEN  # the exit codes stay named here
from assay._cli_common import EXIT_ERROR, EXIT_OK, client_for, fail
from assay._cli_gate import add_gate_commands
from assay._http import VERSION
from assay.errors import AssayError, ValidationError

__all__ = ["main"]


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
    add_audit_commands(commands)
    _add_governance_commands(commands)
    return parser


def _add_governance_commands(commands: Any) -> None:
    add_gate_commands(commands)

    policies = commands.add_parser("policies", help="policy-as-code files")
    policy_commands = policies.add_subparsers(
        dest="policies_command", metavar="ACTION", required=True
    )
    apply = policy_commands.add_parser(
        "apply",
        help="apply a directory of policy YAML files (admin token)",
        description="Send every *.yaml / *.yml file of each DIR (or each FILE) to the server. "
        "A new or changed policy becomes a new version; nothing is applied if any file is "
        "wrong, and every error is printed with its file, rule and field.",
    )
    apply.add_argument("paths", nargs="+", metavar="DIR|FILE")
    apply.set_defaults(handler=_policies_apply)

    report = commands.add_parser(
        "compliance-report",
        help="download a version's compliance report",
        description="Write the compliance report of VERSION of MODEL: a printable HTML page, "
        "or the JSON evidence bundle with --format json.",
    )
    report.add_argument("model")
    report.add_argument("--version", dest="model_version", metavar="N", type=int, required=True)
    report.add_argument("--out", required=True, metavar="FILE", help="the file to write")
    report.add_argument(
        "--format",
        choices=("html", "json"),
        default=None,
        help="html or json (default: from the --out suffix, else html)",
    )
    report.set_defaults(handler=_compliance_report)


def _policies_apply(args: argparse.Namespace) -> int:
    with client_for(args) as client:
        try:
            applied = client.apply_policies(args.paths)
        except ValidationError as exc:
            errors = exc.details.get("errors") if isinstance(exc.details, dict) else None
            if not errors:
                raise
            for error in errors:
                where = error["file"] + (f", rule {error['rule']}" if error.get("rule") else "")
                for message in error["messages"]:
                    print(f"{where}, field {error['field']}: {message}", file=sys.stderr)
            return fail(f"{len(errors)} error(s): nothing was applied")
    for item in applied:
        print(f"{item.status:<9} {item.name} v{item.version} ({item.filename})")
    return EXIT_OK


def _compliance_report(args: argparse.Namespace) -> int:
    fmt = args.format or ("json" if args.out.lower().endswith(".json") else "html")
    with client_for(args) as client:
        client.compliance_report(args.model, args.model_version, format=fmt, path=args.out)
    print(f"wrote the compliance report of {args.model} v{args.model_version} to {args.out}")
    return EXIT_OK


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
        return fail(str(exc))
    except OSError as exc:
        return fail(f"{exc.filename or 'file'}: {exc.strerror or exc}")
    except ValueError as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        return fail("interrupted")


if __name__ == "__main__":
    sys.exit(main())
