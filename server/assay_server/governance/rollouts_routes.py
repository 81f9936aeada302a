"""Rollout endpoints: start a phased rollout, read the split serving code follows, see a
rollout's plan, gate and history, advance it (CI), halt, resume or roll it back."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify
from flask.views import MethodView
from flask_smorest import Blueprint

from ..access import requires
from ..request_scope import db_session, service_context
from ..roles import Role
from .rollouts import Advance, RolloutService
from .rollouts_models import Rollout
from .rollouts_schemas import (
    SPLIT_SCHEMA,
    AdvanceSchema,
    RolloutCreateArgs,
    RolloutCreateSchema,
    RolloutReasonArgs,
    RolloutReasonSchema,
    RolloutSchema,
    RolloutStatusSchema,
)

blp = Blueprint(
    "rollouts",
    __name__,
    url_prefix="/api/v1",
    description="Phased rollouts: traffic shares for a candidate, gated on live evidence",
)


def _rollouts() -> RolloutService:
    return RolloutService(db_session(), service_context())


def _with_gate(service: RolloutService, rollout: Rollout) -> dict[str, Any]:
    return {"rollout": rollout, "gate": service.gate(rollout.id)}


@blp.route("/models/<string:name>/rollouts")
class ModelRollouts(MethodView):
    @requires(Role.VIEWER)
    @blp.response(200, RolloutSchema(many=True))
    def get(self, name: str) -> list[Rollout]:
        """A model's rollouts, newest first"""
        return _rollouts().list(name)

    @requires(Role.CONTRIBUTOR)
    @blp.arguments(RolloutCreateSchema)
    @blp.response(201, RolloutSchema)
    def post(self, args: RolloutCreateArgs, name: str) -> Rollout:
        """Start a rollout on an approved promotion to production (an approver, or its
        requester): the candidate takes the first step's share"""
        return _rollouts().start(
            name,
            promotion_id=args["promotion_id"],
            steps=args["steps"],
            rollback_on_halt=args["rollback_on_halt"],
            comment=args["comment"],
        )


@blp.route("/models/<string:name>/rollout")
class Split(MethodView):
    @requires(Role.VIEWER)
    @blp.response(200, SPLIT_SCHEMA)
    def get(self, name: str) -> Response:
        """The split serving code follows now: ``{version: weight}``"""
        split = _rollouts().split(name)
        return jsonify({str(version): weight for version, weight in split.items()})


@blp.route("/models/<string:name>/rollout/status")
class CurrentRollout(MethodView):
    @requires(Role.VIEWER)
    @blp.response(200, RolloutStatusSchema)
    def get(self, name: str) -> dict[str, Any]:
        """The model's open rollout (else its latest), with its current step's gate"""
        service = _rollouts()
        return _with_gate(service, service.current(name))


@blp.route("/rollouts/<int:rollout_id>")
class RolloutItem(MethodView):
    @requires(Role.VIEWER)
    @blp.response(200, RolloutStatusSchema)
    def get(self, rollout_id: int) -> dict[str, Any]:
        """A rollout, with its current step's gate while it is open"""
        service = _rollouts()
        return _with_gate(service, service.get(rollout_id))


@blp.route("/rollouts/<int:rollout_id>/advance")
class AdvanceRollout(MethodView):
    @requires(Role.CONTRIBUTOR)
    @blp.response(200, AdvanceSchema)
    def post(self, rollout_id: int) -> Advance:
        """Judge the current step's gate and take the next step if it passes (for CI)"""
        return _rollouts().advance(rollout_id)


@blp.route("/rollouts/<int:rollout_id>/halt")
class HaltRollout(MethodView):
    @requires(Role.APPROVER)
    @blp.arguments(RolloutReasonSchema)
    @blp.response(200, RolloutSchema)
    def post(self, args: RolloutReasonArgs, rollout_id: int) -> Rollout:
        """Halt a running rollout (rolled back too when its plan says so)"""
        return _rollouts().halt(rollout_id, reason=args["reason"])


@blp.route("/rollouts/<int:rollout_id>/resume")
class ResumeRollout(MethodView):
    @requires(Role.APPROVER)
    @blp.arguments(RolloutReasonSchema)
    @blp.response(200, RolloutSchema)
    def post(self, args: RolloutReasonArgs, rollout_id: int) -> Rollout:
        """Resume a halted rollout; its step's minimums count afresh"""
        return _rollouts().resume(rollout_id, reason=args["reason"])


@blp.route("/rollouts/<int:rollout_id>/rollback")
class RollBackRollout(MethodView):
    @requires(Role.APPROVER)
    @blp.arguments(RolloutReasonSchema)
    @blp.response(200, RolloutSchema)
    def post(self, args: RolloutReasonArgs, rollout_id: int) -> Rollout:
        """Give the production version all the traffic back (candidate 0%)"""
        return _rollouts().rollback(rollout_id, reason=args["reason"])
