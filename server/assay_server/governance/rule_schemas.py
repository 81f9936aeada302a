"""The closed set of rule kinds: each one's shape, as a marshmallow schema that checks a rule
when its policy is applied, and as the typed parameters its evaluation (:mod:`.rules`) reads.

A rule is data, never code: an id, a kind (``check``) and the kind's parameters.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import TypedDict

from marshmallow import ValidationError, fields, post_load, validate, validates_schema

from ..registry.models import ArtifactFormat, Stage
from ..schemas import StrictSchema

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
LINEAGE_FIELDS = ("dataset_uri", "dataset_hash", "git_commit", "params", "metrics", "metadata")

RULE_ID = validate.Regexp(
    r"^[a-z0-9][a-z0-9._-]{0,63}\Z",
    error="A rule id is a lowercase slug of 1–64 characters: a-z, 0-9, '.', '_', '-'.",
)
NAME = validate.Length(min=1, max=100)
CARD_FIELD = validate.Regexp(
    r"^[a-z][a-z0-9_]{0,63}\Z", error="Model-card fields are snake_case names, like intended_use."
)


class RuleSchema(StrictSchema):
    """What every rule has: an id unique in its policy, its kind, an optional description."""

    id = fields.String(required=True, validate=RULE_ID)
    check = fields.String(required=True)
    description = fields.String(load_default="", validate=validate.Length(max=1000))


class Rule(TypedDict):
    """A rule as its schema loaded it, and as its policy version stores it."""

    id: str
    check: str
    description: str


class _Threshold(RuleSchema):
    op = fields.String(required=True, validate=validate.OneOf(list(OPERATORS)))
    value = fields.Float(required=True, allow_nan=False)


class ThresholdRule(Rule):
    """A rule comparing what it observes with ``op`` ``value``."""

    op: str
    value: float


class BenchmarkMetricRule(RuleSchema):
    """A metric of the newest benchmark (of a given name) against a threshold.

    Without ``metric`` (and ``op`` / ``value``) the rule asks only that such a benchmark
    exists; without ``benchmark``, any benchmark counts. ``independent`` asks that it ran on
    other data than the training data (its dataset hash differs from the lineage's).
    """

    benchmark = fields.String(load_default=None, validate=NAME)
    metric = fields.String(load_default=None, validate=NAME)
    op = fields.String(load_default=None, validate=validate.OneOf(list(OPERATORS)))
    value = fields.Float(load_default=None, allow_nan=False)
    independent = fields.Boolean(load_default=False)

    @validates_schema
    def _threshold_with_metric(self, data: dict[str, object], **_: object) -> None:
        if data.get("metric") is None:
            for name in ("op", "value"):
                if data.get(name) is not None:
                    raise ValidationError("Only with a 'metric'.", name)
        else:
            for name in ("op", "value"):
                if data.get(name) is None:
                    raise ValidationError("Missing data for required field.", name)


class BenchmarkMetric(Rule):
    """What :class:`BenchmarkMetricRule` loads: ``metric``, ``op`` and ``value`` come together
    or not at all."""

    benchmark: str | None
    metric: str | None
    op: str | None
    value: float | None
    independent: bool


class MonitoredMetricRule(_Threshold):
    """A metric of the latest monitoring report (live performance, bias, data quality)."""

    metric = fields.String(required=True, validate=NAME)
    sensitive_feature = fields.String(load_default=None, allow_none=True, validate=NAME)


class MonitoredMetric(ThresholdRule):
    """What :class:`MonitoredMetricRule` loads."""

    metric: str
    sensitive_feature: str | None


class DriftShareRule(_Threshold):
    """The share of drifted features in the latest drift report."""


class FieldsPresentRule(RuleSchema):
    """Named fields are filled in (lineage, or the model card)."""

    fields_ = fields.List(
        fields.String(validate=CARD_FIELD),
        data_key="fields",
        required=True,
        validate=validate.Length(min=1, max=50),
    )
    min_length = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10_000))

    @post_load
    def _plain_key(self, data: dict[str, object], **_: object) -> dict[str, object]:
        data["fields"] = data.pop("fields_")
        return data


class FieldsPresent(Rule):
    """What :class:`FieldsPresentRule` and :class:`LineagePresentRule` load."""

    fields: list[str]
    min_length: int


class LineagePresentRule(FieldsPresentRule):
    """Lineage fields are recorded on the version."""

    fields_ = fields.List(
        fields.String(validate=validate.OneOf(LINEAGE_FIELDS)),
        data_key="fields",
        required=True,
        validate=validate.Length(min=1),
    )


class ExplanationAvailableRule(RuleSchema):
    """An explanation of the version exists."""


class ArtifactFormatRule(RuleSchema):
    """The artifact is in an allowed format (or not in a forbidden one)."""

    formats = [f.value for f in ArtifactFormat]
    allowed = fields.List(fields.String(validate=validate.OneOf(formats)), load_default=None)
    forbidden = fields.List(fields.String(validate=validate.OneOf(formats)), load_default=None)

    @validates_schema
    def _one_list(self, data: dict[str, object], **_: object) -> None:
        if (data.get("allowed") is None) == (data.get("forbidden") is None):
            raise ValidationError("Give exactly one of 'allowed' and 'forbidden'.", "allowed")


class ArtifactFormats(Rule):
    """What :class:`ArtifactFormatRule` loads: one of the two lists, the other None."""

    allowed: list[str] | None
    forbidden: list[str] | None


class StagePrerequisiteRule(RuleSchema):
    """The version has spent at least ``min_days`` in ``stage``."""

    stage = fields.String(
        required=True, validate=validate.OneOf([Stage.STAGING.value, Stage.PRODUCTION.value])
    )
    min_days = fields.Float(load_default=0.0, validate=validate.Range(min=0, max=3650))


class StagePrerequisite(Rule):
    """What :class:`StagePrerequisiteRule` loads."""

    stage: str
    min_days: float


class MaxOpenAlertsRule(RuleSchema):
    """At most ``value`` alerts of the model are open (optionally of one severity)."""

    value = fields.Integer(required=True, validate=validate.Range(min=0))
    severity = fields.String(load_default=None, allow_none=True, validate=NAME)


class MaxOpenAlerts(Rule):
    """What :class:`MaxOpenAlertsRule` loads."""

    value: int
    severity: str | None


#: The metrics a comparison may be judged on (which apply depends on the model's task).
COMPARISON_METRICS = ("accuracy", "f1", "roc_auc", "mae", "rmse", "mse")


class ChallengerNotWorseRule(RuleSchema):
    """The version, as challenger, is not worse than the champion on ``metric`` by more than
    ``margin``, by the ``test`` (``shadow``: paired; ``ab``: served arms) over ``days``."""

    metric = fields.String(load_default=None, validate=validate.OneOf(COMPARISON_METRICS))
    margin = fields.Float(load_default=0.0, validate=validate.Range(min=0, max=1_000_000))
    test = fields.String(load_default="shadow", validate=validate.OneOf(["shadow", "ab"]))
    days = fields.Float(load_default=7.0, validate=validate.Range(min=0.01, max=3650))
    minimum = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(min=1, max=1_000_000_000)
    )


class ChallengerNotWorse(Rule):
    """What :class:`ChallengerNotWorseRule` loads."""

    metric: str | None
    margin: float
    test: str
    days: float
    minimum: int | None


class ShadowMinPredictionsRule(RuleSchema):
    """The version logged at least ``n`` predictions in the champion's shadow (over the last
    ``days`` days, or ever)."""

    n = fields.Integer(required=True, validate=validate.Range(min=1, max=1_000_000_000))
    days = fields.Float(load_default=None, allow_none=True, validate=validate.Range(min=0.01))


class ShadowMinPredictions(Rule):
    """What :class:`ShadowMinPredictionsRule` loads."""

    n: int
    days: float | None


class RolloutMinDurationRule(RuleSchema):
    """The version's phased rollout has run at least ``hours`` (see :mod:`.rollout_rules`)."""

    hours = fields.Float(required=True, validate=validate.Range(min=0, max=24 * 365))


