"""Drift of every column, reference profile vs window, as Evidently 0.7 computes it, vectorised.

Method auto-selection, default thresholds and the drift decision follow Evidently 0.7
(`evidently.legacy.calculations.stattests`):

* reference with <= 1,000 non-missing values: numerical columns with more than 5 distinct values
  (reference and window together) get K-S; otherwise, and for categorical columns, chi-squared
  when there are more than 2 distinct values and the Z-test for proportions when there are 1 or 2;
* above 1,000: numerical columns with more than 5 distinct values get the normed Wasserstein
  distance, all others Jensen-Shannon.
* p-value methods (ks, chisquare, z) default to 0.05, distances (wasserstein, jensenshannon, psi)
  to 0.1; K-S drifts when p <= threshold, chi-squared and Z when p < threshold, distances when
  score >= threshold (Evidently's own comparisons).

Missing values (None, NaN, +/-inf) are dropped before testing and counted by the quality check.
A column with no values on one side cannot be tested (Evidently raises): it is reported with
score NaN (None in JSON), not drifted, and still counts in the share's denominator.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .drift_scores import (
    FEW_DISTINCT,
    SCORES,
    BreakpointCache,
    CategoricalSides,
    NumericalSides,
    Sides,
)
from .profile import (
    CATEGORICAL,
    NUMERICAL,
    NumericalProfile,
    ReferenceProfile,
    count_categories,
    finite_values,
)

METHODS = ("ks", "chisquare", "z", "wasserstein", "jensenshannon", "psi")
DEFAULT_DRIFT_SHARE = 0.5
DEFAULT_THRESHOLDS: dict[str, float] = {
    "ks": 0.05,
    "chisquare": 0.05,
    "z": 0.05,
    "wasserstein": 0.1,
    "jensenshannon": 0.1,
    "psi": 0.1,
}
# the overrides Evidently accepts per kind (it refuses e.g. "ks" on a categorical column)
METHODS_BY_KIND: dict[str, tuple[str, ...]] = {
    NUMERICAL: ("ks", "wasserstein", "jensenshannon", "psi"),
    CATEGORICAL: ("chisquare", "z", "jensenshannon", "psi"),
}
SMALL_REFERENCE = 1000  # up to this many reference values, statistical tests; above, distances


@dataclass(frozen=True)
class ColumnDrift:
    """One column's drift test: method, score, threshold, decision and sample sizes."""

    feature: str
    kind: str
    method: str
    score: float
    threshold: float
    drifted: bool
    n_reference: int
    n_current: int

    def as_json(self) -> dict[str, Any]:
        """JSON-ready dict; a NaN score (column not testable) becomes None."""
        return {
            "feature": self.feature,
            "kind": self.kind,
            "method": self.method,
            "score": None if math.isnan(self.score) else self.score,
            "threshold": self.threshold,
            "drifted": self.drifted,
            "n_reference": self.n_reference,
            "n_current": self.n_current,
        }


@dataclass(frozen=True)
class DriftResult:
    """Per-column drift plus the share of drifted columns and the dataset-drift flag."""

    columns: list[ColumnDrift]
    n_drifted: int
    share_drifted: float
    dataset_drift: bool
    drift_share: float

    def as_json(self) -> dict[str, Any]:
        """JSON-ready dict: columns, counts, share and flag."""
        return {
            "columns": [column.as_json() for column in self.columns],
            "n_columns": len(self.columns),
            "n_drifted": self.n_drifted,
            "share_drifted": self.share_drifted,
            "dataset_drift": self.dataset_drift,
            "drift_share": self.drift_share,
        }


def validate_methods(kinds: Mapping[str, str], methods: Mapping[str, str]) -> None:
    """Raise ValueError for an unknown method or one Evidently refuses for the column's kind."""
    for feature, method in methods.items():
        if method not in METHODS:
            raise ValueError(f"column {feature!r}: unknown drift method {method!r}; use {METHODS}")
        kind = kinds.get(feature)
        if kind is not None and method not in METHODS_BY_KIND[kind]:
            raise ValueError(
                f"column {feature!r} is {kind}: method {method!r} does not apply; "
                f"use one of {METHODS_BY_KIND[kind]}"
            )


def select_method(kind: str, n_reference: int, n_distinct: int) -> str:
    """Evidently 0.7's automatic method for a column (n_distinct counts both sides together)."""
    if n_reference <= SMALL_REFERENCE:
        if kind == NUMERICAL and n_distinct > FEW_DISTINCT:
            return "ks"
        return "chisquare" if n_distinct > 2 else "z"
    if kind == NUMERICAL and n_distinct > FEW_DISTINCT:
        return "wasserstein"
    return "jensenshannon"


