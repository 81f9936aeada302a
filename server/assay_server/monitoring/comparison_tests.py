"""The two kinds of comparison, each from the versions' windows to the figures of a
:class:`~.comparisons.Comparison`: :func:`shadow_test` (paired by prediction id) and
:func:`ab_test` (each version's served rows, with its minimum sample fixed up front)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from ..checks.comparison import (
    HIGHER_IS_BETTER,
    Verdict,
    mcnemar,
    minimum_sample_per_arm,
    paired_bootstrap,
    two_proportion_ztest,
    verdict,
)
from ..checks.comparison_intervals import (
    paired_proportion_interval,
    proportion_difference_interval,
    two_sample_bootstrap,
)
from ..ingest.shadow import shadow_prediction_ids
from ..registry.benchmarks import benchmarks_of
from ..registry.models import ModelVersion
from .comparison_data import labelled, metric_inputs, read_outcomes

#: Labelled paired rows a shadow comparison needs when no minimum is declared.
DEFAULT_SHADOW_MINIMUM = 100
#: Rows per arm an A/B comparison of a metric other than a rate needs when none is declared.
DEFAULT_AB_MINIMUM = 1000


@dataclass(frozen=True)
class SampleSize:
    """How the minimum sample was set: declared, a default, or computed up front for an A/B
    test ("power") from the champion's baseline rate, the minimum detectable effect, α and
    power."""

    basis: str  # "declared" | "default" | "power"
    baseline_rate: float | None = None
    baseline_source: str | None = None
    minimum_detectable_effect: float | None = None
    alpha: float | None = None
    power: float | None = None


def _classifier(version: ModelVersion) -> bool:
    return bool(version.model.task != "regression")


def _declared(minimum: int | None, default: int) -> tuple[int, dict[str, Any]]:
    if minimum is not None:
        return minimum, {"sample_size": SampleSize(basis="declared")}
    return default, {"sample_size": SampleSize(basis="default")}


def _judged(metric: str, alpha: float, **figures: Any) -> dict[str, Any]:
    """The verdict from an interval (bootstrap) or a p-value (McNemar, z-test)."""
    n, minimum_n = figures["n"], figures["minimum_n"]
    found = verdict(
        n=n,
        minimum_n=minimum_n,
        difference=figures["difference"],
        low=figures["ci_low"] if figures.get("p_value") is None else None,
        high=figures["ci_high"] if figures.get("p_value") is None else None,
        p_value=figures.get("p_value"),
        alpha=alpha,
        higher_is_better=HIGHER_IS_BETTER[metric],
    )
    return {"verdict": found, "reason": _reason(found, metric, n, minimum_n, figures), **figures}


def _reason(found: Verdict, metric: str, n: int, minimum_n: int, figures: dict[str, Any]) -> str:
    if found is Verdict.INSUFFICIENT_DATA and n < minimum_n:
        return f"{n} labelled rows compared; the comparison needs {minimum_n}."
    if found is Verdict.INSUFFICIENT_DATA:
        return f"{metric} cannot be computed on these rows (one class only, or no scores)."
    test = figures.get("test")
    evidence = (
        f"p = {figures['p_value']:.3g}"
        if figures.get("p_value") is not None
        else f"95% CI [{figures['ci_low']:+.4g}, {figures['ci_high']:+.4g}]"
    )
    return (
        f"{metric}: champion {figures['champion_value']:.4g}, challenger "
        f"{figures['challenger_value']:.4g} ({figures['difference']:+.4g}; {test}, {evidence})."
    )


# shadow: the same rows ---------------------------------------------------------------------


def shadow_test(
    session: Session,
    champion: ModelVersion,
    challenger: ModelVersion,
    start: datetime,
    end: datetime,
    metric: str,
    minimum: int | None,
    alpha: float,
) -> dict[str, Any]:
    """Pair both versions' rows by prediction id and judge the labelled pairs."""
    classifier = _classifier(champion)
    old = read_outcomes(session, champion.id, start, end, classifier=classifier)
    new = read_outcomes(session, challenger.id, start, end, classifier=classifier)
    pairs = old.merge(new, on="prediction_id", suffixes=("_a", "_b"))
    pairs["label"] = pairs["label_a"].where(pairs["label_a"].notna(), pairs["label_b"])
    agreement = None
    if classifier and len(pairs):
        agreement = float((pairs["output_a"] == pairs["output_b"]).mean())
    minimum_n, sizing = _declared(minimum, DEFAULT_SHADOW_MINIMUM)
    rows = labelled(pairs)
    if metric == "roc_auc":
        rows = rows[rows["score_a"].notna() & rows["score_b"].notna()]
    n = len(rows)
    shown: dict[str, Any] = {
        "n": n,
        "n_champion": n,
        "n_challenger": n,
        "minimum_n": minimum_n,
        "minimum_reached": n >= minimum_n,
        "paired_rows": len(pairs),
        "agreement_rate": agreement,
        **sizing,
    }
    if n == 0:
        found = Verdict.INSUFFICIENT_DATA
        return {"verdict": found, "reason": _reason(found, metric, 0, minimum_n, {}), **shown}
    y, a = metric_inputs(metric, rows["label"], rows["output_a"], rows["score_a"])
    _, b = metric_inputs(metric, rows["label"], rows["output_b"], rows["score_b"])
    if metric == "accuracy":
        test = mcnemar(a.astype(bool), b.astype(bool))
        low, high = paired_proportion_interval(test.champion_only, test.challenger_only, n)
        figures = {
            "test": "mcnemar_exact" if test.exact else "mcnemar_chi2",
            "champion_value": float(a.mean()),
            "challenger_value": float(b.mean()),
            "difference": test.difference,
            "ci_low": low,
            "ci_high": high,
            "p_value": test.p_value,
            "statistic": test.statistic,
        }
    else:
        interval = paired_bootstrap(y, a, b, metric)
        figures = {
            "test": "paired_bootstrap",
            "champion_value": interval.champion,
            "challenger_value": interval.challenger,
            "difference": interval.difference,
            "ci_low": interval.low,
            "ci_high": interval.high,
        }
    return _judged(metric, alpha, **figures, **shown)


