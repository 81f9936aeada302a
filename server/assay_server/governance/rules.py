"""The closed set of rule kinds: each one's shape (a marshmallow schema) and its evaluation.

A rule is data, never code. Each kind reads one kind of evidence and answers ``pass``,
``fail`` or ``missing_evidence`` with the observed value, the threshold, and a link to what
it read. Kinds whose evidence other parts of Assay produce ask :mod:`.evidence`.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from marshmallow import ValidationError, fields, post_load, validate, validates_schema

from ..registry.models import ArtifactFormat, Stage
from ..registry.stages import stage_history
from ..schemas import StrictSchema
from .evidence import EvidenceContext, Missing, Observation

PASS, FAIL, MISSING = "pass", "fail", "missing_evidence"

OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
LINEAGE_FIELDS = ("dataset_uri", "dataset_hash", "git_commit", "params", "metrics", "metadata")
PLACEHOLDERS = frozenset({"", "todo", "tbd", "n/a", "na", "none", "-", "?"})

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


class _Threshold(RuleSchema):
    op = fields.String(required=True, validate=validate.OneOf(list(OPERATORS)))
    value = fields.Float(required=True, allow_nan=False)


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
    def _threshold_with_metric(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("metric") is None:
            for name in ("op", "value"):
                if data.get(name) is not None:
                    raise ValidationError("Only with a 'metric'.", name)
        else:
            for name in ("op", "value"):
                if data.get(name) is None:
                    raise ValidationError("Missing data for required field.", name)


class MonitoredMetricRule(_Threshold):
    """A metric of the latest monitoring report (live performance, bias, data quality)."""

    metric = fields.String(required=True, validate=NAME)
    sensitive_feature = fields.String(load_default=None, allow_none=True, validate=NAME)


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
    def _plain_key(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        data["fields"] = data.pop("fields_")
        return data


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
    def _one_list(self, data: dict[str, Any], **_: Any) -> None:
        if (data.get("allowed") is None) == (data.get("forbidden") is None):
            raise ValidationError("Give exactly one of 'allowed' and 'forbidden'.", "allowed")


class StagePrerequisiteRule(RuleSchema):
    """The version has spent at least ``min_days`` in ``stage``."""

    stage = fields.String(
        required=True, validate=validate.OneOf([Stage.STAGING.value, Stage.PRODUCTION.value])
    )
    min_days = fields.Float(load_default=0.0, validate=validate.Range(min=0, max=3650))


class MaxOpenAlertsRule(RuleSchema):
    """At most ``value`` alerts of the model are open (optionally of one severity)."""

    value = fields.Integer(required=True, validate=validate.Range(min=0))
    severity = fields.String(load_default=None, allow_none=True, validate=NAME)


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
}
RULE_KINDS = tuple(RULE_SCHEMAS)


def _result(
    rule: dict[str, Any],
    status: str,
    message: str,
    *,
    observed: Any = None,
    threshold: Any = None,
    evidence: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "id": rule["id"],
        "check": rule["check"],
        "status": status,
        "observed": observed,
        "threshold": threshold,
        "message": message,
        "evidence": evidence,
    }


def _compare(rule: dict[str, Any], observed: Any, what: str, evidence: dict[str, Any] | None):
    threshold = f"{rule['op']} {rule['value']:g}"
    if isinstance(observed, bool) or not isinstance(observed, (int, float)):
        return _result(
            rule,
            MISSING,
            f"{what} is not a number ({observed!r}).",
            observed=observed,
            threshold=threshold,
            evidence=evidence,
        )
    if math.isnan(observed):
        return _result(rule, MISSING, f"{what} is NaN.", threshold=threshold, evidence=evidence)
    ok = OPERATORS[rule["op"]](observed, rule["value"])
    return _result(
        rule,
        PASS if ok else FAIL,
        f"{what} is {observed:g}; the rule needs {threshold}.",
        observed=observed,
        threshold=threshold,
        evidence=evidence,
    )


def _version_url(ctx: EvidenceContext) -> str:
    return f"/api/v1/models/{ctx.version.model.name}/versions/{ctx.version.version}"


def _benchmark_metric(ctx: EvidenceContext, rule: dict[str, Any]) -> dict[str, Any]:
    metric = rule.get("metric")
    threshold = f"{rule['op']} {rule['value']:g}" if metric else "a benchmark"
    bench = next((b for b in ctx.benchmarks if rule.get("benchmark") in (None, b.name)), None)
    if bench is None:
        named = f"named {rule['benchmark']!r} " if rule.get("benchmark") else ""
        return _result(
            rule,
            MISSING,
            f"No benchmark {named}was logged for v{ctx.version.version}.",
            threshold=threshold,
        )
    evidence = {
        "type": "benchmark",
        "id": bench.id,
        "name": bench.name,
        "dataset_hash": bench.dataset_hash,
        "link": f"{_version_url(ctx)}/benchmarks/{bench.id}",
    }
    if metric is not None and metric not in bench.metrics:
        return _result(
            rule,
            MISSING,
            f"Benchmark {bench.name!r} (#{bench.id}) has no metric {rule['metric']!r}.",
            threshold=threshold,
            evidence=evidence,
        )
    if rule.get("independent"):
        training = ctx.version.lineage.get("dataset_hash")
        if not bench.dataset_hash or not training:
            return _result(
                rule,
                MISSING,
                "An independent benchmark needs the dataset hash of both the benchmark and "
                "the training data (lineage.dataset_hash).",
                threshold=threshold,
                evidence=evidence,
            )
        if bench.dataset_hash == training:
            return _result(
                rule,
                FAIL,
                f"Benchmark {bench.name!r} ran on the training dataset ({training}); "
                "an independent validation needs other data.",
                observed=bench.metrics.get(metric) if metric else bench.dataset_hash,
                threshold=threshold,
                evidence=evidence,
            )
    if metric is None:
        return _result(
            rule,
            PASS,
            f"Benchmark {bench.name!r} (#{bench.id}) was logged.",
            observed=bench.name,
            threshold=threshold,
            evidence=evidence,
        )
    return _compare(rule, bench.metrics[rule["metric"]], f"{bench.name}.{rule['metric']}", evidence)


def _monitored(ctx: EvidenceContext, rule: dict[str, Any]) -> dict[str, Any]:
    found = ctx.observe(rule["check"], rule)
    threshold = f"{rule['op']} {rule['value']:g}"
    if isinstance(found, Missing):
        return _result(rule, MISSING, found.reason, threshold=threshold)
    evidence = {"type": "report", "source": found.source, "link": found.link, **found.detail}
    what = rule.get("metric") or "drift share"
    return _compare(
        rule, found.value, f"{what} ({found.source})" if found.source else what, evidence
    )


def _blank(value: Any, min_length: int) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip().lower() in PLACEHOLDERS or len(value.strip()) < min_length
    if isinstance(value, (list, dict)):
        return len(value) == 0
    return False


def _fields_present(ctx: EvidenceContext, rule: dict[str, Any], source: str) -> dict[str, Any]:
    document = ctx.version.lineage if source == "lineage" else ctx.version.model_card
    wanted = rule["fields"]
    absent = [name for name in wanted if document.get(name) in (None, {}, [])]
    blank = [
        name
        for name in wanted
        if name not in absent and _blank(document.get(name), rule.get("min_length", 1))
    ]
    present = [name for name in wanted if name not in absent and name not in blank]
    evidence = {"type": source, "link": _version_url(ctx), "fields": wanted}
    threshold = f"present: {', '.join(wanted)}"
    if absent:
        return _result(
            rule,
            MISSING,
            f"{source} has no {', '.join(absent)}.",
            observed=present,
            threshold=threshold,
            evidence=evidence,
        )
    if blank:
        return _result(
            rule,
            FAIL,
            f"{source} fields are blank or placeholders: {', '.join(blank)}.",
            observed=present,
            threshold=threshold,
            evidence=evidence,
        )
    return _result(
        rule,
        PASS,
        f"{source} has {', '.join(wanted)}.",
        observed=present,
        threshold=threshold,
        evidence=evidence,
    )


def _explanation(ctx: EvidenceContext, rule: dict[str, Any]) -> dict[str, Any]:
    found = ctx.observe("explanation_available", rule)
    if isinstance(found, Missing):
        return _result(rule, MISSING, found.reason, threshold="available")
    evidence = {"type": "explanation", "source": found.source, "link": found.link}
    if found.value:
        return _result(
            rule,
            PASS,
            "An explanation is available.",
            observed=True,
            threshold="available",
            evidence=evidence,
        )
    return _result(
        rule,
        FAIL,
        "No explanation of this version succeeded.",
        observed=False,
        threshold="available",
        evidence=evidence,
    )


def _artifact_format(ctx: EvidenceContext, rule: dict[str, Any]) -> dict[str, Any]:
    fmt = ctx.version.artifact_format
    if rule.get("allowed") is not None:
        threshold = f"one of {', '.join(rule['allowed'])}"
        ok = fmt in rule["allowed"]
    else:
        threshold = f"none of {', '.join(rule['forbidden'])}"
        ok = fmt not in rule["forbidden"]
    evidence = {
        "type": "artifact",
        "sha256": ctx.version.artifact_sha256,
        "link": f"{_version_url(ctx)}/artifact",
    }
    if fmt is None:
        return _result(rule, MISSING, "The version has no artifact.", threshold=threshold)
    return _result(
        rule,
        PASS if ok else FAIL,
        f"The artifact is {fmt}; the rule allows {threshold}.",
        observed=fmt,
        threshold=threshold,
        evidence=evidence,
    )


def _stage_prerequisite(ctx: EvidenceContext, rule: dict[str, Any]) -> dict[str, Any]:
    stays = stage_history(
        ctx.session, ctx.version.model_id, stage=rule["stage"], version_id=ctx.version.id
    )
    threshold = f">= {rule['min_days']:g} days in {rule['stage']}"
    evidence = {
        "type": "stage_history",
        "link": f"/api/v1/models/{ctx.version.model.name}/stage-history",
    }
    if not stays:
        return _result(
            rule,
            MISSING,
            f"v{ctx.version.version} has never been in {rule['stage']}.",
            threshold=threshold,
            evidence=evidence,
        )
    spent = sum(((s.left_at or ctx.now) - s.entered_at for s in stays), timedelta())
    days = round(spent.total_seconds() / 86400, 3)
    ok = days >= rule["min_days"]
    return _result(
        rule,
        PASS if ok else FAIL,
        f"v{ctx.version.version} has spent {days:g} days in {rule['stage']}; "
        f"the rule needs {rule['min_days']:g}.",
        observed=days,
        threshold=threshold,
        evidence=evidence,
    )


def _max_open_alerts(ctx: EvidenceContext, rule: dict[str, Any]) -> dict[str, Any]:
    found = ctx.observe("max_open_alerts", rule)
    severity = f" {rule['severity']}" if rule.get("severity") else ""
    threshold = f"<= {rule['value']} open{severity} alerts"
    if isinstance(found, Missing):
        return _result(rule, MISSING, found.reason, threshold=threshold)
    evidence = {"type": "alerts", "source": found.source, "link": found.link}
    ok = int(found.value) <= rule["value"]
    return _result(
        rule,
        PASS if ok else FAIL,
        f"{found.value} open{severity} alerts; the rule allows {rule['value']}.",
        observed=int(found.value),
        threshold=threshold,
        evidence=evidence,
    )


_EVALUATORS: dict[str, Callable[[EvidenceContext, dict[str, Any]], dict[str, Any]]] = {
    "benchmark_metric": _benchmark_metric,
    "performance_metric": _monitored,
    "bias_metric": _monitored,
    "drift_share": _monitored,
    "data_quality": _monitored,
    "lineage_present": lambda ctx, rule: _fields_present(ctx, rule, "lineage"),
    "metadata_present": lambda ctx, rule: _fields_present(ctx, rule, "model_card"),
    "explanation_available": _explanation,
    "artifact_format": _artifact_format,
    "stage_prerequisite": _stage_prerequisite,
    "max_open_alerts": _max_open_alerts,
}
assert set(_EVALUATORS) == set(RULE_SCHEMAS)


def evaluate_rule(ctx: EvidenceContext, rule: dict[str, Any]) -> dict[str, Any]:
    """Judge one validated rule against the version in ``ctx``."""
    return _EVALUATORS[rule["check"]](ctx, rule)


__all__ = [
    "FAIL",
    "MISSING",
    "PASS",
    "RULE_KINDS",
    "RULE_SCHEMAS",
    "Observation",
    "evaluate_rule",
]
