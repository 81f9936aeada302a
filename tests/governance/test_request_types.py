"""The types governance gives what its schemas load name exactly the schemas' fields: the
request schemas, the policy document, and each rule kind (loaded, every field present)."""

from __future__ import annotations

from typing import Any

import pytest
from marshmallow import Schema

from assay_server.governance.policies import (
    AppliesTo,
    AppliesToSchema,
    ApprovalsSchema,
    PolicyDocument,
    PolicyDocumentSchema,
    StatedApprovals,
)
from assay_server.governance.rule_schemas import (
    RULE_SCHEMAS,
    ArtifactFormats,
    BenchmarkMetric,
    ChallengerNotWorse,
    FieldsPresent,
    MaxOpenAlerts,
    MonitoredMetric,
    NoOpenIncident,
    RolloutMinDuration,
    Rule,
    ShadowMinPredictions,
    StagePrerequisite,
    ThresholdRule,
)
from assay_server.governance.schemas import (
    ComplianceArgs,
    ComplianceArgsSchema,
    DecisionArgs,
    DecisionArgsSchema,
    GateArgs,
    GateArgsSchema,
    PolicyApplyArgs,
    PolicyApplySchema,
    PolicyFileArgs,
    PolicyFileSchema,
    PromotionCreateArgs,
    PromotionCreateSchema,
    PromotionListArgs,
    PromotionListArgsSchema,
    RejectArgsSchema,
    RollbackArgs,
    RollbackArgsSchema,
    StageChangeArgs,
    StageChangeSchema,
    StageHistoryArgs,
    StageHistoryArgsSchema,
)
from assay_server.governance.verdicts import DEFAULT_APPROVALS, Approvals


@pytest.mark.parametrize(
    ("schema", "shape"),
    [
        (PolicyFileSchema, PolicyFileArgs),
        (PolicyApplySchema, PolicyApplyArgs),
        (PromotionCreateSchema, PromotionCreateArgs),
        (DecisionArgsSchema, DecisionArgs),
        (RejectArgsSchema, DecisionArgs),
        (PromotionListArgsSchema, PromotionListArgs),
        (StageHistoryArgsSchema, StageHistoryArgs),
        (RollbackArgsSchema, RollbackArgs),
        (StageChangeSchema, StageChangeArgs),
        (GateArgsSchema, GateArgs),
        (ComplianceArgsSchema, ComplianceArgs),
        (PolicyDocumentSchema, PolicyDocument),
        (AppliesToSchema, AppliesTo),
        (ApprovalsSchema, StatedApprovals),
        (ApprovalsSchema, Approvals),
    ],
    ids=lambda item: item.__name__,
)
def test_each_request_type_names_the_fields_its_schema_loads(
    schema: type[Schema], shape: Any
) -> None:
    assert set(shape.__annotations__) == set(schema().fields)


def test_the_default_approvals_are_what_an_empty_approvals_section_loads() -> None:
    assert ApprovalsSchema().load({}) == DEFAULT_APPROVALS


RULES: dict[str, tuple[dict[str, Any], Any]] = {
    "benchmark_metric": ({"benchmark": "holdout"}, BenchmarkMetric),
    "performance_metric": ({"metric": "accuracy", "op": ">=", "value": 0.8}, MonitoredMetric),
    "bias_metric": ({"metric": "dpd", "op": "<=", "value": 0.1}, MonitoredMetric),
    "data_quality": ({"metric": "missing_share", "op": "<=", "value": 0.1}, MonitoredMetric),
    "drift_share": ({"op": "<", "value": 0.3}, ThresholdRule),
    "lineage_present": ({"fields": ["git_commit"]}, FieldsPresent),
    "metadata_present": ({"fields": ["intended_use"]}, FieldsPresent),
    "explanation_available": ({}, Rule),
    "artifact_format": ({"allowed": ["skops"]}, ArtifactFormats),
    "stage_prerequisite": ({"stage": "staging"}, StagePrerequisite),
    "max_open_alerts": ({"value": 0}, MaxOpenAlerts),
    "challenger_not_worse": ({"metric": "accuracy"}, ChallengerNotWorse),
    "shadow_min_predictions": ({"n": 100}, ShadowMinPredictions),
    "rollout_min_duration": ({"hours": 24}, RolloutMinDuration),
    "no_open_incident": ({}, NoOpenIncident),
}


def test_every_rule_kind_has_a_type_here() -> None:
    assert set(RULES) == set(RULE_SCHEMAS)


@pytest.mark.parametrize("kind", sorted(RULES))
def test_a_loaded_rule_holds_exactly_the_keys_of_its_kind_type(kind: str) -> None:
    params, shape = RULES[kind]
    loaded = RULE_SCHEMAS[kind]().load({"id": "r", "check": kind, **params})
    assert set(loaded) == set(shape.__annotations__)
