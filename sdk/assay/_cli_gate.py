"""``assay gate check`` and ``assay gate request``: the approval gate, for CI/CD pipelines."""

from __future__ import annotations

import argparse
import json
import re
import time
from typing import Any

from assay._cli_common import EXIT_BROKEN, EXIT_OK, client_for, fail
from assay._cli_rollout import rollout_check
from assay.errors import Conflict, PermissionDenied
from assay.promotions import GateStatus


def add_gate_commands(commands: Any) -> None:
    """Add ``gate`` and its actions to the ``assay`` command's subparsers."""
    gate = commands.add_parser("gate", help="the approval gate, for CI/CD pipelines")
    gate_commands = gate.add_subparsers(dest="gate_command", metavar="ACTION", required=True)
    check = gate_commands.add_parser(
        "check",
        help="exit 0 if the version is approved for the stage (or alias), 1 if not",
        description="Ask whether VERSION of MODEL is approved for STAGE (or whether ALIAS "
        "may name it: --alias champion). Exit 0 when it is, "
        "1 when the request is blocked, pending or rejected (each failing rule is printed "
        "with its observed value and threshold), 2 on a usage or connection error. "
        "With --rollout: take the next step of MODEL's rollout if its gate passes (exit 0, "
        "also once completed), 1 while it waits or is halted or rolled back.",
    )
    _model_args(check, required=False)
    check.add_argument(
        "--rollout",
        action="store_true",
        help="check MODEL's phased rollout and advance it when its step's gate passes "
        "(contributor token); --version and --stage are not needed",
    )
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
        description="Ask to promote VERSION of MODEL to STAGE (or to point the governed ALIAS "
        "at it); the policies are evaluated "
        "at once and the request's status and failing rules printed.",
    )
    _model_args(request)
    request.add_argument("--reason", default="", help="why (shown to the approvers)")
    request.add_argument("--json", action="store_true", help="print the request as JSON")
    request.set_defaults(handler=_gate_request)


def _model_args(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    parser.add_argument("model", help="the model's name")
    parser.add_argument(
        "--version", dest="model_version", type=int, required=required, help="the version number"
    )
    target = parser.add_mutually_exclusive_group(required=required)
    target.add_argument("--stage", choices=("staging", "production"))
    target.add_argument(
        "--alias", help="a governed alias (e.g. champion) to point at the version, not a stage"
    )


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
_FINAL = {"rejected", "cancelled", "superseded", "override", "rolled_back"}


def _gate_check(args: argparse.Namespace) -> int:
    if args.rollout:
        return rollout_check(args)
    if args.model_version is None or (args.stage is None and args.alias is None):
        return fail("gate check needs --version and --stage or --alias (or --rollout)")
    deadline = time.monotonic() + args.wait
    may_evaluate = True
    with client_for(args) as client:
        while True:
            status = client.gate(args.model, args.model_version, args.stage, alias=args.alias)
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
        "alias": status.alias,
        "passed": status.passed,
        "status": status.status,
        "current_stage": status.current_stage,
        "promotion_id": status.promotion_id,
        "approvals": status.approvals,
        "required_approvals": status.required_approvals,
        "failing_rules": [vars(rule) for rule in status.failing_rules],
    }


def _describe_gate(status: GateStatus) -> str:
    head = f"{status.model} v{status.version} -> {status.target}: "
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
    with client_for(args) as client:
        request = client.request_promotion(
            args.model, args.model_version, args.stage, reason=args.reason, alias=args.alias
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
        f"{request.target}: {request.status}"
    )
    for rule in request.failing_rules:
        print("  " + rule.describe())
    return EXIT_OK
