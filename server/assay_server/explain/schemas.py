"""Request and response shapes of explanations and of the loading decisions.

Each request schema has a TypedDict beside it: what the view receives once the schema has
loaded the request (``tests/explain/test_schemas.py`` holds the two to the same keys).
"""

from __future__ import annotations

from typing import TypedDict

from marshmallow import fields, validate

from ..schemas import StrictSchema, Timestamp
from .messages import Row

MAX_ROWS = 1000
# A Python dotted name, as skops reports a type: "sklearn.tree._tree.Tree".
TYPE_NAME = validate.Regexp(
    r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+\Z",
    error="A fully qualified type name, e.g. sklearn.tree._tree.Tree.",
)


def _seed() -> fields.Integer:
    return fields.Integer(load_default=0, validate=validate.Range(min=0, max=2**32 - 1))


class ExplainRequestSchema(StrictSchema):
    """Rows to explain and LIME's parameters."""

    rows = fields.List(
        fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True)),
        required=True,
        validate=validate.Length(min=1, max=MAX_ROWS),
    )
    num_features = fields.Integer(load_default=10, validate=validate.Range(min=1, max=200))
    num_samples = fields.Integer(load_default=5000, validate=validate.Range(min=50, max=50_000))
    seed = _seed()
    label = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(min=1, max=200)
    )


class ExplainRequest(TypedDict):
    """:class:`ExplainRequestSchema` loaded."""

    rows: list[Row]
    num_features: int
    num_samples: int
    seed: int
    label: str | None


class GlobalRequestSchema(StrictSchema):
    """How large a sample of the reference set to explain, and with which parameters."""

    sample_size = fields.Integer(load_default=200, validate=validate.Range(min=1, max=5000))
    num_samples = fields.Integer(load_default=1000, validate=validate.Range(min=50, max=50_000))
    seed = _seed()


class GlobalRequest(TypedDict):
    """:class:`GlobalRequestSchema` loaded."""

    sample_size: int
    num_samples: int
    seed: int


class ExplanationSchema(StrictSchema):
    """An explanation: its status and, once done, its result."""

    id = fields.Integer(required=True)
    model = fields.String(attribute="model_name", required=True)
    version = fields.Integer(attribute="version_number", required=True)
    kind = fields.String(required=True)
    status = fields.String(required=True)
    source = fields.String(required=True)
    input_hash = fields.String(required=True)
    params = fields.Dict(required=True)
    rows = fields.Integer(attribute="row_count", required=True)
    cached = fields.Boolean(required=True)
    result = fields.Dict(allow_none=True)
    error = fields.Dict(allow_none=True)
    created_by = fields.String(required=True)
    created_at = Timestamp(required=True)
    finished_at = Timestamp(allow_none=True)


class TrustTypesSchema(StrictSchema):
    """Types an admin trusts skops to load for one version."""

    types = fields.List(
        fields.String(validate=TYPE_NAME), required=True, validate=validate.Length(min=1, max=100)
    )


class TrustTypesRequest(TypedDict):
    """:class:`TrustTypesSchema` loaded."""

    types: list[str]


class PickleOptInSchema(StrictSchema):
    """Whether this version's pickle artifact may be loaded (with ASSAY_ALLOW_PICKLE=1)."""

    allow = fields.Boolean(required=True)


class PickleOptInRequest(TypedDict):
    """:class:`PickleOptInSchema` loaded."""

    allow: bool


class LoadPermissionSchema(StrictSchema):
    """What workers may load for a version."""

    model = fields.String(required=True)
    version = fields.Integer(required=True)
    format = fields.String(allow_none=True)
    trusted_types = fields.List(fields.String(), required=True)
    allow_pickle = fields.Boolean(required=True)
    pickle_enabled_on_server = fields.Boolean(required=True)
