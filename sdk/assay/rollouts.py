"""Phased rollouts in the SDK: the split serving code follows, and the calls that start,
advance, halt, resume and roll back a rollout.

:class:`RolloutMethods` is mixed into :class:`assay.Client`. :meth:`~RolloutMethods.rollout`
is called on the serving path: it keeps each model's split for :attr:`split_ttl` seconds, and
when Assay cannot be reached it answers the last split it got rather than failing the request
being served.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from assay._http import ServerCalls
from assay._json import FreeForm, JSONObject, json_objects
from assay._paths import ModelRef, model_name, model_path
from assay.errors import APIConnectionError, ServerError

__all__ = [
    "GateCheck",
    "Rollout",
    "RolloutAdvance",
    "RolloutEvent",
    "RolloutGate",
    "RolloutMethods",
    "RolloutStatus",
    "RolloutStep",
]

log = logging.getLogger("assay.rollouts")


@dataclass(frozen=True)
class RolloutStep:
    """One step of a plan: the candidate's share (percent) and the minimums to reach."""

    percent: float
    min_duration_minutes: float
    min_predictions: int

    @classmethod
    def from_json(cls, data: object) -> RolloutStep:
        """Build from the server's JSON."""
        read = JSONObject(data, "a rollout step")
        return cls(
            percent=read.number("percent"),
            min_duration_minutes=read.number("min_duration_minutes"),
            min_predictions=read.integer("min_predictions"),
        )


@dataclass(frozen=True)
class GateCheck:
    """One condition of a step's gate: ``duration``, ``predictions``, ``comparison``,
    ``incidents``, or ``policy:<policy>:<rule>`` on the step to 100%."""

    name: str
    passed: bool
    observed: object
    required: str
    message: str

    @classmethod
    def from_json(cls, data: object) -> GateCheck:
        """Build from the server's JSON."""
        read = JSONObject(data, "a gate check")
        return cls(
            name=read.text("name"),
            passed=read.flag("passed"),
            observed=read.raw("observed"),
            required=read.text_or_empty("required"),
            message=read.text_or_empty("message"),
        )

    def describe(self) -> str:
        """One line: passed or not, what was observed against what is needed."""
        mark = "ok  " if self.passed else "FAIL"
        return f"{mark} {self.name}: {self.message} (needs {self.required})"


@dataclass(frozen=True)
class RolloutGate:
    """The gate of a rollout's current step, judged when asked."""

    rollout_id: int
    step: int
    percent: float
    next_percent: float | None
    passed: bool
    judged_at: datetime
    checks: list[GateCheck]

    @classmethod
    def from_json(cls, data: object) -> RolloutGate:
        """Build from the server's JSON."""
        read = JSONObject(data, "a rollout gate")
        following = read.raw("next_percent")
        return cls(
            rollout_id=read.integer("rollout_id"),
            step=read.integer("step"),
            percent=read.number("percent"),
            next_percent=None if following is None else read.number("next_percent"),
            passed=read.flag("passed"),
            judged_at=read.moment("judged_at"),
            checks=[GateCheck.from_json(c.as_dict()) for c in read.nested_list("checks")],
        )


@dataclass(frozen=True)
class RolloutEvent:
    """One change of a rollout (``started``, ``advanced``, ``halted``, ``resumed``,
    ``rolled_back``, ``completed``), and the gate that allowed a step."""

    id: int
    kind: str
    step: int
    from_percent: float
    to_percent: float
    reason: str
    gate: FreeForm | None
    created_by: str
    created_at: datetime

    @classmethod
    def from_json(cls, data: object) -> RolloutEvent:
        """Build from the server's JSON."""
        read = JSONObject(data, "a rollout event")
        return cls(
            id=read.integer("id"),
            kind=read.text("kind"),
            step=read.integer("step"),
            from_percent=read.number("from_percent"),
            to_percent=read.number("to_percent"),
            reason=read.text_or_empty("reason"),
            gate=read.optional_free_form("gate"),
            created_by=read.text_or_empty("created_by"),
            created_at=read.moment("created_at"),
        )


