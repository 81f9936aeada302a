"""Request and response shapes of benchmarks and the leaderboard."""

from __future__ import annotations

from typing import TypedDict

from marshmallow import fields, validate

from ..schemas import StrictSchema, Timestamp

BENCHMARK_NAME = validate.Regexp(
    r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}\Z",
    error="A benchmark name is 1–100 characters: letters, digits, '.', '_' and '-'.",
)
METRIC_NAME = validate.Length(min=1, max=100)


class BenchmarkCreateSchema(StrictSchema):
    """A benchmark result to log."""

    name = fields.String(required=True, validate=BENCHMARK_NAME)
    metrics = fields.Dict(
        keys=fields.String(validate=METRIC_NAME),
        values=fields.Float(allow_nan=False),
        required=True,
        validate=validate.Length(min=1, max=200),
    )
    dataset_uri = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(max=2000)
    )
    dataset_hash = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(max=200)
    )
    notes = fields.String(load_default="", validate=validate.Length(max=10_000))


class BenchmarkCreateArgs(TypedDict):
    """What :class:`BenchmarkCreateSchema` loads."""

    name: str
    metrics: dict[str, float]
    dataset_uri: str | None
    dataset_hash: str | None
    notes: str


class BenchmarkSchema(StrictSchema):
    """A logged benchmark."""

    id = fields.Integer()
    model = fields.String(attribute="model_name")
    version = fields.Integer(attribute="version_number")
    name = fields.String()
    dataset_uri = fields.String(allow_none=True)
    dataset_hash = fields.String(allow_none=True)
    metrics = fields.Dict(keys=fields.String(), values=fields.Float())
    notes = fields.String()
    created_by = fields.String()
    created_at = Timestamp()


class BenchmarkListArgsSchema(StrictSchema):
    """Filter a version's benchmarks by name."""

    name = fields.String(validate=BENCHMARK_NAME)


class BenchmarkListArgs(TypedDict, total=False):
    """What :class:`BenchmarkListArgsSchema` loads."""

    name: str


class LeaderboardArgsSchema(StrictSchema):
    """Which benchmark to rank by, and the sort."""

    benchmark = fields.String(required=True, validate=BENCHMARK_NAME)
    sort = fields.String(
        load_default=None,
        validate=validate.Regexp(r"^-?[^\x00-\x1f]{1,100}\Z", error="A metric name, or -metric."),
    )


class LeaderboardArgs(TypedDict):
    """What :class:`LeaderboardArgsSchema` loads."""

    benchmark: str
    sort: str | None


class LeaderboardRowSchema(StrictSchema):
    """One version's newest benchmark of that name."""

    version = fields.Integer()
    stage = fields.String()
    benchmark_id = fields.Integer()
    dataset_hash = fields.String(allow_none=True)
    created_at = Timestamp()
    metrics = fields.Dict(keys=fields.String(), values=fields.Float())


class LeaderboardSchema(StrictSchema):
    """Versions × metrics."""

    model = fields.String()
    benchmark = fields.String()
    metrics = fields.List(fields.String())
    rows = fields.List(fields.Nested(LeaderboardRowSchema))
