"""Request and response shapes of monitoring: monitors, runs, reports (a documented contract)."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from ..registry.models import Stage
from ..schemas import StrictSchema, Timestamp, stored_id
from .models import CHECKS, REPORT_STATUSES, RUN_STATUSES
from .schedules import MAX_INTERVAL_SECONDS, MIN_INTERVAL_SECONDS
from .thresholds import BIAS_METRICS

NAME = validate.Regexp(
    r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}\Z",
    error="A name is 1–100 characters: letters, digits, '.', '_' and '-'.",
)
DRIFT_METHODS = ("ks", "chisquare", "z", "wasserstein", "jensenshannon", "psi")
SHARE = validate.Range(min=0, max=1)


class WindowSpecSchema(StrictSchema):
    """The last ``hours`` of predictions, or the last ``predictions`` rows."""

    hours = fields.Float(validate=validate.Range(min=0.001, max=24 * 366), allow_nan=False)
    predictions = fields.Integer(validate=validate.Range(min=1, max=100_000_000))

    @validates_schema
    def _exactly_one(self, data: dict[str, Any], **_: Any) -> None:
        if len(data) != 1:
            raise ValidationError("Give exactly one of 'hours' and 'predictions'.", "hours")


class ScheduleSpecSchema(StrictSchema):
    """Every ``interval_seconds``, or a five-field ``cron`` expression in UTC."""

    interval_seconds = fields.Integer(
        validate=validate.Range(min=MIN_INTERVAL_SECONDS, max=MAX_INTERVAL_SECONDS)
    )
    cron = fields.String(validate=validate.Length(min=9, max=200))

    @validates_schema
    def _exactly_one(self, data: dict[str, Any], **_: Any) -> None:
        if len(data) != 1:
            raise ValidationError("Give exactly one of 'interval_seconds' and 'cron'.", "cron")


class LevelsSchema(StrictSchema):
    """Warning and alert levels of one check (see the monitoring docs for their meaning)."""

    warning = fields.Float(allow_nan=False, validate=validate.Range(min=0))
    alert = fields.Float(allow_nan=False, validate=validate.Range(min=0))


class BiasLevelsSchema(LevelsSchema):
    """Levels of a disparity metric."""

    metric = fields.String(validate=validate.OneOf(BIAS_METRICS))


class PerformanceLevelsSchema(LevelsSchema):
    """Levels of a metric's drop from its baseline."""

    metric = fields.String(validate=validate.Length(min=1, max=100))
    mode = fields.String(validate=validate.OneOf(["absolute", "relative"]))


class ThresholdsSchema(StrictSchema):
    """Levels per check."""

    drift = fields.Nested(LevelsSchema)
    data_quality = fields.Nested(LevelsSchema)
    bias = fields.Nested(BiasLevelsSchema)
    performance = fields.Nested(PerformanceLevelsSchema)
    estimated_performance = fields.Nested(PerformanceLevelsSchema)

    @validates_schema
    def _ordered(self, data: dict[str, Any], **_: Any) -> None:
        for check, levels in data.items():
            warning, alert = levels.get("warning"), levels.get("alert")
            if warning is None or alert is None:
                continue
            ratio = check == "bias" and str(levels.get("metric", "")).endswith("ratio")
            if (alert > warning) if ratio else (alert < warning):
                raise ValidationError(
                    "The alert level must be at least as bad as the warning level.", check
                )


class OptionsSchema(StrictSchema):
    """How the checks run: drift methods, labels, the baseline."""

    feature_methods = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=200)),
        values=fields.String(validate=validate.OneOf(DRIFT_METHODS)),
    )
    feature_thresholds = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=200)),
        values=fields.Float(allow_nan=False, validate=validate.Range(min=0)),
    )
    drift_share = fields.Float(allow_nan=False, validate=SHARE)
    favourable_label = fields.String(validate=validate.Length(min=1, max=200))
    positive_label = fields.String(validate=validate.Length(min=1, max=200))
    min_group_count = fields.Integer(validate=validate.Range(min=1, max=10_000_000))
    min_labelled = fields.Integer(validate=validate.Range(min=1, max=100_000_000))
    benchmark = fields.String(validate=NAME)
    classification_threshold = fields.Float(allow_nan=False, validate=SHARE)
    cooldown_minutes = fields.Float(allow_nan=False, validate=validate.Range(min=0, max=10_080))
    resolve_after_ok_runs = fields.Integer(validate=validate.Range(min=1, max=1000))
    no_data_after_runs = fields.Integer(validate=validate.Range(min=1, max=1000))
    # each incident the monitor raises also publishes ``retraining.suggested``
    suggest_retraining = fields.Boolean()