@dataclass(frozen=True)
class Rollout:
    """A rollout: its plan, where it stands (``percent`` of traffic to the candidate now),
    and its history, oldest first."""

    id: int
    model: str
    promotion_id: int
    candidate_version: int
    baseline_version: int
    status: str
    step: int
    percent: float
    steps: list[RolloutStep]
    rollback_on_halt: bool
    step_started_at: datetime
    halted_reason: str | None
    created_by: str
    created_at: datetime
    ended_at: datetime | None
    history: list[RolloutEvent]

    @classmethod
    def from_json(cls, data: object) -> Rollout:
        """Build from the server's JSON."""
        read = JSONObject(data, "a rollout")
        return cls(
            id=read.integer("id"),
            model=read.text("model"),
            promotion_id=read.integer("promotion_id"),
            candidate_version=read.integer("candidate_version"),
            baseline_version=read.integer("baseline_version"),
            status=read.text("status"),
            step=read.integer("step"),
            percent=read.number("percent"),
            steps=[RolloutStep.from_json(s.as_dict()) for s in read.nested_list("steps")],
            rollback_on_halt=read.flag("rollback_on_halt"),
            step_started_at=read.moment("step_started_at"),
            halted_reason=read.optional_text("halted_reason"),
            created_by=read.text_or_empty("created_by"),
            created_at=read.moment("created_at"),
            ended_at=read.optional_moment("ended_at"),
            history=[RolloutEvent.from_json(e.as_dict()) for e in read.nested_list("history")],
        )


@dataclass(frozen=True)
class RolloutStatus:
    """A rollout and, while it runs or is halted, its current step's gate."""

    rollout: Rollout
    gate: RolloutGate | None

    @classmethod
    def from_json(cls, data: object) -> RolloutStatus:
        """Build from the server's JSON."""
        read = JSONObject(data, "a rollout status")
        gate = read.optional_nested("gate")
        return cls(
            rollout=Rollout.from_json(read.nested("rollout").as_dict()),
            gate=None if gate is None else RolloutGate.from_json(gate.as_dict()),
        )


@dataclass(frozen=True)
class RolloutAdvance:
    """What asking a rollout to advance did: the gate judged, and whether it moved on."""

    rollout: Rollout
    gate: RolloutGate
    advanced: bool

    @classmethod
    def from_json(cls, data: object) -> RolloutAdvance:
        """Build from the server's JSON."""
        read = JSONObject(data, "a rollout advance")
        return cls(
            rollout=Rollout.from_json(read.nested("rollout").as_dict()),
            gate=RolloutGate.from_json(read.nested("gate").as_dict()),
            advanced=read.flag("advanced"),
        )