# A/B: each version's served rows -----------------------------------------------------------


def _served(session: Session, version: ModelVersion, start: datetime, end: datetime) -> Any:
    leave_out = shadow_prediction_ids(session, version.id, start, end)
    rows = read_outcomes(
        session, version.id, start, end, classifier=_classifier(version), leave_out=leave_out
    )
    return labelled(rows)


def _baseline(session: Session, champion: ModelVersion, rate_in_window: float | None) -> Any:
    """The champion's accuracy: its newest benchmark's, else its own in the window."""
    for bench in benchmarks_of(session, champion.id):
        value = bench.metrics.get("accuracy")
        if isinstance(value, (int, float)) and 0.0 < value < 1.0:
            return float(value), f"benchmark {bench.name!r} of v{champion.version}"
    if rate_in_window is None:
        return None, None
    return rate_in_window, f"v{champion.version}'s served rows in the window"


def _power_minimum(
    baseline: float, effect: float, alpha: float, power: float
) -> tuple[int, float, float]:
    """Rows per arm, with the baseline kept inside (0, 1) and the effect turned toward the
    side where the rate can still move."""
    baseline = min(max(baseline, 0.001), 0.999)
    if not 0.0 < baseline + effect < 1.0:
        effect = -effect
    return minimum_sample_per_arm(baseline, effect, alpha=alpha, power=power), baseline, effect


def ab_test(
    session: Session,
    champion: ModelVersion,
    challenger: ModelVersion,
    start: datetime,
    end: datetime,
    metric: str,
    minimum: int | None,
    *,
    minimum_detectable_effect: float,
    alpha: float,
    power: float,
    baseline_rate: float | None,
) -> dict[str, Any]:
    """Judge each version's labelled served rows, once both arms reach the minimum."""
    old, new = _served(session, champion, start, end), _served(session, challenger, start, end)
    if metric == "roc_auc":
        old, new = old[old["score"].notna()], new[new["score"].notna()]
    y_a, a = metric_inputs(metric, old["label"], old["output"], old["score"])
    y_b, b = metric_inputs(metric, new["label"], new["output"], new["score"])
    n = min(len(a), len(b))
    if minimum is not None or metric != "accuracy":
        minimum_n, sizing = _declared(minimum, DEFAULT_AB_MINIMUM)
    else:
        found_rate, source = (
            (baseline_rate, "declared")
            if baseline_rate is not None
            else (_baseline(session, champion, float(a.mean()) if len(a) else None))
        )
        if found_rate is None:
            minimum_n, sizing = 0, {"sample_size": SampleSize(basis="power")}
        else:
            minimum_n, rate, effect = _power_minimum(
                found_rate, minimum_detectable_effect, alpha, power
            )
            sizing = {
                "sample_size": SampleSize(
                    basis="power",
                    baseline_rate=rate,
                    baseline_source=source,
                    minimum_detectable_effect=effect,
                    alpha=alpha,
                    power=power,
                )
            }
    shown: dict[str, Any] = {
        "n": n,
        "n_champion": len(a),
        "n_challenger": len(b),
        "minimum_n": minimum_n,
        "minimum_reached": n >= minimum_n and n > 0,
        **sizing,
    }
    if not shown["minimum_reached"]:  # withheld: no figures before the sample is complete
        found = Verdict.INSUFFICIENT_DATA
        reason = (
            f"{n} labelled served rows in the smaller arm; the test needs {minimum_n} per arm "
            "before it is read."
            if minimum_n
            else "No labelled served rows of the champion to set the minimum sample from."
        )
        return {"verdict": found, "reason": reason, "test": None, **shown}
    if metric == "accuracy":
        wins_a, wins_b = int(a.sum()), int(b.sum())
        test = two_proportion_ztest(wins_a, len(a), wins_b, len(b))
        low, high = proportion_difference_interval(wins_a, len(a), wins_b, len(b))
        figures = {
            "test": "two_proportion_ztest",
            "champion_value": test.champion_rate,
            "challenger_value": test.challenger_rate,
            "difference": test.difference,
            "ci_low": low,
            "ci_high": high,
            "p_value": test.p_value,
            "statistic": test.statistic,
        }
    else:
        interval = two_sample_bootstrap(y_a, a, y_b, b, metric)
        figures = {
            "test": "two_sample_bootstrap",
            "champion_value": interval.champion,
            "challenger_value": interval.challenger,
            "difference": interval.difference,
            "ci_low": interval.low,
            "ci_high": interval.high,
        }
    return _judged(metric, alpha, **figures, **shown)
