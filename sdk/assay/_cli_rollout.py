"""``assay gate check MODEL --rollout``: check a model's rollout in a pipeline, and take its
next step when the step's gate passes.

Exit 0 when the rollout took a step (or has completed), 1 when it waits (the step's gate does
not pass yet: each failing check is printed), is halted or was rolled back, 2 on a usage or
connection error or when the model has no rollout. Advancing needs a contributor token.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from assay._cli_common import EXIT_BROKEN, EXIT_OK, client_for
from assay.client import Client
from assay.rollouts import Rollout, RolloutGate

#: Seconds between two questions while ``--wait`` waits (tests shorten it).
POLL_SECONDS = 15.0


def rollout_check(args: argparse.Namespace) -> int:
    """Run ``gate check --rollout`` (see the module's docstring)."""
    deadline = time.monotonic() + args.wait
    with client_for(args) as client:
        while True:
            rollout, gate, advanced = _ask(client, args.model)
            remaining = deadline - time.monotonic()
            if advanced or rollout.status != "running" or remaining <= 0:
                break
            time.sleep(min(POLL_SECONDS, remaining))
    passed = advanced or rollout.status == "completed"
    if args.json:
        print(json.dumps(_as_json(rollout, gate, advanced), indent=2, default=str))
    else:
        print(_describe(rollout, gate, advanced))
    return EXIT_OK if passed else EXIT_BROKEN


def _ask(client: Client, model: str) -> tuple[Rollout, RolloutGate | None, bool]:
    status = client.rollout_status(model)
    if status.rollout.status != "running":
        return status.rollout, status.gate, False
    step = client.advance_rollout(status.rollout.id)
    return step.rollout, step.gate, step.advanced


def _as_json(rollout: Rollout, gate: RolloutGate | None, advanced: bool) -> dict[str, Any]:
    return {
        "rollout_id": rollout.id,
        "model": rollout.model,
        "candidate_version": rollout.candidate_version,
        "status": rollout.status,
        "percent": rollout.percent,
        "advanced": advanced,
        "halted_reason": rollout.halted_reason,
        "checks": [vars(check) for check in gate.checks] if gate else [],
    }


def _describe(rollout: Rollout, gate: RolloutGate | None, advanced: bool) -> str:
    head = f"{rollout.model} v{rollout.candidate_version} rollout {rollout.id}: "
    if rollout.status == "completed":
        done = "COMPLETED" + (" now" if advanced else "")
        return head + f"{done}; v{rollout.candidate_version} is in production"
    if advanced:
        return head + f"ADVANCED to {rollout.percent:g}%"
    if rollout.status in ("halted", "rolled_back"):
        return (
            head
            + f"{rollout.status.upper().replace('_', ' ')} at {rollout.percent:g}%: "
            + (rollout.halted_reason or "no reason given")
        )
    lines = [head + f"WAITING at {rollout.percent:g}%"]
    lines.extend("  " + check.describe() for check in (gate.checks if gate else []))
    return "\n".join(lines)
