"""Each rule kind answers pass, fail or missing_evidence, with observed value and threshold."""

from __future__ import annotations

from typing import Any

import pytest

from assay_server.evidence import (
    NO_PROVIDERS,
    EvidenceProvider,
    EvidenceProviders,
    EvidenceQuery,
    Missing,
    Observation,
)
from assay_server.governance.evidence import EvidenceContext
from assay_server.governance.rule_schemas import RULE_KINDS, RULE_SCHEMAS
from assay_server.governance.rules import evaluate_rule
from assay_server.governance.stages import StageService
from assay_server.registry.benchmarks import BenchmarkService
from assay_server.registry.service import RegistryService

from .conftest import GOOD_LINEAGE


def judge(
    store: Any,
    rule: dict[str, Any],
    version: int = 1,
    providers: EvidenceProviders | None = None,
) -> dict[str, Any]:
    """Evaluate ``rule`` on a version, with the wired providers unless others are given."""
    loaded = RULE_SCHEMAS[rule["check"]]().load(rule)
    with store.session() as (session, ctx):
        row = RegistryService(session, ctx).get_version("churn", version)
        evidence = EvidenceContext(session, row, ctx.clock(), providers or ctx.evidence)
        return evaluate_rule(evidence, loaded)


def only(kind: str, provider: EvidenceProvider) -> EvidenceProviders:
    """Providers where ``kind`` alone is answered, by ``provider``."""
    return EvidenceProviders({kind: provider})


@pytest.fixture
def churn(store: Any) -> Any:
    store.model("churn", risk_tier="high")
    return store


def bench(store: Any, name: str = "holdout", version: int = 1, **kw: Any) -> None:
    kw.setdefault("metrics", {"accuracy": 0.9})
    with store.session() as (session, ctx):
        BenchmarkService(session, ctx).log("churn", version, name=name, **kw)


ACCURACY = {
    "id": "acc",
    "check": "benchmark_metric",
    "benchmark": "holdout",
    "metric": "accuracy",
    "op": ">=",
    "value": 0.85,
}


def test_benchmark_metric_passes_fails_and_misses(churn: Any) -> None:
    churn.version()
    missing = judge(churn, ACCURACY)
    assert missing["status"] == "missing_evidence"
    assert "No benchmark named 'holdout'" in missing["message"]
    bench(churn, metrics={"accuracy": 0.80})
    failed = judge(churn, ACCURACY)
    assert (failed["status"], failed["observed"], failed["threshold"]) == ("fail", 0.8, ">= 0.85")
    assert failed["evidence"]["link"].startswith("/api/v1/models/churn/versions/1/benchmarks/")
    churn.clock.advance(seconds=1)
    bench(churn, metrics={"accuracy": 0.91})
    assert judge(churn, ACCURACY)["status"] == "pass"  # the newest benchmark of that name counts


def test_benchmark_metric_without_the_metric_is_missing_evidence(churn: Any) -> None:
    churn.version()
    bench(churn, metrics={"f1": 0.9})
    result = judge(churn, ACCURACY)
    assert result["status"] == "missing_evidence"
    assert "no metric 'accuracy'" in result["message"]


def test_an_independent_benchmark_must_run_on_other_data_than_training(churn: Any) -> None:
    churn.version(lineage=GOOD_LINEAGE)
    rule = {
        "id": "indep",
        "check": "benchmark_metric",
        "benchmark": "validation",
        "independent": True,
    }
    bench(churn, "validation")
    assert judge(churn, rule)["status"] == "missing_evidence"  # no dataset hash on it
    churn.clock.advance(seconds=1)
    bench(churn, "validation", dataset_hash=GOOD_LINEAGE["dataset_hash"])
    assert judge(churn, rule)["status"] == "fail"
    churn.clock.advance(seconds=1)
    bench(churn, "validation", dataset_hash="sha256:other")
    assert judge(churn, rule)["status"] == "pass"


@pytest.mark.parametrize(
    "kind,extra",
    [
        ("performance_metric", {"metric": "accuracy", "op": ">=", "value": 0.8}),
        ("bias_metric", {"metric": "demographic_parity_difference", "op": "<=", "value": 0.1}),
        ("data_quality", {"metric": "missing_share", "op": "<=", "value": 0.05}),
        ("drift_share", {"op": "<", "value": 0.3}),
    ],
)
def test_monitoring_rules_are_missing_evidence_until_a_provider_answers(
    churn: Any, kind: str, extra: dict[str, Any]
) -> None:
    churn.version()
    rule = {"id": "r", "check": kind, **extra}
    missing = judge(churn, rule)
    assert missing["status"] == "missing_evidence"
    assert "report with a verdict exists for version 1" in missing["message"]
    good, bad = (0.9, 0.5) if extra["op"].startswith(">") else (0.01, 0.5)
    seen: list[dict[str, Any]] = []

    def provider(query: EvidenceQuery, params: Any) -> Observation | Missing:
        seen.append(dict(params))
        assert (query.model_name, query.version_number) == ("churn", 1)
        return Observation(value=values.pop(0), source="report 7", link="/api/v1/reports/7")

    values = [good, bad]
    passed = judge(churn, rule, providers=only(kind, provider))
    failed = judge(churn, rule, providers=only(kind, provider))
    assert (passed["status"], passed["observed"]) == ("pass", good)
    assert passed["evidence"]["link"] == "/api/v1/reports/7"
    assert (failed["status"], failed["observed"]) == ("fail", bad)
    assert seen[0].get("metric") == extra.get("metric")


