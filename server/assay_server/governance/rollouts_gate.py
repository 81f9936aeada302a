"""The gate of a rollout's step: may the candidate go from this share to the next?

A step's gate passes when, since the step began:

- ``duration``: the step's minimum duration has passed;
- ``predictions``: the candidate served at least the step's minimum of predictions (ingest's
  count of stored rows; rows logged in another version's shadow are not served, so they do
  not count);
- ``comparison``: the A/B comparison of candidate against the production version over the
  step is not ``challenger_worse`` (``insufficient_data`` and ``no_difference`` pass);
- ``incidents``: no critical incident is open on the candidate;
- ``policies`` (the step to 100% only): the rollout rules (:mod:`.rollout_rules`) of the
  policies that apply to the candidate in production pass.

The comparison is asked through one function, :func:`live_comparison` (monitoring's
``compare_versions``); a service may be given another ``compare`` (tests give a fake).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from ..alerts.evidence import open_incidents
from ..context import ServiceContext
from ..errors import AssayError
from ..ingest.figures import served_since
from ..monitoring.comparisons import compare_versions
from ..registry.models import Stage
from .evaluation import evaluate_version
from .rollout_rules import ROLLOUT_RULE_KINDS
from .rollouts_models import Rollout

#: ``(session, ctx, model, champion, challenger, start, end) -> verdict`` (a
#: ``checks.comparison.Verdict`` or its value).
Comparer = Callable[[Session, ServiceContext, str, int, int, datetime, datetime], object]

WORSE = "challenger_worse"


def live_comparison(
    session: Session,
    ctx: ServiceContext,
    model: str,
    champion: int,
    challenger: int,
    start: datetime,
    end: datetime,
) -> object:
    """The A/B verdict of ``challenger`` against ``champion`` over ``[start, end)``, from
    monitoring's ``compare_versions``."""
    result = compare_versions(
        session,
        ctx,
        model,
        champion,
        challenger,
        start=start,
        end=end,
        mode="ab",
        metric=None,
        minimum=None,
    )
    return result.verdict


@dataclass(frozen=True)
class GateCheck:
    """One condition of a step's gate: what was observed against what it needs."""

    name: str
    passed: bool
    observed: object
    required: str
    message: str


@dataclass(frozen=True)
class StepGate:
    """A step's gate, judged at ``judged_at``: ``passed`` when every check passed."""

    rollout_id: int
    step: int
    percent: float
    next_percent: float | None
    judged_at: datetime
    checks: list[GateCheck] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Every check passed (and there is a next step)."""
        return self.next_percent is not None and all(c.passed for c in self.checks)

    def as_json(self) -> dict[str, object]:
        """How the gate is kept in a rollout's history."""
        return {
            "step": self.step,
            "percent": self.percent,
            "next_percent": self.next_percent,
            "passed": self.passed,
            "judged_at": self.judged_at.isoformat(),
            "checks": [vars(check) for check in self.checks],
        }


def judge_step(
    session: Session, ctx: ServiceContext, rollout: Rollout, compare: Comparer | None = None
) -> StepGate:
    """Judge the gate of the rollout's current step now (see the module's docstring)."""
    now = ctx.clock()
    planned = rollout.steps[rollout.step]
    following = rollout.steps[rollout.step + 1] if rollout.step + 1 < len(rollout.steps) else None
    started = rollout.step_started_at
    minutes = (now - started).total_seconds() / 60
    served = served_since(session, rollout.candidate_id, started)
    checks = [
        GateCheck(
            "duration",
            minutes >= planned["min_duration_minutes"],
            round(minutes, 2),
            f">= {planned['min_duration_minutes']:g} minutes",
            f"{minutes:.1f} minutes at {planned['percent']:g}%.",
        ),
        GateCheck(
            "predictions",
            served >= planned["min_predictions"],
            served,
            f">= {planned['min_predictions']} predictions",
            f"v{rollout.candidate.version} served {served} predictions at this step.",
        ),
        _comparison(session, ctx, rollout, compare or live_comparison, started, now),
        _incidents(session, rollout),
    ]
    if following is not None and following["percent"] >= 100:
        checks.extend(_rollout_rules(session, ctx, rollout))
    return StepGate(
        rollout_id=rollout.id,
        step=rollout.step,
        percent=planned["percent"],
        next_percent=following["percent"] if following else None,
        judged_at=now,
        checks=checks,
    )


def _comparison(
    session: Session,
    ctx: ServiceContext,
    rollout: Rollout,
    compare: Comparer,
    start: datetime,
    end: datetime,
) -> GateCheck:
    required = f"not {WORSE}"
    try:
        found = compare(
            session,
            ctx,
            rollout.model.name,
            rollout.baseline.version,
            rollout.candidate.version,
            start,
            end,
        )
    except AssayError as exc:
        return GateCheck("comparison", False, None, required, f"No comparison: {exc}")
    verdict = str(getattr(found, "value", found))
    return GateCheck(
        "comparison",
        verdict != WORSE,
        verdict,
        required,
        f"v{rollout.candidate.version} against v{rollout.baseline.version} since the step "
        f"began: {verdict}.",
    )


def _incidents(session: Session, rollout: Rollout) -> GateCheck:
    found = open_incidents(session, rollout.candidate_id, severity="critical")
    listed = ", ".join(f"#{i.id} {i.check} of {i.subject}" for i in found[:5])
    return GateCheck(
        "incidents",
        not found,
        len(found),
        "no open critical incident",
        f"Open critical incidents on v{rollout.candidate.version}: {listed}."
        if found
        else f"No critical incident is open on v{rollout.candidate.version}.",
    )


def _rollout_rules(session: Session, ctx: ServiceContext, rollout: Rollout) -> list[GateCheck]:
    evaluation = evaluate_version(session, ctx, rollout.candidate, Stage.PRODUCTION.value)
    return [
        GateCheck(
            f"policy:{policy['name']}:{rule['id']}",
            rule["status"] == "pass",
            rule["observed"],
            rule["threshold"],
            rule["message"],
        )
        for policy in evaluation["policies"]
        for rule in policy["rules"]
        if rule["check"] in ROLLOUT_RULE_KINDS
    ]
