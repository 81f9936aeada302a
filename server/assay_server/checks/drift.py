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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats
from scipy.spatial import distance

from .profile import (
    CATEGORICAL,
    NUMERICAL,
    CategoryCounts,
    NumericalProfile,
    ReferenceProfile,
    count_categories,
    distinct_sorted,
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
_FEW_DISTINCT = 5  # a numerical column with at most this many values is tested as categories
_HISTOGRAM_ABOVE = 20  # binned methods: above this many reference values, Sturges histogram


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
        if kind == NUMERICAL and n_distinct > _FEW_DISTINCT:
            return "ks"
        return "chisquare" if n_distinct > 2 else "z"
    if kind == NUMERICAL and n_distinct > _FEW_DISTINCT:
        return "wasserstein"
    return "jensenshannon"


def is_drifted(method: str, score: float, threshold: float) -> bool:
    """Evidently's decision: K-S p <= t, chi-squared and Z p < t, distances >= t (NaN: no)."""
    if method == "ks":
        return bool(score <= threshold)
    if method in ("chisquare", "z"):
        return bool(score < threshold)
    return bool(score >= threshold)


# ---------------------------------------------------------------------------------------------
# the two sides of one column


@dataclass
class _NumericalSides:
    """A numerical column: the reference profile and the window's sorted finite values."""

    reference: NumericalProfile
    current: np.ndarray  # ascending
    breakpoints: _BreakpointCache

    def n_distinct(self) -> int:
        if self.reference.n_distinct > _FEW_DISTINCT:
            return self.reference.n_distinct
        current_values, _ = distinct_sorted(self.current)
        return int(np.union1d(self.reference.distinct[0], current_values).size)

    def counts(self) -> tuple[np.ndarray, np.ndarray]:
        """Counts of every distinct value (union of both sides), reference then window."""
        reference_values, reference_counts = self.reference.distinct
        current_values, current_counts = distinct_sorted(self.current)
        return _aligned(reference_values, reference_counts, current_values, current_counts)

    def binned_shares(self) -> tuple[np.ndarray, np.ndarray]:
        """Evidently's `get_binned_data`: Sturges bins above 20 reference values, else per value."""
        if self.reference.n_distinct <= _HISTOGRAM_ABOVE:
            reference, current = self.counts()
        else:
            edges = _sturges_edges(self.reference.sorted_values, self.current)
            reference = _histogram_sorted(self.reference.sorted_values, edges)
            current = _histogram_sorted(self.current, edges)
        return reference / self.reference.present, current / self.current.size


@dataclass
class _CategoricalSides:
    """A categorical column: category counts on both sides."""

    reference: CategoryCounts
    current: CategoryCounts

    def n_distinct(self) -> int:
        return int(np.union1d(self.reference.labels, self.current.labels).size)

    def counts(self) -> tuple[np.ndarray, np.ndarray]:
        return _aligned(
            self.reference.labels, self.reference.counts, self.current.labels, self.current.counts
        )

    def binned_shares(self) -> tuple[np.ndarray, np.ndarray]:
        reference, current = self.counts()
        return reference / self.reference.present, current / self.current.present


_Sides = _NumericalSides | _CategoricalSides


def _aligned(
    reference_keys: np.ndarray,
    reference_counts: np.ndarray,
    current_keys: np.ndarray,
    current_counts: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    keys = np.union1d(reference_keys, current_keys)
    reference = np.zeros(keys.size, dtype=np.float64)
    current = np.zeros(keys.size, dtype=np.float64)
    reference[np.searchsorted(keys, reference_keys)] = reference_counts
    current[np.searchsorted(keys, current_keys)] = current_counts
    return reference, current


def _sturges_edges(reference: np.ndarray, current: np.ndarray) -> np.ndarray:
    """`np.histogram_bin_edges(concat(reference, current), bins="sturges")` from sorted sides."""
    first = min(reference[0], current[0])
    last = max(reference[-1], current[-1])
    width = (last - first) / (np.log2(reference.size + current.size) + 1.0)
    if first == last:
        first, last = first - 0.5, last + 0.5
    n_bins = int(np.ceil((last - first) / width)) if width else 1
    return np.linspace(first, last, n_bins + 1)


def _histogram_sorted(ordered: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """`np.histogram(values, edges)[0]` of ascending values: half-open bins, last one closed."""
    below = np.concatenate(
        (
            np.searchsorted(ordered, edges[:-1], "left"),
            np.searchsorted(ordered, edges[-1:], "right"),
        )
    )
    return np.diff(below).astype(np.float64)


@dataclass(frozen=True)
class _QuantilePieces:
    """Where the quantile functions of two sorted samples of sizes n and m are both constant."""

    in_reference: np.ndarray  # per piece, the index into the reference's sorted values
    in_current: np.ndarray  # per piece, the index into the window's sorted values
    widths: np.ndarray  # per piece, its width in units of 1/(n*m)
    scratch: tuple[np.ndarray, np.ndarray]  # reused buffers: fresh large arrays cost page faults

    @classmethod
    def of_sizes(cls, n: int, m: int) -> _QuantilePieces:
        """Pieces of (0, 1]: quantile t in (k/(n*m), (k+1)/(n*m)] of n sorted values is [k // m]."""
        starts = np.concatenate(
            (np.arange(n, dtype=np.int64) * m, np.arange(m, dtype=np.int64) * n)
        )
        starts.sort()
        widths = np.diff(starts, append=np.int64(n) * m)
        starts = starts[widths > 0]  # where n and m share a breakpoint
        widths = widths[widths > 0].astype(np.float64)
        return cls(
            in_reference=starts // m,
            in_current=starts // n,
            widths=widths,
            scratch=(np.empty(widths.size), np.empty(widths.size)),
        )


class _BreakpointCache:
    """Quantile pieces per pair of sample sizes, built when a run meets a pair a second time."""

    def __init__(self) -> None:
        self._seen: set[tuple[int, int]] = set()
        self._pieces: dict[tuple[int, int], _QuantilePieces] = {}

    def get(self, n: int, m: int) -> _QuantilePieces | None:
        """The pieces for samples of n and m values, or None the first time (not worth building)."""
        key = (n, m)
        if key not in self._pieces and key in self._seen:
            self._pieces[key] = _QuantilePieces.of_sizes(n, m)
        self._seen.add(key)
        return self._pieces.get(key)


def _merged_wasserstein(reference: np.ndarray, current: np.ndarray) -> float:
    """scipy's `_cdf_distance(1, ...)` on two sorted samples, merging them with one search."""
    n, m = reference.size, current.size
    position = np.searchsorted(reference, current, side="right")
    position += np.arange(m)  # where each window value lands in the merged order
    from_current = np.zeros(n + m, dtype=bool)
    from_current[position] = True
    merged = np.empty(n + m)
    merged[position] = current
    merged[~from_current] = reference
    current_cdf = np.cumsum(from_current)
    reference_cdf = np.arange(1, n + m + 1) - current_cdf
    gaps = np.abs(reference_cdf[:-1] / n - current_cdf[:-1] / m)
    return float(np.dot(gaps, np.diff(merged)))


# ---------------------------------------------------------------------------------------------
# the methods: each takes a column's two sides and returns Evidently's score


def _ks(sides: _Sides) -> float:
    assert isinstance(sides, _NumericalSides)
    return float(stats.ks_2samp(sides.reference.sorted_values, sides.current).pvalue)


def _wasserstein(sides: _Sides) -> float:
    """scipy's Wasserstein-1 distance, via quantile functions, over max(reference std, 0.001)."""
    assert isinstance(sides, _NumericalSides)
    reference, current = sides.reference.sorted_values, sides.current
    pieces = sides.breakpoints.get(reference.size, current.size)
    if pieces is None:
        distance_ = _merged_wasserstein(reference, current)
    else:
        gaps, other = pieces.scratch
        np.take(reference, pieces.in_reference, out=gaps)
        np.take(current, pieces.in_current, out=other)
        np.subtract(gaps, other, out=gaps)
        np.abs(gaps, out=gaps)
        distance_ = float(np.dot(pieces.widths, gaps)) / (float(reference.size) * current.size)
    return distance_ / max(sides.reference.std, 0.001)


def _chisquare(sides: _Sides) -> float:
    reference, current = sides.counts()
    expected = reference * (current.sum() / reference.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(stats.chisquare(current, expected).pvalue)


def _z(sides: _Sides) -> float:
    """Evidently's two-proportion Z-test: first (smallest) value against all others."""
    reference, current = sides.counts()
    if reference.size == 1:  # one value, the same on both sides
        return 1.0
    n1, n2 = float(reference.sum()), float(current.sum())
    p1 = float(reference[1:].sum()) / n1
    p2 = float(current[1:].sum()) / n2
    pooled = float(p1 * n1 + p2 * n2) / (n1 + n2)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
    return float(2 * (1 - stats.norm.cdf(np.abs(z))))


def _jensenshannon(sides: _Sides) -> float:
    reference, current = sides.binned_shares()
    return float(distance.jensenshannon(reference, current))


def _psi(sides: _Sides) -> float:
    reference, current = sides.binned_shares()
    reference, current = _fill_zeroes(reference), _fill_zeroes(current)
    return float(np.sum((reference - current) * np.log(reference / current)))


def _fill_zeroes(shares: np.ndarray) -> np.ndarray:
    """Evidently's PSI guard: empty bins get min(non-zero)/1e6, or 0.0001 if min > 0.0001."""
    smallest = shares[shares != 0].min()
    filler = smallest / 10**6 if smallest <= 0.0001 else 0.0001
    return np.where(shares == 0, filler, shares)


_SCORES: dict[str, Callable[[_Sides], float]] = {
    "ks": _ks,
    "chisquare": _chisquare,
    "z": _z,
    "wasserstein": _wasserstein,
    "jensenshannon": _jensenshannon,
    "psi": _psi,
}


# ---------------------------------------------------------------------------------------------


def _test_column(
    feature: str,
    kind: str,
    sides: _Sides,
    method: str | None,
    threshold: float | None,
) -> ColumnDrift:
    n_reference = sides.reference.present
    n_current = sides.current.size if isinstance(sides, _NumericalSides) else sides.current.present
    if method is None:
        method = select_method(kind, n_reference, sides.n_distinct())
    if threshold is None:
        threshold = DEFAULT_THRESHOLDS[method]
    score = _SCORES[method](sides) if n_reference and n_current else math.nan
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
    breakpoints = _BreakpointCache()
    results: list[ColumnDrift] = []
    for feature, kind in profile.kinds.items():
        if feature not in current:
            continue
        reference = profile.column(feature)
        sides: _Sides
        if isinstance(reference, NumericalProfile):
            values, _ = finite_values(current[feature])
            sides = _NumericalSides(reference, np.sort(values), breakpoints)
        else:
            sides = _CategoricalSides(reference, count_categories(current[feature]))
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
