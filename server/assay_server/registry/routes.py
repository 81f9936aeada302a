"""Registry endpoints: models, versions, their files."""

from __future__ import annotations

import json

from flask import request, send_file
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE, ValidationError
from werkzeug.wrappers import Response

from ..access import requires
from ..errors import BadRequest, ValidationFailed
from ..request_scope import db_session, service_context
from ..roles import Role
from ..storable import UNSTORABLE_TEXT, is_storable_text
from ..storage import OpenedBlob
from .benchmark_schemas import (
    BenchmarkCreateArgs,
    BenchmarkCreateSchema,
    BenchmarkListArgs,
    BenchmarkListArgsSchema,
    BenchmarkSchema,
    LeaderboardArgs,
    LeaderboardArgsSchema,
    LeaderboardSchema,
)
from .benchmarks import BenchmarkService
from .benchmarks import Leaderboard as LeaderboardTable
from .models import Benchmark, ModelVersion, RegisteredModel
from .paging import Page
from .schemas import (
    ModelCreateArgs,
    ModelCreateSchema,
    ModelListArgs,
    ModelListArgsSchema,
    ModelPageSchema,
    ModelSchema,
    ModelUpdateSchema,
    VersionCreateSchema,
    VersionListArgs,
    VersionListArgsSchema,
    VersionPageSchema,
    VersionSchema,
    VersionUpdateSchema,
)
from .service import ModelChanges, RegistryService, Upload, VersionChanges, VersionSpec

blp = Blueprint(
    "registry",
    __name__,
    url_prefix="/api/v1",
    description="Models, versions, artifacts and reference data",
)

VERSION_URL = "/models/<string:name>/versions/<int:version>"
_FILE_PARTS = ("artifact", "reference_data")

_REGISTER_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": VersionCreateSchema},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        # the JSON version description, as in a JSON body
                        "metadata": {"$ref": "#/components/schemas/VersionCreate"},
                        "artifact": {"type": "string", "format": "binary"},
                        "reference_data": {
                            "type": "string",
                            "format": "binary",
                            "description": "CSV or Parquet",
                        },
                    },
                },
                "encoding": {"metadata": {"contentType": "application/json"}},
            },
        },
    }
}


def _registry() -> RegistryService:
    return RegistryService(db_session(), service_context())


@blp.route("/models")
class Models(MethodView):
    @requires(Role.VIEWER)
    @blp.arguments(ModelListArgsSchema, location="query", unknown=RAISE)
    @blp.response(200, ModelPageSchema)
    def get(self, args: ModelListArgs) -> Page[RegisteredModel]:
        """List models"""
        return _registry().list_models(**args)

    @requires(Role.CONTRIBUTOR)
    @blp.arguments(ModelCreateSchema)
    @blp.response(201, ModelSchema)
    def post(self, args: ModelCreateArgs) -> RegisteredModel:
        """Create a model"""
        return _registry().create_model(**args)


@blp.route("/models/<string:name>")
class Model(MethodView):
    @requires(Role.VIEWER)
    @blp.response(200, ModelSchema)
    def get(self, name: str) -> RegisteredModel:
        """Get a model"""
        return _registry().get_model(name)

    @requires(Role.CONTRIBUTOR)
    @blp.arguments(ModelUpdateSchema)
    @blp.response(200, ModelSchema)
    def patch(self, args: ModelChanges, name: str) -> RegisteredModel:
        """Change a model's description, owner, tags (risk tier: admin)"""
        return _registry().update_model(name, args)


@blp.route("/models/<string:name>/archive")
class ArchiveModel(MethodView):
    @requires(Role.ADMIN)
    @blp.response(200, ModelSchema)
    def post(self, name: str) -> RegisteredModel:
        """Archive a model (models are never deleted)"""
        return _registry().archive_model(name)


@blp.route("/models/<string:name>/restore")
class RestoreModel(MethodView):
    @requires(Role.ADMIN)
    @blp.response(200, ModelSchema)
    def post(self, name: str) -> RegisteredModel:
        """Restore an archived model"""
        return _registry().restore_model(name)


def _json_body() -> object:
    """The request's JSON (``{}`` when empty); ``null`` stays None, to be refused as such."""
    raw = request.get_data()
    if not raw:
        return {}
    if not request.is_json:
        raise BadRequest(
            "Send the version as JSON (application/json), or as "
            "multipart/form-data with a 'metadata' part."
        )
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # JSONDecodeError, not UTF-8/16/32, nested too deep
        raise BadRequest("The request body is not valid JSON.") from None


def _version_request() -> tuple[VersionSpec, Upload | None, Upload | None]:
    """The version description and files, from a JSON body or a multipart form."""
    if request.mimetype == "multipart/form-data":
        raw = request.form.get("metadata", "{}")
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, RecursionError):  # not JSON, or nested a thousand deep
            raise BadRequest("The 'metadata' part is not valid JSON.") from None
        files = {key: request.files[key] for key in _FILE_PARTS if key in request.files}
        problems = {key: ["Unknown file part."] for key in set(request.files) - set(files)}
        # A file sent without a filename arrives as a form field: refuse it, never drop it.
        for key in set(request.form) - {"metadata"}:
            problems[key] = (
                ["Send this as a file part, with a filename."]
                if key in _FILE_PARTS
                else ["Unknown form field."]
            )
        if problems:
            raise ValidationFailed("", details=problems)
    else:
        body = _json_body()
        files = {}
    if not isinstance(body, dict):
        raise ValidationFailed("", details={"_schema": ["Expected a JSON object."]})
    try:
        loaded = VersionCreateSchema().load(body)
    except ValidationError as exc:
        raise ValidationFailed("", details=exc.normalized_messages()) from None

    def upload(key: str) -> Upload | None:
        item = files.get(key)
        if item is None:  # not `if not item`: a part with an empty file name is falsy
            return None
        if item.filename and not is_storable_text(item.filename):
            raise ValidationFailed("", details={key: ["File name: " + UNSTORABLE_TEXT]})
        return Upload(stream=item.stream, filename=item.filename or key)

    return VersionSpec(**loaded), upload("artifact"), upload("reference_data")


