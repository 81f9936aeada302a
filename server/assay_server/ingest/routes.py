"""Prediction and label endpoints."""

from __future__ import annotations

from typing import Any

from flask import current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE
from werkzeug.wrappers import Response

from ..access import requires
from ..registry.service import RegistryService
from ..request_scope import database, db_session, service_context, settings
from ..roles import Role
from .schemas import (
    ExportArgsSchema,
    IngestArgsSchema,
    IngestResultSchema,
    LabelBatchSchema,
    LabelResultSchema,
    PredictionBatchSchema,
    PredictionListArgsSchema,
    PredictionPageSchema,
)
from .service import IngestService
from .window import csv_chunks, export_frames, page, parquet_chunks
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
    def post(self, args: dict[str, Any], name: str, version: int) -> Any:
        """Log a batch of predictions (JSON, optionally gzip; row- or column-wise)"""
        document = decode_body(
            request.get_data(),
            request.headers.get("Content-Encoding"),
            settings().max_request_bytes,
        )
        # Checked and encoded in a read session: on SQLite, the write lock is taken only
        # for the statements that store the batch.
        with database().unit_of_work(write=False) as session:
            prepared = IngestService(session, service_context()).prepare(
                name, version, document, strict=args["strict"]
            )
        return IngestService(db_session(), service_context()).store(prepared)

    @requires(Role.VIEWER)
    @blp.arguments(PredictionListArgsSchema, location="query", unknown=RAISE)
    @blp.response(200, PredictionPageSchema)
    def get(self, args: dict[str, Any], name: str, version: int) -> Any:
        """List predictions in a time window, oldest first, by cursor"""
        row = RegistryService(db_session(), service_context()).get_version(name, version)
        after = None
        if args.get("cursor"):
            ts_us, row_id = args["cursor"].split(":")
            after = (int(ts_us), int(row_id))
        items, cursor = page(
            db_session(), row.id, args.get("since"), args.get("until"), after, args["limit"]
        )
        return {"items": items, "next_cursor": cursor}


@blp.route(PREDICTIONS_URL + "/export")
class PredictionExport(MethodView):
    @requires(Role.VIEWER)
    @blp.arguments(ExportArgsSchema, location="query", unknown=RAISE)
    @blp.response(200, content_type="text/csv")
    def get(self, args: dict[str, Any], name: str, version: int) -> Response:
        """Export a window of predictions as CSV or Parquet, streamed"""
        version_id = RegistryService(db_session(), service_context()).get_version(name, version).id
        db = database()
        fmt = args["format"]

        def chunks() -> Any:
            with db.unit_of_work(write=False) as session:
                frames = export_frames(session, version_id, args.get("since"), args.get("until"))
                yield from (csv_chunks(frames) if fmt == "csv" else parquet_chunks(frames))

        mimetype = "text/csv" if fmt == "csv" else "application/vnd.apache.parquet"
        response = current_app.response_class(chunks(), mimetype=mimetype)
        response.headers["Content-Disposition"] = (
            f'attachment; filename="{name}-v{version}-predictions.{fmt}"'
        )
        return response


@blp.route("/models/<string:name>/labels")
class Labels(MethodView):
    @requires(Role.CONTRIBUTOR)
    @blp.arguments(LabelBatchSchema)
    @blp.response(200, LabelResultSchema)
    def post(self, args: dict[str, Any], name: str) -> Any:
        """Record ground truth for earlier predictions, by prediction id"""
        return IngestService(db_session(), service_context()).record_labels(name, args["labels"])
