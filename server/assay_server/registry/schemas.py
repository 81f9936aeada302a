"""Request and response shapes of the registry's models and versions (benchmarks and the
leaderboard: :mod:`.benchmark_schemas`)."""

from __future__ import annotations

import enum
import json
from typing import TYPE_CHECKING, Any, TypedDict

from marshmallow import ValidationError, fields, validate, validates, validates_schema

from ..schemas import PageArgsSchema, PageSchema, StrictSchema, Timestamp, stored_id
from .declared_classes import MAX_CLASS_TEXT, MAX_DECLARED_CLASSES
from .models import ArtifactFormat, FeatureKind, RiskTier, Stage, Task

if TYPE_CHECKING:
    from typing_extensions import NotRequired

# Patterns end in \Z, not $: re.match lets "$" match before a trailing newline.
MODEL_NAME = validate.Regexp(
    r"^[a-z0-9][a-z0-9._-]{0,99}\Z",
    error="Must be a lowercase slug of 1–100 characters: a-z, 0-9, '.', '_' and '-', "
    "starting with a letter or digit.",
)
COLUMN_NAME = validate.Regexp(
    r"^[^\x00-\x1f\x7f]{1,200}\Z", error="1–200 characters, no control characters."
)
SHA256 = validate.Regexp(r"^[0-9a-fA-F]{64}\Z", error="A sha256 is 64 hexadecimal digits.")
GIT_COMMIT = validate.Regexp(
    r"^[0-9a-fA-F]{7,64}\Z", error="A git commit is 7–64 hexadecimal digits."
)
MAX_DOCUMENT_BYTES = 64 * 1024


def _choices(enum_type: type[enum.Enum]) -> validate.OneOf:
    return validate.OneOf([member.value for member in enum_type])


def _tags() -> fields.List:
    return fields.List(
        fields.String(validate=validate.Length(min=1, max=100)), validate=validate.Length(max=50)
    )


def _check_document(value: object, name: str) -> None:
    try:
        size = len(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError):
        raise ValidationError(f"{name} must be plain JSON (no NaN or infinity).") from None
    if size > MAX_DOCUMENT_BYTES:
        raise ValidationError(f"{name} is {size} bytes as JSON; the limit is {MAX_DOCUMENT_BYTES}.")


#: What one declared class may be, as the OpenAPI document states it.
CLASS_VALUE_SHAPES = [
    {"type": "string", "minLength": 1, "maxLength": MAX_CLASS_TEXT},
    {"type": "integer", "minimum": -(2**53), "maximum": 2**53},
    {"type": "number"},
    {"type": "boolean"},
]


#: Days a model's predictions are kept; null keeps them for ever.
MAX_RETENTION_DAYS = 36_500


def _retention_days() -> fields.Integer:
    return fields.Integer(
        allow_none=True,
        strict=True,
        validate=validate.Range(min=1, max=MAX_RETENTION_DAYS),
        metadata={
            "description": "Days its predictions are kept (null: for ever; left out at "
            "creation: the server's ASSAY_RETENTION_DAYS)."
        },
    )


class ModelCreateSchema(StrictSchema):
    """A new model."""

    name = fields.String(required=True, validate=MODEL_NAME)
    task = fields.String(required=True, validate=_choices(Task))
    risk_tier = fields.String(load_default=RiskTier.LOW.value, validate=_choices(RiskTier))
    owner = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(min=1, max=100)
    )
    description = fields.String(load_default="", validate=validate.Length(max=10_000))
    tags = _tags()
    #: A classifier's classes (checked by the registry: see ``declared_classes.py``): the
    #: document states their shape; how many a task takes, and which are alike, it cannot.
    classes = fields.List(
        fields.Raw(allow_none=False, metadata={"anyOf": CLASS_VALUE_SHAPES}),
        allow_none=True,
        validate=validate.Length(
            min=2,
            max=MAX_DECLARED_CLASSES,
            error=f"A classifier has at least two classes, at most {MAX_DECLARED_CLASSES}.",
        ),
    )
    retention_days = _retention_days()


