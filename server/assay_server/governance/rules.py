"""Judging a rule: each kind reads one kind of evidence and answers ``pass``, ``fail`` or
``missing_evidence``, with the observed value, the threshold, and a link to what it read.

Kinds whose evidence other parts of Assay produce ask :mod:`.evidence`; the rule kinds and
their parameters are in :mod:`.rule_schemas`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from ..registry.stages import stage_history
from . import rollout_rules
from .evidence import EvidenceContext, Missing
from .release_rules import challenger_not_worse, shadow_min_predictions
from .rule_schemas import (
    OPERATORS,
    RULE_SCHEMAS,
    ArtifactFormats,
    BenchmarkMetric,
    FieldsPresent,
    MaxOpenAlerts,
    MonitoredMetric,
    Rule,
    StagePrerequisite,
    ThresholdRule,
)
from .verdicts import FAIL, MISSING, PASS, RuleResult, rule_result

#: What a required field may not hold and still count as filled in.
PLACEHOLDERS = frozenset({"", "todo", "tbd", "n/a", "na", "none", "-", "?"})


def _compare(
    rule: Rule,
    op: str,
    limit: float,
    observed: object,
    what: str,
    evidence: dict[str, object] | None,
) -> RuleResult:
    threshold = f"{op} {limit:g}"
    if isinstance(observed, bool) or not isinstance(observed, (int, float)):
        return rule_result(
            rule,
            MISSING,
            f"{what} is not a number ({observed!r}).",
            observed=observed,
            threshold=threshold,
            evidence=evidence,
        )
    if math.isnan(observed):
        return rule_result(rule, MISSING, f"{what} is NaN.", threshold=threshold, evidence=evidence)
    ok = OPERATORS[op](observed, limit)
    return rule_result(
        rule,
        PASS if ok else FAIL,
        f"{what} is {observed:g}; the rule needs {threshold}.",
        observed=observed,
        threshold=threshold,
        evidence=evidence,
    )


def _version_url(ctx: EvidenceContext) -> str:
    return f"/api/v1/models/{ctx.version.model.name}/versions/{ctx.version.version}"


def _benchmark_metric(ctx: EvidenceContext, rule: BenchmarkMetric) -> RuleResult:
    metric = rule.get("metric")
    threshold = f"{rule['op']} {rule['value']:g}" if metric else "a benchmark"
    bench = next((b for b in ctx.benchmarks if rule.get("benchmark") in (None, b.name)), None)
    if bench is None:
        named = f"named {rule['benchmark']!r} " if rule.get("benchmark") else ""
        return rule_result(
            rule,
            MISSING,
            f"No benchmark {named}was logged for v{ctx.version.version}.",
            threshold=threshold,
        )
    evidence: dict[str, object] = {
        "type": "benchmark",
        "id": bench.id,
        "name": bench.name,
        "dataset_hash": bench.dataset_hash,
        "link": f"{_version_url(ctx)}/benchmarks/{bench.id}",
    }
    if metric is not None and metric not in bench.metrics:
        return rule_result(
            rule,
            MISSING,
            f"Benchmark {bench.name!r} (#{bench.id}) has no metric {metric!r}.",
            threshold=threshold,
            evidence=evidence,
        )
    if rule.get("independent"):
        training = ctx.version.lineage.get("dataset_hash")
        if not bench.dataset_hash or not training:
            return rule_result(
                rule,
                MISSING,
                "An independent benchmark needs the dataset hash of both the benchmark and "
                "the training data (lineage.dataset_hash).",
                threshold=threshold,
                evidence=evidence,
            )
        if bench.dataset_hash == training:
            return rule_result(
                rule,
                FAIL,
                f"Benchmark {bench.name!r} ran on the training dataset ({training}); "
                "an independent validation needs other data.",
                observed=bench.metrics.get(metric) if metric else bench.dataset_hash,
                threshold=threshold,
                evidence=evidence,
            )
    op, limit = rule.get("op"), rule.get("value")
    if metric is None or op is None or limit is None:  # the schema gives all three or none
        return rule_result(
            rule,
            PASS,
            f"Benchmark {bench.name!r} (#{bench.id}) was logged.",
            observed=bench.name,
            threshold=threshold,
            evidence=evidence,
        )
    return _compare(rule, op, limit, bench.metrics[metric], f"{bench.name}.{metric}", evidence)


def _monitored(ctx: EvidenceContext, rule: ThresholdRule, what: str) -> RuleResult:
    found = ctx.observe(rule["check"], rule)
    threshold = f"{rule['op']} {rule['value']:g}"
    if isinstance(found, Missing):
        return rule_result(rule, MISSING, found.reason, threshold=threshold)
    evidence = {"type": "report", "source": found.source, "link": found.link, **found.detail}
    return _compare(
        rule,
        rule["op"],
        rule["value"],
        found.value,
        f"{what} ({found.source})" if found.source else what,
        evidence,
    )


def _monitored_metric(ctx: EvidenceContext, rule: MonitoredMetric) -> RuleResult:
    return _monitored(ctx, rule, rule["metric"])


def _drift_share(ctx: EvidenceContext, rule: ThresholdRule) -> RuleResult:
    return _monitored(ctx, rule, "drift share")


def _blank(value: object, min_length: int) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip().lower() in PLACEHOLDERS or len(value.strip()) < min_length
    if isinstance(value, (list, dict)):
        return len(value) == 0
    return False


def _fields_present(ctx: EvidenceContext, rule: FieldsPresent, source: str) -> RuleResult:
    document = ctx.version.lineage if source == "lineage" else ctx.version.model_card
    wanted = rule["fields"]
    absent = [name for name in wanted if document.get(name) in (None, {}, [])]
    blank = [
        name
        for name in wanted
        if name not in absent and _blank(document.get(name), rule.get("min_length", 1))
    ]
    present = [name for name in wanted if name not in absent and name not in blank]
    evidence: dict[str, object] = {"type": source, "link": _version_url(ctx), "fields": wanted}
    threshold = f"present: {', '.join(wanted)}"
    if absent:
        return rule_result(
            rule,
            MISSING,
            f"{source} has no {', '.join(absent)}.",
            observed=present,
            threshold=threshold,
            evidence=evidence,
        )
    if blank:
        return rule_result(
            rule,
            FAIL,
            f"{source} fields are blank or placeholders: {', '.join(blank)}.",
            observed=present,
            threshold=threshold,
            evidence=evidence,
        )
    return rule_result(
        rule,
        PASS,
        f"{source} has {', '.join(wanted)}.",
        observed=present,
        threshold=threshold,
        evidence=evidence,
    )


def _lineage_present(ctx: EvidenceContext, rule: FieldsPresent) -> RuleResult:
    return _fields_present(ctx, rule, "lineage")


def _metadata_present(ctx: EvidenceContext, rule: FieldsPresent) -> RuleResult:
    return _fields_present(ctx, rule, "model_card")


def _explanation(ctx: EvidenceContext, rule: Rule) -> RuleResult:
    found = ctx.observe("explanation_available", rule)
    if isinstance(found, Missing):
        return rule_result(rule, MISSING, found.reason, threshold="available")
    evidence: dict[str, object] = {
        "type": "explanation",
        "source": found.source,
        "link": found.link,
    }
    if found.value:
        return rule_result(
            rule,
            PASS,
            "An explanation is available.",
            observed=True,
            threshold="available",
            evidence=evidence,
        )
    return rule_result(
        rule,
        FAIL,
        "No explanation of this version succeeded.",
        observed=False,
        threshold="available",
        evidence=evidence,
    )


def _artifact_format(ctx: EvidenceContext, rule: ArtifactFormats) -> RuleResult:
    fmt = ctx.version.artifact_format
    allowed = rule.get("allowed")
    if allowed is not None:
        threshold = f"one of {', '.join(allowed)}"
        ok = fmt in allowed
    else:
        forbidden = rule.get("forbidden") or []  # the schema gives exactly one of the two
        threshold = f"none of {', '.join(forbidden)}"
        ok = fmt not in forbidden
    evidence: dict[str, object] = {
        "type": "artifact",
        "sha256": ctx.version.artifact_sha256,
        "link": f"{_version_url(ctx)}/artifact",
    }
    if fmt is None:
        return rule_result(rule, MISSING, "The version has no artifact.", threshold=threshold)
    return rule_result(
        rule,
        PASS if ok else FAIL,
        f"The artifact is {fmt}; the rule allows {threshold}.",
        observed=fmt,
        threshold=threshold,
        evidence=evidence,
    )


def _stage_prerequisite(ctx: EvidenceContext, rule: StagePrerequisite) -> RuleResult:
    stays = stage_history(
        ctx.session, ctx.version.model_id, stage=rule["stage"], version_id=ctx.version.id
    )
    threshold = f">= {rule['min_days']:g} days in {rule['stage']}"
    evidence: dict[str, object] = {
        "type": "stage_history",
        "link": f"/api/v1/models/{ctx.version.model.name}/stage-history",
    }
    if not stays:
        return rule_result(
            rule,
            MISSING,
            f"v{ctx.version.version} has never been in {rule['stage']}.",
            threshold=threshold,
            evidence=evidence,
        )
    spent = sum(((s.left_at or ctx.now) - s.entered_at for s in stays), timedelta())
    days = round(spent.total_seconds() / 86400, 3)
    ok = days >= rule["min_days"]
    return rule_result(
        rule,
        PASS if ok else FAIL,
        f"v{ctx.version.version} has spent {days:g} days in {rule['stage']}; "
        f"the rule needs {rule['min_days']:g}.",
        observed=days,
        threshold=threshold,
        evidence=evidence,
    )


def _max_open_alerts(ctx: EvidenceContext, rule: MaxOpenAlerts) -> RuleResult:
    found = ctx.observe("max_open_alerts", rule)
    severity = f" {rule['severity']}" if rule.get("severity") else ""
    threshold = f"<= {rule['value']} open{severity} alerts"
    if isinstance(found, Missing):
        return rule_result(rule, MISSING, found.reason, threshold=threshold)
    evidence: dict[str, object] = {"type": "alerts", "source": found.source, "link": found.link}
    ok = int(found.value) <= rule["value"]
    return rule_result(
        rule,
        PASS if ok else FAIL,
        f"{found.value} open{severity} alerts; the rule allows {rule['value']}.",
        observed=int(found.value),
        threshold=threshold,
        evidence=evidence,
    )


#: Each evaluator reads its kind's parameters (:mod:`.rule_schemas`): the policy's rules were
#: loaded by their kind's schema when it was applied.
_EVALUATORS: dict[str, Callable[[EvidenceContext, Any], RuleResult]] = {
    "benchmark_metric": _benchmark_metric,
    "performance_metric": _monitored_metric,
    "bias_metric": _monitored_metric,
    "drift_share": _drift_share,
    "data_quality": _monitored_metric,
    "lineage_present": _lineage_present,
    "metadata_present": _metadata_present,
    "explanation_available": _explanation,
    "artifact_format": _artifact_format,
    "stage_prerequisite": _stage_prerequisite,
    "max_open_alerts": _max_open_alerts,
    "challenger_not_worse": challenger_not_worse,
    "shadow_min_predictions": shadow_min_predictions,
    "rollout_min_duration": rollout_rules.rollout_min_duration,
    "no_open_incident": rollout_rules.no_open_incident,
}
assert set(_EVALUATORS) == set(RULE_SCHEMAS)


def evaluate_rule(ctx: EvidenceContext, rule: Rule) -> RuleResult:
    """Judge one validated rule against the version in ``ctx``."""
    return _EVALUATORS[rule["check"]](ctx, rule)