def test_a_provider_may_say_why_evidence_is_missing(churn: Any) -> None:
    churn.version()
    providers = only("drift_share", lambda query, params: Missing("no window with data"))
    rule = {"id": "d", "check": "drift_share", "op": "<", "value": 0.3}
    result = judge(churn, rule, providers=providers)
    assert (result["status"], result["message"]) == ("missing_evidence", "no window with data")


def test_lineage_present(churn: Any) -> None:
    churn.version()
    churn.version(lineage={"dataset_uri": "s3://x", "dataset_hash": "TODO"})
    churn.version(lineage=GOOD_LINEAGE)
    rule = {"id": "l", "check": "lineage_present", "fields": ["dataset_uri", "dataset_hash"]}
    assert judge(churn, rule, 1)["status"] == "missing_evidence"
    failed = judge(churn, rule, 2)
    assert failed["status"] == "fail" and "dataset_hash" in failed["message"]
    assert judge(churn, rule, 3)["status"] == "pass"


def test_metadata_present_reads_the_model_card(churn: Any) -> None:
    churn.version()
    churn.version(model_card={"intended_use": "short"})
    churn.version(model_card={"intended_use": "Scoring churn risk of paying customers."})
    rule = {"id": "m", "check": "metadata_present", "fields": ["intended_use"], "min_length": 10}
    assert judge(churn, rule, 1)["status"] == "missing_evidence"
    assert judge(churn, rule, 2)["status"] == "fail"
    assert judge(churn, rule, 3)["status"] == "pass"


def test_explanation_available(churn: Any) -> None:
    churn.version()
    rule = {"id": "e", "check": "explanation_available"}
    assert judge(churn, rule, providers=NO_PROVIDERS)["status"] == "missing_evidence"
    assert judge(churn, rule)["status"] == "fail"  # the wired provider: no explanation yet
    for value, status in ((True, "pass"), (False, "fail")):
        providers = only("explanation_available", lambda q, p, v=value: Observation(v))
        assert judge(churn, rule, providers=providers)["status"] == status


def test_max_open_alerts(churn: Any) -> None:
    churn.version()
    rule = {"id": "a", "check": "max_open_alerts", "severity": "critical", "value": 0}
    assert judge(churn, rule, providers=NO_PROVIDERS)["status"] == "missing_evidence"
    assert judge(churn, rule)["observed"] == 0  # the wired provider: no alerts yet
    for count, status in ((0, "pass"), (2, "fail")):
        providers = only("max_open_alerts", lambda q, p, n=count: Observation(n))
        result = judge(churn, rule, providers=providers)
        assert (result["status"], result["observed"]) == (status, count)


def test_artifact_format(churn: Any, store: Any) -> None:
    churn.version()
    rule = {"id": "f", "check": "artifact_format", "forbidden": ["pickle"]}
    assert judge(churn, rule)["status"] == "missing_evidence"  # no artifact at all
    with store.session() as (session, ctx):
        row = RegistryService(session, ctx).get_version("churn", 1)
        row.artifact_sha256, row.artifact_format = "a" * 64, "pickle"
    failed = judge(churn, rule)
    assert (failed["status"], failed["observed"]) == ("fail", "pickle")
    assert (
        judge(churn, {"id": "f", "check": "artifact_format", "allowed": ["pickle"]})["status"]
        == "pass"
    )


def test_stage_prerequisite_counts_days_in_the_stage(churn: Any, store: Any) -> None:
    churn.version()
    rule = {"id": "s", "check": "stage_prerequisite", "stage": "staging", "min_days": 7}
    assert judge(churn, rule)["status"] == "missing_evidence"
    with store.session() as (session, ctx):
        StageService(session, ctx).set_stage("churn", 1, "staging", reason="parallel run")
    store.clock.advance(days=3)
    failed = judge(churn, rule)
    assert (failed["status"], failed["observed"]) == ("fail", 3)
    store.clock.advance(days=4)
    assert judge(churn, rule)["status"] == "pass"


def test_every_rule_kind_is_covered_here() -> None:
    assert set(RULE_KINDS) == {
        "benchmark_metric",
        "performance_metric",
        "bias_metric",
        "drift_share",
        "data_quality",
        "lineage_present",
        "metadata_present",
        "explanation_available",
        "artifact_format",
        "stage_prerequisite",
        "max_open_alerts",
        "challenger_not_worse",  # tests/comparisons/test_release_rules.py
        "shadow_min_predictions",
        "rollout_min_duration",  # tests/rollouts/test_rollout_rules.py
        "no_open_incident",  # tests/rollouts/test_rollout_rules.py
    }
