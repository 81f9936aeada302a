"""Governance endpoints: benchmarks, leaderboard, policies, promotions, the gate, history."""

from __future__ import annotations

import json

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE

from ..access import requires
from ..registry.models import ModelVersion, StageHistory
from ..registry.paging import Page
from ..registry.schemas import VersionSchema
from ..request_scope import database, db_session, service_context
from ..roles import Role
from .decisions import PromotionDecisions, approve_promotion
from .models import Policy, PolicyEvaluationRecord, PolicyVersion, PromotionRequest
from .policies import PolicyFile
from .promotions import PromotionService
from .report import compliance_bundle
from .report_page import render_html
from .schemas import (
    ComplianceArgs,
    ComplianceArgsSchema,
    DecisionArgs,
    DecisionArgsSchema,
    EvaluationRecordSchema,
    GateArgs,
    GateArgsSchema,
    GateSchema,
    PolicyApplyArgs,
    PolicyApplyResultSchema,
    PolicyApplySchema,
    PolicySchema,
    PolicyVersionSchema,
    PromotionCreateArgs,
    PromotionCreateSchema,
    PromotionListArgs,
    PromotionListArgsSchema,
    PromotionPageSchema,
    PromotionSchema,
    RejectArgsSchema,
    RollbackArgs,
    RollbackArgsSchema,
    RollbackResultSchema,
    StageChangeArgs,
    StageChangeSchema,
    StageHistoryArgs,
    StageHistoryArgsSchema,
    StageHistoryEntrySchema,
)
from .service import AppliedPolicy, PolicyService
from .stages import GateAnswer, RollbackResult, StageService

blp = Blueprint(
    "governance",
    __name__,
    url_prefix="/api/v1",
    description="Policies, promotion requests, the gate, stage history",
)

VERSION_URL = "/models/<string:name>/versions/<int:version>"


def _policies() -> PolicyService:
    return PolicyService(db_session(), service_context())


def _promotions() -> PromotionService:
    return PromotionService(db_session(), service_context())


def _decisions() -> PromotionDecisions:
    return PromotionDecisions(db_session(), service_context())


def _stages() -> StageService:
    return StageService(db_session(), service_context())


@blp.route("/policies")
class Policies(MethodView):
    @requires(Role.VIEWER)
    @blp.response(200, PolicySchema(many=True))
    def get(self) -> list[Policy]:
        """List the policies in force"""
        return _policies().list()

    @requires(Role.ADMIN)
    @blp.arguments(PolicyApplySchema)
    @blp.response(200, PolicyApplyResultSchema)
    def post(self, args: PolicyApplyArgs) -> dict[str, list[AppliedPolicy]]:
        """Apply policy files (YAML): a new or changed policy becomes a new version"""
        files = [PolicyFile(f["filename"], f["content"]) for f in args["files"]]
        return {"applied": _policies().apply(files)}


@blp.route("/policies/<string:policy_name>/versions")
class PolicyVersions(MethodView):
    @requires(Role.VIEWER)
    @blp.response(200, PolicyVersionSchema(many=True))
    def get(self, policy_name: str) -> list[PolicyVersion]:
        """Every version of a policy, oldest first"""
        return _policies().versions(policy_name)


@blp.route(VERSION_URL + "/promotions")
class VersionPromotions(MethodView):
    @requires(Role.VIEWER)
    @blp.response(200, PromotionSchema(many=True))
    def get(self, name: str, version: int) -> list[PromotionRequest]:
        """A version's promotion requests, newest first"""
        return _promotions().list(model=name, version=version, limit=500).items

    @requires(Role.CONTRIBUTOR)
    @blp.arguments(PromotionCreateSchema)
    @blp.response(201, PromotionSchema)
    def post(self, args: PromotionCreateArgs, name: str, version: int) -> PromotionRequest:
        """Request a promotion: the policies are evaluated now and the evidence stored"""
        return _promotions().request(name, version, **args)


@blp.route("/promotions")
class Promotions(MethodView):
    @requires(Role.VIEWER)
    @blp.arguments(PromotionListArgsSchema, location="query", unknown=RAISE)
    @blp.response(200, PromotionPageSchema)
    @blp.alt_response(404, response="not_found")  # a model filter naming no model
    def get(self, args: PromotionListArgs) -> Page[PromotionRequest]:
        """List promotion requests, newest first"""
        return _promotions().list(**args)


@blp.route("/promotions/<int:promotion_id>")
class Promotion(MethodView):
    @requires(Role.VIEWER)
    @blp.response(200, PromotionSchema)
    def get(self, promotion_id: int) -> PromotionRequest:
        """Get a promotion request"""
        return _promotions().get(promotion_id)