class ModelCreateArgs(TypedDict):
    """What :class:`ModelCreateSchema` loads."""

    name: str
    task: str
    risk_tier: str
    owner: str | None
    description: str
    tags: NotRequired[list[str]]
    classes: NotRequired[list[object] | None]
    retention_days: NotRequired[int | None]


class ModelUpdateSchema(StrictSchema):
    """What may change on a model."""

    description = fields.String(validate=validate.Length(max=10_000))
    owner = fields.String(allow_none=True, validate=validate.Length(min=1, max=100))
    tags = _tags()
    risk_tier = fields.String(validate=_choices(RiskTier))
    retention_days = _retention_days()


class ModelSchema(StrictSchema):
    """A model."""

    id = fields.Integer()
    name = fields.String()
    task = fields.String()
    risk_tier = fields.String()
    owner = fields.String(allow_none=True)
    description = fields.String()
    tags = fields.List(fields.String())
    classes = fields.List(fields.Raw(metadata={"anyOf": CLASS_VALUE_SHAPES}), allow_none=True)
    retention_days = fields.Integer(allow_none=True)
    archived = fields.Boolean()
    archived_at = Timestamp(allow_none=True)
    latest_version = fields.Integer(attribute="latest_version_number", allow_none=True)
    created_by = fields.String()
    created_at = Timestamp()
    updated_at = Timestamp()


class ModelPageSchema(PageSchema):
    """A page of models."""

    items = fields.List(fields.Nested(ModelSchema))


class ModelListArgsSchema(PageArgsSchema):
    """Filters and sort for the model list."""

    q = fields.String(validate=validate.Length(max=100))
    task = fields.String(validate=_choices(Task))
    risk_tier = fields.String(validate=_choices(RiskTier))
    owner = fields.String(validate=validate.Length(max=100))
    tag = fields.String(validate=validate.Length(max=100))
    include_archived = fields.Boolean(load_default=False)
    sort = fields.String(
        load_default="name",
        validate=validate.OneOf(
            ["name", "-name", "created_at", "-created_at", "updated_at", "-updated_at"]
        ),
    )


class ModelListArgs(TypedDict):
    """What :class:`ModelListArgsSchema` loads."""

    q: NotRequired[str]
    task: NotRequired[str]
    risk_tier: NotRequired[str]
    owner: NotRequired[str]
    tag: NotRequired[str]
    include_archived: bool
    sort: str
    page: int
    limit: int


class FeatureSpecSchema(StrictSchema):
    """One input column and how it is compared."""

    name = fields.String(required=True, validate=COLUMN_NAME)
    kind = fields.String(required=True, validate=_choices(FeatureKind))


class LineageSchema(StrictSchema):
    """Where a version came from."""

    dataset_uri = fields.String(allow_none=True, validate=validate.Length(max=2000))
    dataset_hash = fields.String(allow_none=True, validate=validate.Length(max=200))
    git_commit = fields.String(allow_none=True, validate=GIT_COMMIT)
    params = fields.Dict(keys=fields.String(validate=validate.Length(max=200)))
    metrics = fields.Dict(
        keys=fields.String(validate=validate.Length(max=200)), values=fields.Float(allow_nan=False)
    )
    metadata = fields.Dict(keys=fields.String(validate=validate.Length(max=200)))

    @validates_schema
    def _size(self, data: dict[str, object], **_: object) -> None:
        _check_document(data, "lineage")


def _model_card() -> fields.Dict:
    return fields.Dict(
        keys=fields.String(
            validate=validate.Regexp(
                r"^[a-z][a-z0-9_]{0,63}\Z",
                error="Model-card fields are snake_case names, like intended_use.",
            )
        )
    )


class TriggeredBySchema(StrictSchema):
    """What a version was registered in answer to: an alert of its model."""

    alert = stored_id(required=True)