class RolloutMethods(ServerCalls):
    """The split, and starting, reading and steering rollouts (mixed into Client)."""

    #: Seconds :meth:`rollout` answers a model's split from memory before asking again.
    split_ttl: float = 5.0

    def rollout(self, model: ModelRef, *, max_age: float | None = None) -> dict[int, float]:
        """The split serving code should follow now: ``{version: weight}``, weights summing
        to 1 (the production version alone when no rollout runs; ``{}`` when no version is
        in production). Viewer token.

        The answer is kept for ``max_age`` seconds (default :attr:`split_ttl`). When Assay
        cannot be reached (a connection error, a timeout, a 5xx), the last split this client
        got for the model is returned, however old, a warning logged, and Assay asked again
        only ``max_age`` seconds later; with none known, the error is raised. Give a serving
        client a short ``timeout``: the one call per ``max_age`` that asks waits for it.
        """
        name = model_name(model)
        ttl = self.split_ttl if max_age is None else max_age
        lock, known = self._split_cache()
        with lock:
            cached = known.get(name)
        if cached is not None and time.monotonic() - cached[0] < ttl:
            return dict(cached[1])
        try:
            body = JSONObject(self._transport.json("GET", f"{model_path(model)}/rollout"))
        except (APIConnectionError, ServerError) as exc:
            if cached is None:
                raise
            log.warning("Assay unreachable (%s); using the last known split of %s", exc, name)
            with lock:  # asked again only after another ``ttl``: no request waits on each try
                known[name] = (time.monotonic(), cached[1])
            return dict(cached[1])
        split = {int(version): body.number(version) for version in body.as_dict()}
        with lock:
            known[name] = (time.monotonic(), split)
        return dict(split)

    def _split_cache(self) -> tuple[threading.Lock, dict[str, tuple[float, dict[int, float]]]]:
        cache = self.__dict__.get("_splits")
        if cache is None:
            cache = self.__dict__.setdefault("_splits", (threading.Lock(), {}))
        return cache

    def start_rollout(
        self,
        model: ModelRef,
        promotion_id: int,
        steps: Sequence[float] | Sequence[Mapping[str, float]],
        *,
        min_duration_minutes: float = 60.0,
        min_predictions: int = 100,
        rollback_on_halt: bool = True,
        comment: str = "",
    ) -> Rollout:
        """Start rolling out the version of an approved promotion to production (approver,
        or the promotion's requester). The promotion must have been requested with
        ``rollout=True`` (or judged by a rollout rule of a policy).

        Args:
            steps: the candidate's shares in percent, rising to 100 (``[5, 25, 50, 100]``),
                or dicts with ``percent`` and their own ``min_duration_minutes`` /
                ``min_predictions``.
            min_duration_minutes: how long each step lasts at least (unless it says).
            min_predictions: how many predictions the candidate serves at each step at least.
            rollback_on_halt: a halt (a critical alert on the candidate, or an approver)
                also gives the production version all the traffic back.
        """
        planned = [dict(s) if isinstance(s, Mapping) else {"percent": s} for s in steps]
        body = {
            "promotion_id": int(promotion_id),
            "steps": planned,
            "min_duration_minutes": min_duration_minutes,
            "min_predictions": min_predictions,
            "rollback_on_halt": rollback_on_halt,
            "comment": comment,
        }
        return Rollout.from_json(
            self._transport.json("POST", f"{model_path(model)}/rollouts", json=body)
        )

    def rollout_status(self, model: ModelRef) -> RolloutStatus:
        """The model's running or halted rollout (else its latest) with its current step's
        gate judged now; :class:`~assay.errors.NotFound` if it never had one."""
        path = f"{model_path(model)}/rollout/status"
        return RolloutStatus.from_json(self._transport.json("GET", path))

    def list_rollouts(self, model: ModelRef) -> list[Rollout]:
        """Every rollout of the model, newest first."""
        body = self._transport.json("GET", f"{model_path(model)}/rollouts")
        return [Rollout.from_json(item.as_dict()) for item in json_objects(body)]

    def advance_rollout(self, rollout_id: int) -> RolloutAdvance:
        """Judge the current step's gate and take the next step if it passes (contributor);
        the step to 100% makes the candidate production."""
        body = self._transport.json("POST", f"/rollouts/{int(rollout_id)}/advance")
        return RolloutAdvance.from_json(body)

    def halt_rollout(self, rollout_id: int, reason: str) -> Rollout:
        """Halt a running rollout (approver); rolled back too if its plan says so."""
        return self._steer(rollout_id, "halt", reason)

    def resume_rollout(self, rollout_id: int, reason: str) -> Rollout:
        """Resume a halted rollout (approver); its step's minimums count afresh."""
        return self._steer(rollout_id, "resume", reason)

    def rollback_rollout(self, rollout_id: int, reason: str) -> Rollout:
        """Give the production version all the traffic back, candidate 0% (approver)."""
        return self._steer(rollout_id, "rollback", reason)

    def _steer(self, rollout_id: int, action: str, reason: str) -> Rollout:
        path = f"/rollouts/{int(rollout_id)}/{action}"
        return Rollout.from_json(self._transport.json("POST", path, json={"reason": reason}))
