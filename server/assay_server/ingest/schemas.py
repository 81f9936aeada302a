"""Shapes of prediction ingest, labels and reads (the batch body is read by ``wire.py``).

Each request schema has a TypedDict beside it: what the view receives once the schema has
loaded the request (``tests/ingest/test_schemas.py`` holds the two to the same keys).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, TypedDict

from marshmallow import fields, validate

from ..schemas import StrictSchema, Timestamp


class PredictionRowSchema(StrictSchema):
    """One prediction, row-wise (for the OpenAPI description)."""

    prediction_id = fields.String(required=True, validate=validate.Length(min=1, max=128))
    timestamp = fields.Raw(metadata={"description": "ISO 8601 or epoch seconds; default now"})
    features = fields.Dict(required=True)
    prediction = fields.Raw(required=True)
    score = fields.Float(allow_none=True)
    probabilities = fields.Dict(keys=fields.String(), values=fields.Float(), allow_none=True)
    sensitive = fields.Dict(allow_none=True)
    label = fields.Raw(allow_none=True)


class PredictionColumnsSchema(StrictSchema):
    """A batch column-wise: one array per column, feature names once."""

    prediction_id = fields.List(fields.String(), required=True)
    timestamp = fields.List(fields.Raw())
    features = fields.Dict(keys=fields.String(), values=fields.List(fields.Raw()), required=True)
    prediction = fields.List(fields.Raw(), required=True)
    score = fields.List(fields.Float(allow_none=True))
    probabilities = fields.List(fields.Dict(allow_none=True))
    sensitive = fields.Dict(keys=fields.String(), values=fields.List(fields.Raw()))
    label = fields.List(fields.Raw(allow_none=True))


class PredictionBatchSchema(StrictSchema):
    """Either ``rows`` or ``columns``."""

    rows = fields.List(fields.Nested(PredictionRowSchema))
    columns = fields.Nested(PredictionColumnsSchema)


class IngestArgsSchema(StrictSchema):
    """``strict=true`` refuses the whole batch when any row is invalid; ``shadow_of=N`` logs
    the rows in the shadow of version N of the same model (not served traffic)."""

    strict = fields.Boolean(load_default=False)
    shadow_of = fields.Integer(
        load_default=None,
        validate=validate.Range(min=1, max=2**31 - 1),
        metadata={"description": "The champion version these predictions shadow."},
    )


class IngestArgs(TypedDict):
    """:class:`IngestArgsSchema` loaded."""

    strict: bool
    shadow_of: int | None


class RowErrorSchema(StrictSchema):
    """Why one row was refused."""

    index = fields.Integer()
    field = fields.String()
    message = fields.String()


class IngestResultSchema(StrictSchema):
    """What became of a batch."""

    accepted = fields.Integer()
    duplicates = fields.Integer()
    rejected = fields.Integer()
    errors = fields.List(fields.Nested(RowErrorSchema))
    labels_joined = fields.Integer(
        metadata={"description": "Labels sent before these predictions, joined to them now."}
    )


class LabelSchema(StrictSchema):
    """Ground truth for one prediction."""

    refuses_unstorable_text = False  # IngestService refuses such a label alone, keeping the rest

    prediction_id = fields.String(required=True, validate=validate.Length(min=1, max=128))
    label = fields.Raw(required=True, allow_none=True)


class Label(TypedDict):
    """:class:`LabelSchema` loaded: the label is any JSON value until the service checks it."""

    prediction_id: str
    label: object


class LabelBatchSchema(StrictSchema):
    """Labels that arrived later, joined by prediction id."""

    labels = fields.List(fields.Nested(LabelSchema), required=True, validate=validate.Length(min=1))


class LabelBatch(TypedDict):
    """:class:`LabelBatchSchema` loaded."""

    labels: list[Label]


class LabelResultSchema(StrictSchema):
    """What became of the labels."""

    updated = fields.Integer()
    # not ``unknown =``: that name is the Schema's option for unknown fields
    unknown_count = fields.Integer(data_key="unknown", attribute="unknown")
    rejected = fields.Integer()
    unknown_ids = fields.List(fields.String())
    errors = fields.List(fields.Nested(RowErrorSchema))
    pending = fields.Integer(
        metadata={
            "description": "Labels of this batch whose predictions are not stored yet: kept "
            "and joined when they arrive (ASSAY_PENDING_LABEL_DAYS)."
        }
    )
    pending_total = fields.Integer(
        metadata={"description": "The model's labels waiting for their predictions now."}
    )


class PendingLabelArgsSchema(StrictSchema):
    """A page of pending labels, by prediction id."""

    after = fields.String(
        validate=validate.Length(min=1, max=128),
        metadata={"description": "The next_cursor of the previous page."},
    )
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class _PendingAfter(TypedDict, total=False):
    after: str


class PendingLabelArgs(_PendingAfter):
    """:class:`PendingLabelArgsSchema` loaded."""

    limit: int


class PendingLabelSchema(StrictSchema):
    """A label waiting for its prediction."""

    prediction_id = fields.String()
    label = fields.Raw(allow_none=True)
    received_at = Timestamp()


class PendingLabelsSchema(StrictSchema):
    """A model's labels waiting for their predictions."""

    model = fields.String()
    count = fields.Integer()
    retention_days = fields.Float()
    items = fields.List(fields.Nested(PendingLabelSchema))
    next_cursor = fields.String(allow_none=True)


class WindowArgsSchema(StrictSchema):
    """A time window: ``since <= timestamp < until``."""

    since = fields.AwareDateTime(default_timezone=None)
    until = fields.AwareDateTime(default_timezone=None)


class WindowArgs(TypedDict, total=False):
    """:class:`WindowArgsSchema` loaded: either bound may be absent."""

    since: datetime
    until: datetime


class PredictionListArgsSchema(WindowArgsSchema):
    """A window, paged by cursor in time order."""

    cursor = fields.String(
        validate=validate.Regexp(r"^\d{1,18}:\d{1,18}\Z", error="Not a cursor from next_cursor.")
    )
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class _CursorArgs(WindowArgs, total=False):
    cursor: str


class PredictionListArgs(_CursorArgs):
    """:class:`PredictionListArgsSchema` loaded."""

    limit: int


class ExportArgsSchema(WindowArgsSchema):
    """A window to export, as CSV or Parquet."""

    format = fields.String(load_default="csv", validate=validate.OneOf(["csv", "parquet"]))


ExportFormat = Literal["csv", "parquet"]


class ExportArgs(WindowArgs):
    """:class:`ExportArgsSchema` loaded."""

    format: ExportFormat


class StoredPredictionSchema(StrictSchema):
    """A stored prediction."""

    prediction_id = fields.String()
    timestamp = Timestamp()
    features = fields.Dict()
    prediction = fields.Raw()
    score = fields.Float(allow_none=True)
    probabilities = fields.Dict(allow_none=True)
    sensitive = fields.Dict(allow_none=True)
    label = fields.Raw(allow_none=True)


class PredictionPageSchema(StrictSchema):
    """A page of predictions and the cursor of the next."""

    items = fields.List(fields.Nested(StoredPredictionSchema))
    next_cursor = fields.String(allow_none=True)
