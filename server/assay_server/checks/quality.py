"""Data quality of a window against the reference profile.

Per column: the share of missing values (None, NaN, +/-inf - the values drift drops), the share of
non-missing numerical values outside the reference's [min, max], the share of non-missing
categorical values whose category the reference never saw (and the most frequent of those
categories); for the window, the share of rows rejected at ingest. Shares of values are over
the non-missing values, as Evidently's value-range metric computes them, and are 0.0 when a
window column has no values; the out-of-range share is None when the reference column has none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .profile import (
    CategoryCounts,
    NumericalProfile,
    ReferenceProfile,
    count_categories,
    finite_values,
)

MAX_NEW_CATEGORIES = 20


@dataclass(frozen=True)
class ColumnQuality:
    """Quality of one window column: missing, out-of-range and never-seen values."""

    feature: str
    kind: str
    n_current: int  # values in the window, missing included
    missing_share: float
    reference_missing_share: float
    out_of_range_share: float | None  # numerical only
    new_category_share: float | None  # categorical only
    new_categories: list[str] = field(default_factory=list)  # up to 20, most frequent first

    def as_json(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "feature": self.feature,
            "kind": self.kind,
            "n_current": self.n_current,
            "missing_share": self.missing_share,
            "reference_missing_share": self.reference_missing_share,
            "out_of_range_share": self.out_of_range_share,
            "new_category_share": self.new_category_share,
            "new_categories": list(self.new_categories),
        }


@dataclass(frozen=True)
class QualityResult:
    """Quality of a window: per column, the rejected rows and the worst share of each kind."""

    columns: list[ColumnQuality]
    rows: int
    rejected_rows: int
    rejected_share: float
    max_missing_share: float
    max_out_of_range_share: float
    max_new_category_share: float

    @classmethod
    def of(cls, columns: list[ColumnQuality], rows: int, rejected_rows: int) -> QualityResult:
        """The result of these columns over ``rows`` kept and ``rejected_rows`` refused."""
        return cls(
            columns=columns,
            rows=rows,
            rejected_rows=rejected_rows,
            rejected_share=_share(rejected_rows, rows + rejected_rows),
            max_missing_share=max((c.missing_share for c in columns), default=0.0),
            max_out_of_range_share=max(
                (c.out_of_range_share for c in columns if c.out_of_range_share is not None),
                default=0.0,
            ),
            max_new_category_share=max(
                (c.new_category_share for c in columns if c.new_category_share is not None),
                default=0.0,
            ),
        )

    def as_json(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "columns": [column.as_json() for column in self.columns],
            "rows": self.rows,
            "rejected_rows": self.rejected_rows,
            "rejected_share": self.rejected_share,
            "max_missing_share": self.max_missing_share,
            "max_out_of_range_share": self.max_out_of_range_share,
            "max_new_category_share": self.max_new_category_share,
        }


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _numerical_quality(
    feature: str, kind: str, reference: NumericalProfile, values: Any, reference_rows: int
) -> ColumnQuality:
    kept, missing = finite_values(values)
    if reference.present:
        outside = np.count_nonzero((kept < reference.minimum) | (kept > reference.maximum))
        out_of_range: float | None = _share(int(outside), kept.size)
    else:
        out_of_range = None
    size = kept.size + missing
    return ColumnQuality(
        feature=feature,
        kind=kind,
        n_current=size,
        missing_share=_share(missing, size),
        reference_missing_share=_share(reference.missing, reference_rows),
        out_of_range_share=out_of_range,
        new_category_share=None,
        new_categories=[],
    )


def _categorical_quality(
    feature: str, kind: str, reference: CategoryCounts, values: Any, reference_rows: int
) -> ColumnQuality:
    current = count_categories(values)
    unseen = ~np.isin(current.labels, reference.labels)
    unseen_labels, unseen_counts = current.labels[unseen], current.counts[unseen]
    order = np.lexsort((unseen_labels, -unseen_counts))[:MAX_NEW_CATEGORIES]
    return ColumnQuality(
        feature=feature,
        kind=kind,
        n_current=current.size,
        missing_share=_share(current.missing, current.size),
        reference_missing_share=_share(reference.missing, reference_rows),
        out_of_range_share=None,
        new_category_share=_share(int(unseen_counts.sum()), current.present),
        new_categories=[str(label) for label in unseen_labels[order]],
    )


def _window_rows(current: Mapping[str, Any]) -> int:
    lengths = {len(current[name]) for name in current}
    if len(lengths) > 1:
        raise ValueError(f"window columns differ in length: {sorted(lengths)}")
    return lengths.pop() if lengths else 0


def check_quality(
    profile: ReferenceProfile, current: Mapping[str, Any], *, rejected_rows: int = 0
) -> QualityResult:
    """Check every profiled column present in `current`; rejected_rows were refused at ingest."""
    if rejected_rows < 0:
        raise ValueError("rejected_rows must be >= 0")
    columns: list[ColumnQuality] = []
    for feature, kind in profile.kinds.items():
        if feature not in current:
            continue
        reference = profile.column(feature)
        if isinstance(reference, NumericalProfile):
            quality = _numerical_quality(feature, kind, reference, current[feature], profile.rows)
        else:
            quality = _categorical_quality(feature, kind, reference, current[feature], profile.rows)
        columns.append(quality)
    return QualityResult.of(columns, _window_rows(current), rejected_rows)
