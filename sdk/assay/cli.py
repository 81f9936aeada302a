"""The ``assay`` command: the CI/CD gate, policies, compliance reports and the audit trail.

Exit codes: 0 success (``audit verify``: the chain is intact, every checkpoint signature checked
verifies, and the trail extends the saved checkpoint; ``gate check``: the version is approved
for the stage), 1 the chain is broken / the gate is closed (blocked, pending, rejected), 2 a
usage error, a missing URL or token, an unreachable server, an error answer, or a key or
checkpoint file that cannot be read.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import requests

from assay._http import VERSION
from assay.audit import load_checkpoint, save_checkpoint, verify_audit_export
from assay.auditsigning import public_key_id
from assay.client import Client
from assay.errors import AssayError, Conflict, PermissionDenied, ValidationError
from assay.promotions import GateStatus
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
    _add_governance_commands(commands)
    return parser


def _add_governance_commands(commands: Any) -> None:
    gate = commands.add_parser("gate", help="the approval gate, for CI/CD pipelines")
    gate_commands = gate.add_subparsers(dest="gate_command", metavar="ACTION", required=True)
    check = gate_commands.add_parser(
        "check",
        help="exit 0 if the version is approved for the stage, 1 if not",
        description="Ask whether VERSION of MODEL is approved for STAGE. Exit 0 when it is, "
        "1 when the request is blocked, pending or rejected (each failing rule is printed "
        "with its observed value and threshold), 2 on a usage or connection error.",
    )
    _model_args(check)
    check.add_argument(
        "--wait",
        metavar="DURATION",
        type=_duration,
        default=0.0,
        help="keep asking until approved, rejected or this long has passed (30m, 90s, 1h)",
    )
    check.add_argument("--json", action="store_true", help="print the gate's answer as JSON")
    check.set_defaults(handler=_gate_check)

    request = gate_commands.add_parser(
        "request",
        help="open a promotion request",
        description="Ask to promote VERSION of MODEL to STAGE; the policies are evaluated "
        "at once and the request's status and failing rules printed.",
    )
    _model_args(request)
    request.add_argument("--reason", default="", help="why (shown to the approvers)")
    request.add_argument("--json", action="store_true", help="print the request as JSON")
    request.set_defaults(handler=_gate_request)

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


def _model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="the model's name")
    parser.add_argument(
        "--version", dest="model_version", type=int, required=True, help="the version number"
    )
    parser.add_argument("--stage", required=True, choices=("staging", "production"))


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*\Z")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}

#: Seconds between two questions while ``gate check --wait`` waits (tests shorten it).
POLL_SECONDS = 15.0


def _duration(text: str) -> float:
    match = _DURATION.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (use e.g. 30m, 90s, 1h)")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


#: Gate states no waiting changes: an admin's override is one, whether or not it passes.
_FINAL = {"rejected", "cancelled", "superseded", "override"}


def _gate_check(args: argparse.Namespace) -> int:
    deadline = time.monotonic() + args.wait
    may_evaluate = True
    with _client(args) as client:
        while True:
            status = client.gate(args.model, args.model_version, args.stage)
            remaining = deadline - time.monotonic()
            if status.passed or status.status in _FINAL or remaining <= 0:
                break
            time.sleep(min(POLL_SECONDS, remaining))
            if status.status == "blocked" and status.promotion_id and may_evaluate:
                # Evidence may have arrived while waiting: ask for a re-evaluation (needs a
                # contributor token; with a viewer token, someone else has to ask).
                try:
                    client.evaluate_promotion(status.promotion_id)
                except PermissionDenied:
                    may_evaluate = False
                except Conflict:  # decided meanwhile: the next question tells
                    pass
    if args.json:
        print(json.dumps(_gate_json(status), indent=2, default=str))
    else:
        print(_describe_gate(status))
    return EXIT_OK if status.passed else EXIT_BROKEN


def _gate_json(status: GateStatus) -> dict[str, Any]:
    return {
        "model": status.model,
        "version": status.version,
        "stage": status.stage,
        "passed": status.passed,
        "status": status.status,
        "current_stage": status.current_stage,
        "promotion_id": status.promotion_id,
        "approvals": status.approvals,
        "required_approvals": status.required_approvals,
        "failing_rules": [vars(rule) for rule in status.failing_rules],
    }


def _describe_gate(status: GateStatus) -> str:
    head = f"{status.model} v{status.version} -> {status.stage}: "
    request = f" (promotion request {status.promotion_id})" if status.promotion_id else ""
    if status.status == "override":
        verdict = "passes" if status.passed else "does not pass"
        return head + (
            f"OVERRIDE{request}: an admin moved the version past the gate; by policy an "
            f"override {verdict} the gate; the version is in {status.current_stage}"
        )
    if status.passed:
        return head + f"APPROVED{request}; the version is in {status.current_stage}"
    lines = [head + status.status.upper().replace("_", " ") + request]
    if status.status == "pending_approval":
        lines.append(f"  approvals: {status.approvals} of {status.required_approvals}")
    if status.status == "not_requested":
        lines.append("  no promotion request yet: run 'assay gate request'")
    lines.extend("  " + rule.describe() for rule in status.failing_rules)
    return "\n".join(lines)


def _gate_request(args: argparse.Namespace) -> int:
    with _client(args) as client:
        request = client.request_promotion(
            args.model, args.model_version, args.stage, reason=args.reason
        )
    if args.json:
        print(
            json.dumps(
                {
                    "id": request.id,
                    "status": request.status,
                    "failing_rules": [vars(r) for r in request.failing_rules],
                },
                indent=2,
                default=str,
            )
        )
        return EXIT_OK
    print(
        f"promotion request {request.id}: {request.model} v{request.version} -> "
        f"{request.stage}: {request.status}"
    )
    for rule in request.failing_rules:
        print("  " + rule.describe())
    return EXIT_OK


def _policies_apply(args: argparse.Namespace) -> int:
    with _client(args) as client:
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
            return _fail(f"{len(errors)} error(s): nothing was applied")
    for item in applied:
        print(f"{item.status:<9} {item.name} v{item.version} ({item.filename})")
    return EXIT_OK


def _compliance_report(args: argparse.Namespace) -> int:
    fmt = args.format or ("json" if args.out.lower().endswith(".json") else "html")
    with _client(args) as client:
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
    since = load_checkpoint(args.since_checkpoint) if args.since_checkpoint else None
    keys = [_public_key_pem(source, args.timeout) for source in args.public_key or ()]
    served_key = False
    try:
        if args.file:
            result = verify_audit_export(args.file, public_key=keys or None, since=since)
            source = args.file
        else:
            with _client(args) as client:
                if not keys and _can_check_signatures():
                    keys, served_key = [client.audit_public_key()], True
                result = client.verify_audit_locally(public_key=keys or None, since=since)
                source = client.base_url + "/audit/export"
    except ImportError as exc:  # a key was given, and checking it needs cryptography
        return _fail(str(exc))
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
    with _client(args) as client:
        checkpoint = client.checkpoint_audit()
    save_checkpoint(checkpoint, args.out)
    print(
        f"saved the checkpoint of seq {checkpoint.seq} (signed {checkpoint.timestamp} by key "
        f"{checkpoint.key_id[:16]}) to {args.out}; keep it where the server's database "
        "administrators cannot write"
    )
    return EXIT_OK


def _audit_public_key(args: argparse.Namespace) -> int:
    with _client(args) as client:
        pem = client.audit_public_key()
    Path(args.out).write_text(pem, encoding="utf-8")
    print(f"saved the public key {public_key_id(pem)} to {args.out}")
    return EXIT_OK


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
