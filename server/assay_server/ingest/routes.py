"""Prediction and label endpoints."""

from __future__ import annotations

from flask import current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE
from werkzeug.wrappers import Response

from ..access import requires
from ..request_scope import database, db_session, service_context, settings
from ..roles import Role
from .export import export_predictions
from .labels import LabelResult, LabelService
from .pages import PredictionPage
from .pending import PendingLabels
from .schemas import (
    ExportArgs,
    ExportArgsSchema,
    IngestArgs,
    IngestArgsSchema,
    IngestResultSchema,
    LabelBatch,
    LabelBatchSchema,
    LabelResultSchema,
    PendingLabelArgs,
    PendingLabelArgsSchema,
    PendingLabelsSchema,
    PredictionBatchSchema,
    PredictionListArgs,
    PredictionListArgsSchema,
    PredictionPageSchema,
)
from .service import IngestResult, IngestService
from .store import prediction_store
from .wire import decode_body

blp = Blueprint(
    "ingest", __name__, url_prefix="/api/v1", description="Predictions and ground truth"
)

PREDICTIONS_URL = "/models/<string:name>/versions/<int:version>/predictions"


@blp.route(PREDICTIONS_URL)
class Predictions(MethodView):
    @requires(Role.CONTRIBUTOR)
    @blp.arguments(IngestArgsSchema, location="query", unknown=RAISE)
    @blp.doc(
        requestBody={
            "required": True,
            "content": {"application/json": {"schema": PredictionBatchSchema}},
        }
    )
    @blp.response(200, IngestResultSchema)
    def post(self, args: IngestArgs, name: str, version: int) -> IngestResult:
        """Log a batch of predictions (JSON, optionally gzip; row- or column-wise)"""
        document = decode_body(
            request.get_data(),
            request.headers.get("Content-Encoding"),
            settings().max_request_bytes,
        )
        return prediction_store(db_session(), settings()).write_batch(
            service_context(),
            name,
            version,
            document,
            strict=args["strict"],
            shadow_of=args["shadow_of"],
            checked_in=database(),
        )

    @requires(Role.VIEWER)
    @blp.arguments(PredictionListArgsSchema, location="query", unknown=RAISE)
    @blp.response(200, PredictionPageSchema)
    def get(self, args: PredictionListArgs, name: str, version: int) -> PredictionPage:
        """List predictions in a time window, oldest first, by cursor"""
        return IngestService(db_session(), service_context()).predictions(name, version, args)


@blp.route(PREDICTIONS_URL + "/export")
class PredictionExport(MethodView):
    @requires(Role.VIEWER)
    @blp.arguments(ExportArgsSchema, location="query", unknown=RAISE)
    @blp.response(200, content_type="text/csv")
    def get(self, args: ExportArgs, name: str, version: int) -> Response:
        """Export a window of predictions as CSV or Parquet, streamed"""
        export = export_predictions(
            database(), db_session(), service_context(), name, version, args
        )
        response = current_app.response_class(export.chunks, mimetype=export.mimetype)
        response.headers["Content-Disposition"] = f'attachment; filename="{export.filename}"'
        return response


@blp.route("/models/<string:name>/labels")
class Labels(MethodView):
    @requires(Role.CONTRIBUTOR)
    @blp.arguments(LabelBatchSchema)
    @blp.response(200, LabelResultSchema)
    def post(self, args: LabelBatch, name: str) -> LabelResult:
        """Record ground truth for earlier predictions, by prediction id"""
        store = prediction_store(db_session(), settings())
        return store.add_labels(service_context(), name, args["labels"])


@blp.route("/models/<string:name>/labels/pending")
class PendingLabelList(MethodView):
    @requires(Role.VIEWER)
    @blp.arguments(PendingLabelArgsSchema, location="query", unknown=RAISE)
    @blp.response(200, PendingLabelsSchema)
    def get(self, args: PendingLabelArgs, name: str) -> PendingLabels:
        """Count and list the labels waiting for their predictions, by prediction id"""
        return LabelService(db_session(), service_context()).pending(name, args)