class VersionCreateSchema(StrictSchema):
    """What a client says about a version it registers (the JSON body, or ``metadata``)."""

    description = fields.String(load_default="", validate=validate.Length(max=10_000))
    tags = _tags()
    format = fields.String(load_default=None, allow_none=True, validate=_choices(ArtifactFormat))
    artifact_sha256 = fields.String(load_default=None, allow_none=True, validate=SHA256)
    features = fields.List(
        fields.Nested(FeatureSpecSchema),
        load_default=None,
        allow_none=True,
        validate=validate.Length(min=1, max=2000),
    )
    target = fields.String(load_default=None, allow_none=True, validate=COLUMN_NAME)
    prediction = fields.String(load_default=None, allow_none=True, validate=COLUMN_NAME)
    lineage = fields.Nested(LineageSchema, load_default=dict)
    model_card = _model_card()
    triggered_by = fields.Nested(
        TriggeredBySchema,
        load_default=None,
        allow_none=True,
        metadata={"description": "The alert of this model the version was retrained for."},
    )

    @validates("features")
    def _unique_features(self, value: list[dict[str, str]] | None, **_: object) -> None:
        # After an error inside the list, marshmallow passes the items that loaded, in part.
        names = [f["name"] for f in value or [] if isinstance(f, dict) and "name" in f]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValidationError(f"Feature names repeat: {', '.join(repeated)}.")

    @validates("model_card")
    def _card_size(self, value: dict[str, object], **_: object) -> None:
        _check_document(value, "model_card")

    @validates_schema
    def _outputs_are_not_features(self, data: dict[str, Any], **_: object) -> None:
        names = {f["name"] for f in data.get("features") or []}
        for column in ("target", "prediction"):
            if data.get(column) and data[column] in names:
                raise ValidationError(
                    f"{data[column]!r} is listed as a feature too.", field_name=column
                )


class VersionUpdateSchema(StrictSchema):
    """What may change after registration."""

    description = fields.String(validate=validate.Length(max=10_000))
    tags = _tags()
    model_card = _model_card()

    @validates("model_card")
    def _card_size(self, value: dict[str, object], **_: object) -> None:
        _check_document(value, "model_card")


class ArtifactSchema(StrictSchema):
    """A stored artifact."""

    sha256 = fields.String()
    format = fields.String()
    size_bytes = fields.Integer()
    filename = fields.String()


class ReferenceSchema(StrictSchema):
    """A stored reference dataset."""

    sha256 = fields.String()
    rows = fields.Integer()
    columns = fields.Integer()
    size_bytes = fields.Integer()


class VersionSchema(StrictSchema):
    """A version."""

    id = fields.Integer()
    model = fields.String(attribute="model_name")
    version = fields.Integer()
    stage = fields.String()
    description = fields.String()
    tags = fields.List(fields.String())
    model_card = fields.Dict()
    artifact = fields.Nested(ArtifactSchema, allow_none=True)
    schema = fields.Dict(attribute="feature_schema")
    lineage = fields.Dict()
    triggered_by = fields.Dict(allow_none=True)
    reference = fields.Nested(ReferenceSchema, allow_none=True)
    created_by = fields.String()
    created_at = Timestamp()
    stage_changed_at = Timestamp(allow_none=True)


class VersionPageSchema(PageSchema):
    """A page of versions."""

    items = fields.List(fields.Nested(VersionSchema))


class VersionListArgsSchema(PageArgsSchema):
    """Filters and sort for the version list."""

    stage = fields.String(validate=_choices(Stage))
    tag = fields.String(validate=validate.Length(max=100))
    sort = fields.String(
        load_default="-version",
        validate=validate.OneOf(["version", "-version", "created_at", "-created_at"]),
    )


class VersionListArgs(TypedDict):
    """What :class:`VersionListArgsSchema` loads."""

    stage: NotRequired[str]
    tag: NotRequired[str]
    sort: str
    page: int
    limit: int