@blp.route("/models/<string:name>/versions")
class Versions(MethodView):
    @requires(Role.VIEWER)
    @blp.arguments(VersionListArgsSchema, location="query", unknown=RAISE)
    @blp.response(200, VersionPageSchema)
    def get(self, args: VersionListArgs, name: str) -> Page[ModelVersion]:
        """List a model's versions"""
        return _registry().list_versions(name, **args)

    @requires(Role.CONTRIBUTOR)
    @blp.doc(**_REGISTER_DOC)
    @blp.response(201, VersionSchema)
    def post(self, name: str) -> ModelVersion:
        """Register a version: JSON, or multipart with metadata, artifact and reference_data"""
        spec, artifact, reference_data = _version_request()
        return _registry().register_version(
            name, spec, artifact=artifact, reference_data=reference_data
        )


@blp.route(VERSION_URL)
class Version(MethodView):
    @requires(Role.VIEWER)
    @blp.response(200, VersionSchema)
    def get(self, name: str, version: int) -> ModelVersion:
        """Get a version"""
        return _registry().get_version(name, version)

    @requires(Role.CONTRIBUTOR)
    @blp.arguments(VersionUpdateSchema)
    @blp.response(200, VersionSchema)
    def patch(self, args: VersionChanges, name: str, version: int) -> ModelVersion:
        """Change a version's description, tags or model card (nothing else changes)"""
        return _registry().update_version(name, version, args)


def _send_blob(blob: OpenedBlob, mimetype: str, download_name: str) -> Response:
    """A stored file as an attachment: sent from disk (ranges, conditional requests), or
    streamed chunk by chunk from the object store's body."""
    if blob.path is not None:
        return send_file(
            blob.path, mimetype=mimetype, as_attachment=True, download_name=download_name
        )
    response = Response(blob.chunks(), mimetype=mimetype, direct_passthrough=True)
    response.headers["Content-Length"] = str(blob.size)
    response.headers.set("Content-Disposition", "attachment", filename=download_name)
    return response


@blp.route(VERSION_URL + "/artifact")
class VersionArtifact(MethodView):
    @requires(Role.VIEWER)
    @blp.response(200, content_type="application/octet-stream")
    def get(self, name: str, version: int) -> Response:
        """Download a version's artifact"""
        row, blob = _registry().open_artifact(name, version)
        response = _send_blob(
            blob, "application/octet-stream", row.artifact_filename or f"{name}-{version}"
        )
        response.headers["X-Assay-Sha256"] = row.artifact_sha256 or ""
        return response


@blp.route(VERSION_URL + "/reference")
class VersionReference(MethodView):
    @requires(Role.VIEWER)
    @blp.response(200, content_type="application/vnd.apache.parquet")
    def get(self, name: str, version: int) -> Response:
        """Download a version's reference dataset as Parquet"""
        row, blob = _registry().open_reference(name, version)
        response = _send_blob(
            blob, "application/vnd.apache.parquet", f"{name}-v{version}-reference.parquet"
        )
        response.headers["X-Assay-Sha256"] = row.reference_sha256 or ""
        return response


def _benchmarks() -> BenchmarkService:
    return BenchmarkService(db_session(), service_context())


@blp.route(VERSION_URL + "/benchmarks")
class Benchmarks(MethodView):
    @requires(Role.VIEWER)
    @blp.arguments(BenchmarkListArgsSchema, location="query", unknown=RAISE)
    @blp.response(200, BenchmarkSchema(many=True))
    def get(self, args: BenchmarkListArgs, name: str, version: int) -> list[Benchmark]:
        """List a version's benchmarks"""
        return _benchmarks().list(name, version, **args)

    @requires(Role.CONTRIBUTOR)
    @blp.arguments(BenchmarkCreateSchema)
    @blp.response(201, BenchmarkSchema)
    def post(self, args: BenchmarkCreateArgs, name: str, version: int) -> Benchmark:
        """Log a benchmark of a version (audited)"""
        return _benchmarks().log(name, version, **args)


@blp.route(VERSION_URL + "/benchmarks/<int:benchmark_id>")
class BenchmarkItem(MethodView):
    @requires(Role.VIEWER)
    @blp.response(200, BenchmarkSchema)
    def get(self, name: str, version: int, benchmark_id: int) -> Benchmark:
        """Get one benchmark"""
        return _benchmarks().get(name, version, benchmark_id)


@blp.route("/models/<string:name>/leaderboard")
class Leaderboard(MethodView):
    @requires(Role.VIEWER)
    @blp.arguments(LeaderboardArgsSchema, location="query", unknown=RAISE)
    @blp.response(200, LeaderboardSchema)
    def get(self, args: LeaderboardArgs, name: str) -> LeaderboardTable:
        """Versions × metrics of a benchmark, sortable by a metric"""
        return _benchmarks().leaderboard(name, **args)