@blp.route("/promotions/<int:promotion_id>/evaluations")
class PromotionEvaluations(MethodView):
    @requires(Role.VIEWER)
    @blp.response(200, EvaluationRecordSchema(many=True))
    def get(self, promotion_id: int) -> list[PolicyEvaluationRecord]:
        """Every stored evaluation of a request, oldest first"""
        _promotions().get(promotion_id)
        return _promotions().evaluations(promotion_id)


@blp.route("/promotions/<int:promotion_id>/evaluate")
class EvaluatePromotion(MethodView):
    @requires(Role.CONTRIBUTOR)
    @blp.response(200, PromotionSchema)
    def post(self, promotion_id: int) -> PromotionRequest:
        """Re-evaluate an open request now (once evidence has arrived)"""
        return _promotions().evaluate(promotion_id)


@blp.route("/promotions/<int:promotion_id>/approve")
class ApprovePromotion(MethodView):
    @requires(Role.APPROVER)
    @blp.arguments(DecisionArgsSchema)
    @blp.response(200, PromotionSchema)
    def post(self, args: DecisionArgs, promotion_id: int) -> PromotionRequest:
        """Approve (not the requester, not the version's registrant; policies re-evaluated)"""
        return approve_promotion(
            database(), db_session(), service_context(), promotion_id, args["comment"]
        )


@blp.route("/promotions/<int:promotion_id>/reject")
class RejectPromotion(MethodView):
    @requires(Role.APPROVER)
    @blp.arguments(RejectArgsSchema)
    @blp.response(200, PromotionSchema)
    def post(self, args: DecisionArgs, promotion_id: int) -> PromotionRequest:
        """Reject an open request, with a comment"""
        return _decisions().reject(promotion_id, **args)


@blp.route("/promotions/<int:promotion_id>/cancel")
class CancelPromotion(MethodView):
    @requires(Role.CONTRIBUTOR)
    @blp.arguments(DecisionArgsSchema)
    @blp.response(200, PromotionSchema)
    def post(self, args: DecisionArgs, promotion_id: int) -> PromotionRequest:
        """Withdraw an open request (its requester, or an admin)"""
        return _promotions().cancel(promotion_id, **args)


@blp.route(VERSION_URL + "/stage")
class VersionStage(MethodView):
    @requires(Role.ADMIN)
    @blp.arguments(StageChangeSchema)
    @blp.response(200, VersionSchema)
    def post(self, args: StageChangeArgs, name: str, version: int) -> ModelVersion:
        """Move a version to a stage directly (admin; to staging or production: an override)"""
        return _stages().set_stage(name, version, **args)


@blp.route(VERSION_URL + "/gate")
class Gate(MethodView):
    @requires(Role.VIEWER)
    @blp.arguments(GateArgsSchema, location="query", unknown=RAISE)
    @blp.response(200, GateSchema)
    def get(self, args: GateArgs, name: str, version: int) -> GateAnswer:
        """May this version go to a stage, or an alias name it (for CI: ``assay gate check``)"""
        return _stages().gate(name, version, args.get("stage"), alias=args.get("alias"))


@blp.route("/models/<string:name>/stage-history")
class StageHistoryView(MethodView):
    @requires(Role.VIEWER)
    @blp.arguments(StageHistoryArgsSchema, location="query", unknown=RAISE)
    @blp.response(200, StageHistoryEntrySchema(many=True))
    def get(self, args: StageHistoryArgs, name: str) -> list[StageHistory]:
        """Which version held which stage, from when to when; ``?at=`` answers "what then\""""
        return _stages().history(name, **args)


@blp.route("/models/<string:name>/rollback")
class Rollback(MethodView):
    @requires(Role.APPROVER)
    @blp.arguments(RollbackArgsSchema)
    @blp.response(200, RollbackResultSchema)
    def post(self, args: RollbackArgs, name: str) -> RollbackResult:
        """Move a stage back to a version that held it (policies evaluated and shown)"""
        return _stages().rollback(name, **args)


@blp.route(VERSION_URL + "/compliance-report")
class ComplianceReport(MethodView):
    @requires(Role.VIEWER)
    @blp.arguments(ComplianceArgsSchema, location="query", unknown=RAISE)
    @blp.response(200, content_type="text/html")
    def get(self, args: ComplianceArgs, name: str, version: int) -> Response:
        """A version's compliance report: printable HTML, or ``?format=json`` (evidence bundle)"""
        bundle = compliance_bundle(db_session(), service_context(), name, version)
        if args["format"] == "json":
            body = json.dumps(bundle, default=str, ensure_ascii=False)
            return Response(body, mimetype="application/json")
        return Response(render_html(bundle), mimetype="text/html")
