"""The release rules: a challenger is judged against its champion on live traffic.

- ``challenger_not_worse(metric, margin, test)`` — the comparison report of the version
  (challenger) against the champion over the last ``days`` days (``test``: ``shadow``, the
  paired test on the rows both scored; ``ab``, the two-sample test on each one's served
  rows). It fails when the challenger is significantly worse *and*, with a ``margin``, the
  whole 95% interval of the difference lies beyond it (worse by more than ``margin``); it
  passes on ``no_difference`` or ``challenger_better``; below the comparison's minimum sample
  (``insufficient_data``) the evidence is missing, so the request stays blocked.
- ``shadow_min_predictions(n)`` — the version logged at least ``n`` predictions in the
  champion's shadow.

The champion is the version the ``champion`` alias names, else the production version; the
evidence comes from monitoring (``challenger_comparison``, ``shadow_predictions``), connected
in ``wiring.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .evidence import EvidenceContext, Missing
from .rule_schemas import ChallengerNotWorse, ShadowMinPredictions
from .verdicts import FAIL, MISSING, PASS, RuleResult, rule_result


def _worse_beyond_margin(report: Mapping[str, Any], margin: float) -> bool:
    """Significantly worse, and (with a margin) worse by more than it across the interval."""
    if report["verdict"] != "challenger_worse":
        return False
    if margin == 0:
        return True
    low, high = report.get("ci_low"), report.get("ci_high")
    if low is None or high is None:
        return True
    best_case = high if report["higher_is_better"] else -low  # the most favourable bound
    return bool(best_case < -margin)


def challenger_not_worse(ctx: EvidenceContext, rule: ChallengerNotWorse) -> RuleResult:
    """Judge the version's comparison with its champion."""
    found = ctx.observe("challenger_comparison", rule)
    margin = rule["margin"]
    test = rule["test"]
    metric_name = rule["metric"] or "the default metric"
    threshold = f"not worse than the champion on {metric_name} by more than {margin:g} ({test})"
    if isinstance(found, Missing):
        return rule_result(rule, MISSING, found.reason, threshold=threshold)
    report = found.value
    evidence: dict[str, object] = {
        "type": "comparison",
        "source": found.source,
        "link": found.link,
        **{
            key: report.get(key)
            for key in ("champion", "metric", "verdict", "n", "minimum_n", "test", "p_value")
        },
        "difference": report.get("difference"),
        "ci": [report.get("ci_low"), report.get("ci_high")],
    }
    threshold = (
        f"not worse than v{report['champion']} on {report['metric']} by more than {margin:g} "
        f"({test})"
    )
    observed = report.get("difference")
    if report["verdict"] == "insufficient_data":
        return rule_result(
            rule,
            MISSING,
            f"The comparison has too little evidence yet: {report['reason']}",
            threshold=threshold,
            observed=observed,
            evidence=evidence,
        )
    worse = _worse_beyond_margin(report, margin)
    return rule_result(
        rule,
        FAIL if worse else PASS,
        f"{report['verdict'].replace('_', ' ')}: {report['reason']}",
        threshold=threshold,
        observed=observed,
        evidence=evidence,
    )


def shadow_min_predictions(ctx: EvidenceContext, rule: ShadowMinPredictions) -> RuleResult:
    """Judge how many predictions the version logged in the champion's shadow."""
    found = ctx.observe("shadow_predictions", rule)
    window = f" in the last {rule['days']:g} days" if rule.get("days") else ""
    threshold = f">= {rule['n']} shadow predictions{window}"
    if isinstance(found, Missing):
        return rule_result(rule, MISSING, found.reason, threshold=threshold)
    count = int(found.value)
    evidence: dict[str, object] = {
        "type": "traffic",
        "source": found.source,
        "link": found.link,
        **found.detail,
    }
    return rule_result(
        rule,
        PASS if count >= rule["n"] else FAIL,
        f"{count} predictions in the shadow of v{found.detail.get('champion')}{window}; "
        f"the rule needs {rule['n']}.",
        threshold=threshold,
        observed=count,
        evidence=evidence,
    )
