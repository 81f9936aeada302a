"""Comparison endpoints: champion against challenger over a window, and a version's served
and shadow traffic."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE

from ..access import requires
from ..ingest.shadow import TrafficCounts, traffic_counts
from ..registry.service import RegistryService
from ..request_scope import db_session, service_context
from ..roles import Role
from .comparison_schemas import (
    ComparisonArgs,
    ComparisonArgsSchema,
    ComparisonSchema,
    TrafficArgs,
    TrafficArgsSchema,
    TrafficSchema,
)
from .comparisons import Comparison, compare_as_asked

blp = Blueprint(
    "comparisons",
    __name__,
    url_prefix="/api/v1",
    description="Champion against challenger: shadow and A/B comparison reports",
)


@blp.route("/models/<string:name>/comparison")
class ComparisonReport(MethodView):
    @requires(Role.VIEWER)
    @blp.arguments(ComparisonArgsSchema, location="query", unknown=RAISE)
    @blp.response(200, ComparisonSchema)
    def get(self, args: ComparisonArgs, name: str) -> Comparison:
        """Compare two versions over a window (shadow: paired; ab: each version's served rows)"""
        return compare_as_asked(db_session(), service_context(), name, args)


@blp.route("/models/<string:name>/versions/<int:version>/traffic")
class VersionTraffic(MethodView):
    @requires(Role.VIEWER)
    @blp.arguments(TrafficArgsSchema, location="query", unknown=RAISE)
    @blp.response(200, TrafficSchema)
    def get(self, args: TrafficArgs, name: str, version: int) -> TrafficCounts:
        """Count a version's served and shadow predictions in a window"""
        row = RegistryService(db_session(), service_context()).get_version(name, version)
        return traffic_counts(db_session(), row.id, args["since"], args["until"])