def is_drifted(method: str, score: float, threshold: float) -> bool:
    """Evidently's decision: K-S p <= t, chi-squared and Z p < t, distances >= t (NaN: no)."""
    if method == "ks":
        return bool(score <= threshold)
    if method in ("chisquare", "z"):
        return bool(score < threshold)
    return bool(score >= threshold)


def _test_column(
    feature: str,
    kind: str,
    sides: Sides,
    method: str | None,
    threshold: float | None,
) -> ColumnDrift:
    n_reference = sides.reference.present
    n_current = sides.current.size if isinstance(sides, NumericalSides) else sides.current.present
    if method is None:
        method = select_method(kind, n_reference, sides.n_distinct())
    if threshold is None:
        threshold = DEFAULT_THRESHOLDS[method]
    score = SCORES[method](sides) if n_reference and n_current else math.nan
    return ColumnDrift(
        feature=feature,
        kind=kind,
        method=method,
        score=score,
        threshold=float(threshold),
        drifted=is_drifted(method, score, threshold),
        n_reference=int(n_reference),
        n_current=int(n_current),
    )


def detect_drift(
    profile: ReferenceProfile,
    current: Mapping[str, Any],
    *,
    methods: Mapping[str, str] | None = None,
    thresholds: Mapping[str, float] | None = None,
    drift_share: float = DEFAULT_DRIFT_SHARE,
) -> DriftResult:
    """Test every profiled column present in `current` against the reference profile.

    `methods` and `thresholds` override the method and threshold per column (names of columns
    not tested are ignored); the dataset drifts when the share of drifted columns >= drift_share.
    """
    methods = dict(methods or {})
    thresholds = dict(thresholds or {})
    validate_methods(profile.kinds, methods)
    breakpoints = BreakpointCache()
    results: list[ColumnDrift] = []
    for feature, kind in profile.kinds.items():
        if feature not in current:
            continue
        reference = profile.column(feature)
        sides: Sides
        if isinstance(reference, NumericalProfile):
            values, _ = finite_values(current[feature])
            sides = NumericalSides(reference, np.sort(values), breakpoints)
        else:
            sides = CategoricalSides(reference, count_categories(current[feature]))
        results.append(
            _test_column(feature, kind, sides, methods.get(feature), thresholds.get(feature))
        )
    n_drifted = sum(column.drifted for column in results)
    share = n_drifted / len(results) if results else 0.0
    return DriftResult(
        columns=results,
        n_drifted=n_drifted,
        share_drifted=share,
        dataset_drift=bool(results) and share >= drift_share,
        drift_share=drift_share,
    )


HISTOGRAM_BINS = 20
HISTOGRAM_CATEGORIES = 20
OTHER_CATEGORIES = "(other)"


def histograms(profile: ReferenceProfile, current: Mapping[str, Any]) -> dict[str, Any]:
    """Reference and window counts per bin of every profiled column in `current`, for charts.

    Numerical: ``{"edges", "reference", "current"}``, equal-width bins over the reference's
    range widened to the window's, so a shifted window still shows where it went. Categorical:
    ``{"labels", "reference", "current"}``, the most frequent categories (of both sides)
    first and the rest summed as ``(other)``. Missing values are left out (quality counts them).
    """
    result: dict[str, Any] = {}
    for feature in profile.kinds:
        if feature not in current:
            continue
        reference = profile.column(feature)
        if isinstance(reference, NumericalProfile):
            values, _ = finite_values(current[feature])
            both = np.concatenate([reference.sorted_values, values])
            if not both.size:
                continue
            edges = np.histogram_bin_edges(both, bins=HISTOGRAM_BINS)
            result[feature] = {
                "edges": edges.tolist(),
                "reference": np.histogram(reference.sorted_values, edges)[0].tolist(),
                "current": np.histogram(values, edges)[0].tolist(),
            }
        else:
            sides = CategoricalSides(reference, count_categories(current[feature]))
            labels = np.union1d(reference.labels, sides.current.labels)
            ref_counts, cur_counts = sides.counts()
            order = np.argsort(-(ref_counts + cur_counts), kind="stable")
            top, rest = order[:HISTOGRAM_CATEGORIES], order[HISTOGRAM_CATEGORIES:]
            entry = {
                "labels": labels[top].tolist(),
                "reference": ref_counts[top].astype(int).tolist(),
                "current": cur_counts[top].astype(int).tolist(),
            }
            if rest.size:
                entry["labels"].append(OTHER_CATEGORIES)
                entry["reference"].append(int(ref_counts[rest].sum()))
                entry["current"].append(int(cur_counts[rest].sum()))
            result[feature] = entry
    return result
