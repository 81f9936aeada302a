"""Shapes of the comparison report: the query that asks for one, the report it answers, and
a version's served and shadow traffic.

Each request schema has a TypedDict beside it: what the view receives once the schema has
loaded the request (``tests/comparisons/test_schemas.py`` holds the two to the same keys).
"""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict

from marshmallow import fields, validate

from ..checks.comparison import Verdict
from ..schemas import StrictSchema, Timestamp

_VERSION_OR_ALIAS = validate.Regexp(
    r"^(?:[1-9][0-9]{0,9}|[a-z][a-z0-9_-]{0,62})\Z",
    error="A version number or an alias (a lowercase slug).",
)
ALL_METRICS = ("accuracy", "f1", "roc_auc", "mae", "rmse", "mse")


class ComparisonArgsSchema(StrictSchema):
    """Which versions, how, on what, over which window (default: the week up to now)."""

    champion = fields.String(
        required=True,
        validate=_VERSION_OR_ALIAS,
        metadata={"description": "A version number or an alias, e.g. champion."},
    )
    challenger = fields.String(
        required=True,
        validate=_VERSION_OR_ALIAS,
        metadata={"description": "A version number or an alias, e.g. challenger."},
    )
    mode = fields.String(
        load_default="shadow",
        validate=validate.OneOf(["shadow", "ab"]),
        metadata={"description": "shadow: the same rows, paired; ab: each version's served rows."},
    )
    metric = fields.String(
        load_default=None,
        validate=validate.OneOf(ALL_METRICS),
        metadata={"description": "Default: accuracy for classifiers, mae for regressors."},
    )
    start = fields.AwareDateTime(load_default=None, default_timezone=None)
    end = fields.AwareDateTime(load_default=None, default_timezone=None)
    minimum = fields.Integer(
        load_default=None,
        validate=validate.Range(min=1, max=1_000_000_000),
        metadata={"description": "Declared minimum sample (paired rows, or rows per arm)."},
    )
    mde = fields.Float(
        load_default=0.02,
        validate=validate.Range(min=0.001, max=0.5),
        metadata={"description": "A/B: minimum detectable effect (absolute) of the rate."},
    )
    alpha = fields.Float(load_default=0.05, validate=validate.Range(min=0.001, max=0.2))
    power = fields.Float(load_default=0.8, validate=validate.Range(min=0.5, max=0.999))


class ComparisonArgs(TypedDict):
    """:class:`ComparisonArgsSchema` loaded."""

    champion: str
    challenger: str
    mode: str
    metric: str | None
    start: datetime | None
    end: datetime | None
    minimum: int | None
    mde: float
    alpha: float
    power: float


class SampleSizeSchema(StrictSchema):
    """How the minimum sample was set."""

    basis = fields.String(metadata={"description": "declared, default, or power (A/B)."})
    baseline_rate = fields.Float(allow_none=True)
    baseline_source = fields.String(allow_none=True)
    minimum_detectable_effect = fields.Float(allow_none=True)
    alpha = fields.Float(allow_none=True)
    power = fields.Float(allow_none=True)


class TrafficSchema(StrictSchema):
    """A version's stored predictions in a window: served, and logged in another's shadow."""

    served = fields.Integer()
    shadow = fields.Integer()


class TrafficArgsSchema(StrictSchema):
    """A time window: ``since <= timestamp < until``."""

    since = fields.AwareDateTime(load_default=None, default_timezone=None)
    until = fields.AwareDateTime(load_default=None, default_timezone=None)


class TrafficArgs(TypedDict):
    """:class:`TrafficArgsSchema` loaded."""

    since: datetime | None
    until: datetime | None


class ComparisonSchema(StrictSchema):
    """Champion against challenger: the verdict and the figures it rests on."""

    model = fields.String()
    champion = fields.Integer()
    challenger = fields.Integer()
    mode = fields.String()
    metric = fields.String()
    higher_is_better = fields.Boolean()
    start = Timestamp()
    end = Timestamp()
    verdict = fields.Enum(Verdict, by_value=True)
    reason = fields.String()
    test = fields.String(allow_none=True)
    n = fields.Integer()
    n_champion = fields.Integer()
    n_challenger = fields.Integer()
    minimum_n = fields.Integer()
    minimum_reached = fields.Boolean()
    sample_size = fields.Nested(SampleSizeSchema)
    champion_value = fields.Float(allow_none=True)
    challenger_value = fields.Float(allow_none=True)
    difference = fields.Float(allow_none=True)
    ci_low = fields.Float(allow_none=True)
    ci_high = fields.Float(allow_none=True)
    confidence = fields.Float()
    p_value = fields.Float(allow_none=True)
    statistic = fields.Float(allow_none=True)
    paired_rows = fields.Integer(allow_none=True)
    agreement_rate = fields.Float(allow_none=True)
    traffic = fields.Dict(keys=fields.String(), values=fields.Nested(TrafficSchema))