class RolloutMinDuration(Rule):
    """What :class:`RolloutMinDurationRule` loads."""

    hours: float


class NoOpenIncidentRule(RuleSchema):
    """No incident of ``severity`` or worse is open on the version (:mod:`.rollout_rules`)."""

    severity = fields.String(
        load_default="critical", validate=validate.OneOf(["warning", "critical"])
    )


class NoOpenIncident(Rule):
    """What :class:`NoOpenIncidentRule` loads."""

    severity: str


RULE_SCHEMAS: dict[str, type[RuleSchema]] = {
    "benchmark_metric": BenchmarkMetricRule,
    "performance_metric": MonitoredMetricRule,
    "bias_metric": MonitoredMetricRule,
    "drift_share": DriftShareRule,
    "data_quality": MonitoredMetricRule,
    "lineage_present": LineagePresentRule,
    "metadata_present": FieldsPresentRule,
    "explanation_available": ExplanationAvailableRule,
    "artifact_format": ArtifactFormatRule,
    "stage_prerequisite": StagePrerequisiteRule,
    "max_open_alerts": MaxOpenAlertsRule,
    "challenger_not_worse": ChallengerNotWorseRule,
    "shadow_min_predictions": ShadowMinPredictionsRule,
    "rollout_min_duration": RolloutMinDurationRule,
    "no_open_incident": NoOpenIncidentRule,
}
RULE_KINDS = tuple(RULE_SCHEMAS)