class MonitorFieldsSchema(StrictSchema):
    """What may be set on a monitor."""

    name = fields.String(validate=NAME)
    version = stored_id(allow_none=True)
    stage = fields.String(
        allow_none=True, validate=validate.OneOf([Stage.STAGING.value, Stage.PRODUCTION.value])
    )
    window = fields.Nested(WindowSpecSchema)
    schedule = fields.Nested(ScheduleSpecSchema, allow_none=True)
    thresholds = fields.Nested(ThresholdsSchema)
    sensitive_features = fields.List(
        fields.String(validate=validate.Length(min=1, max=200)), validate=validate.Length(max=50)
    )
    min_rows = fields.Integer(validate=validate.Range(min=1, max=100_000_000))
    options = fields.Nested(OptionsSchema)
    channels = fields.List(fields.String(validate=NAME), validate=validate.Length(max=20))
    enabled = fields.Boolean()


class MonitorCreateSchema(MonitorFieldsSchema):
    """A new monitor: at least its checks."""

    checks = fields.List(
        fields.String(validate=validate.OneOf(CHECKS)),
        required=True,
        validate=validate.Length(min=1, max=len(CHECKS)),
        metadata={"uniqueItems": True},
    )

    @validates_schema
    def _distinct(self, data: dict[str, Any], **_: Any) -> None:
        checks = data.get("checks") or []
        if len(set(checks)) != len(checks):
            raise ValidationError("A check is named twice.", "checks")


class MonitorUpdateSchema(MonitorCreateSchema):
    """Changes to a monitor: any field."""

    checks = fields.List(
        fields.String(validate=validate.OneOf(CHECKS)),
        validate=validate.Length(min=1, max=len(CHECKS)),
        metadata={"uniqueItems": True},
    )


class MonitorSchema(StrictSchema):
    """A monitor."""

    id = fields.Integer()
    model = fields.String(attribute="model_name")
    name = fields.String()
    checks = fields.List(fields.String())
    version = fields.Integer(attribute="version_number", allow_none=True)
    stage = fields.String(allow_none=True)
    window = fields.Dict()
    schedule = fields.Dict(allow_none=True)
    thresholds = fields.Dict()
    sensitive_features = fields.List(fields.String())
    min_rows = fields.Integer()
    options = fields.Dict()
    channels = fields.List(fields.String())
    enabled = fields.Boolean()
    created_by = fields.String()
    created_at = Timestamp()
    updated_at = Timestamp()


class RunArgsSchema(StrictSchema):
    """``wait=false`` queues the run for a scheduler process instead of running it here."""

    wait = fields.Boolean(load_default=True)


class RunListArgsSchema(StrictSchema):
    """How many runs, newest first."""

    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class MonitorRunSchema(StrictSchema):
    """One run of a monitor."""

    id = fields.Integer()
    monitor_id = fields.Integer()
    trigger = fields.String()
    scheduled_for = Timestamp(allow_none=True)
    attempt = fields.Integer()
    status = fields.String(metadata={"enum": list(RUN_STATUSES)})
    claimed_by = fields.String(allow_none=True)
    requested_by = fields.String()
    created_at = Timestamp()
    started_at = Timestamp(allow_none=True)
    finished_at = Timestamp(allow_none=True)
    duration_seconds = fields.Float(allow_none=True)
    error = fields.String(allow_none=True)
    version = fields.Integer(attribute="version_number", allow_none=True)
    window_start = Timestamp(allow_none=True)
    window_end = Timestamp(allow_none=True)
    rows_total = fields.Integer(allow_none=True)
    rows_used = fields.Integer(allow_none=True)
    sampled = fields.Boolean()
    statuses = fields.Dict(keys=fields.String(), values=fields.String())


class ReportListArgsSchema(StrictSchema):
    """Filter a model's reports; newest first, paged with ``before`` (a report id)."""

    kind = fields.String(validate=validate.OneOf(CHECKS))
    status = fields.String(validate=validate.OneOf(REPORT_STATUSES))
    monitor_id = stored_id()
    version = stored_id()
    since = fields.AwareDateTime(default_timezone=None)
    until = fields.AwareDateTime(default_timezone=None)
    before = stored_id()
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class ReportSummarySchema(StrictSchema):
    """A report without its detail."""

    id = fields.Integer()
    run_id = fields.Integer()
    monitor_id = fields.Integer()
    model = fields.String(attribute="model_name")
    version = fields.Integer(attribute="version_number")
    kind = fields.String(metadata={"enum": list(CHECKS)})
    status = fields.String(metadata={"enum": list(REPORT_STATUSES)})
    window_start = Timestamp(allow_none=True)
    window_end = Timestamp(allow_none=True)
    rows_total = fields.Integer()
    rows_used = fields.Integer()
    sampled = fields.Boolean()
    summary = fields.Dict()
    findings = fields.List(fields.Dict())
    created_at = Timestamp()


class ReportSchema(ReportSummarySchema):
    """A report with its per-column or per-group detail."""

    detail = fields.Dict()
