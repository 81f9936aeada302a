"""Data quality of a window counted part by part: the exact figures of :func:`check_quality`
over any number of rows, in memory that does not grow with them.

Every figure of the quality check is a ratio of counts (missing values, values outside the
reference range, values of categories the reference never saw), so parts of a window can be
counted apart and added: :meth:`QualityCounts.update` takes one part's columns,
:meth:`QualityCounts.merge` adds another accumulator's counts, :meth:`QualityCounts.result`
returns the :class:`~.quality.QualityResult` that ``check_quality`` returns on the whole.

A column may be absent from some parts (its batches did not carry it): those rows count as
missing, as they are when the parts are concatenated. The never-seen categories are named up
to :data:`MAX_TRACKED_NEW_CATEGORIES` distinct ones per column; past that, new ones still count
in the share (which stays exact) but are not named.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .profile import NumericalProfile, ReferenceProfile, count_categories, finite_values
from .quality import MAX_NEW_CATEGORIES, ColumnQuality, QualityResult, _share

#: Distinct never-seen categories remembered per column (their count is exact past it).
MAX_TRACKED_NEW_CATEGORIES = 10_000


@dataclass
class _ColumnCounts:
    missing: int = 0
    present: int = 0
    outside: int = 0  # numerical: present values outside the reference's [min, max]
    unseen: int = 0  # categorical: present values of categories the reference lacks
    new_categories: dict[str, int] = field(default_factory=dict)

    def add(self, other: _ColumnCounts) -> None:
        self.missing += other.missing
        self.present += other.present
        self.outside += other.outside
        self.unseen += other.unseen
        _tally(self.new_categories, other.new_categories.items())


def _tally(into: dict[str, int], items: Any) -> None:
    for label, count in items:
        if label in into:
            into[label] += int(count)
        elif len(into) < MAX_TRACKED_NEW_CATEGORIES:
            into[label] = int(count)


class QualityCounts:
    """Mergeable counts behind the data-quality check of a window against ``profile``."""

    def __init__(self, profile: ReferenceProfile) -> None:
        self.profile = profile
        self.rows = 0
        self.columns: dict[str, _ColumnCounts] = {}
        self._known = {
            name: set(column.labels.tolist())
            for name, column in profile.columns.items()
            if not isinstance(column, NumericalProfile)
        }

    def update(self, current: Mapping[str, Any]) -> None:
        """Count one part of the window: its profiled columns, all of the same length."""
        lengths = {len(current[name]) for name in current}
        if len(lengths) > 1:
            raise ValueError(f"window columns differ in length: {sorted(lengths)}")
        rows = lengths.pop() if lengths else 0
        for name in self.profile.kinds:
            if name in current:
                counts = self._column(name)
                counts.add(self._count(name, current[name]))
            elif name in self.columns:  # absent from this part: missing here
                self.columns[name].missing += rows
        self.rows += rows

    def _column(self, name: str) -> _ColumnCounts:
        if name not in self.columns:  # first seen now: the rows before were missing it
            self.columns[name] = _ColumnCounts(missing=self.rows)
        return self.columns[name]

    def _count(self, name: str, values: Any) -> _ColumnCounts:
        reference = self.profile.column(name)
        if isinstance(reference, NumericalProfile):
            kept, missing = finite_values(values)
            outside = 0
            if reference.present:
                below, above = reference.minimum, reference.maximum
                outside = int(np.count_nonzero((kept < below) | (kept > above)))
            return _ColumnCounts(missing=missing, present=int(kept.size), outside=outside)
        current = count_categories(values)
        known = self._known[name]
        unseen = [
            (str(label), int(n))
            for label, n in zip(current.labels, current.counts, strict=True)
            if str(label) not in known
        ]
        counts = _ColumnCounts(
            missing=current.missing,
            present=current.present,
            unseen=sum(n for _, n in unseen),
        )
        _tally(counts.new_categories, unseen)
        return counts

    def merge(self, other: QualityCounts) -> None:
        """Add the counts of ``other`` (the same profile, a later part of the window)."""
        for name in self.profile.kinds:
            theirs = other.columns.get(name)
            if theirs is None:
                if name in self.columns:
                    self.columns[name].missing += other.rows
                continue
            self._column(name).add(theirs)
        self.rows += other.rows

    def result(self, *, rejected_rows: int = 0) -> QualityResult:
        """The quality of everything counted; ``rejected_rows`` were refused at ingest."""
        if rejected_rows < 0:
            raise ValueError("rejected_rows must be >= 0")
        reference_rows = self.profile.rows
        columns: list[ColumnQuality] = []
        for name, kind in self.profile.kinds.items():
            counts = self.columns.get(name)
            if counts is None:
                continue
            reference = self.profile.column(name)
            size = counts.present + counts.missing
            numerical = isinstance(reference, NumericalProfile)
            out_of_range = None
            if numerical and reference.present:
                out_of_range = _share(counts.outside, counts.present)
            new_share = None if numerical else _share(counts.unseen, counts.present)
            named = sorted(counts.new_categories.items(), key=lambda item: (-item[1], item[0]))
            columns.append(
                ColumnQuality(
                    feature=name,
                    kind=kind,
                    n_current=size,
                    missing_share=_share(counts.missing, size),
                    reference_missing_share=_share(reference.missing, reference_rows),
                    out_of_range_share=out_of_range,
                    new_category_share=new_share,
                    new_categories=[label for label, _ in named[:MAX_NEW_CATEGORIES]],
                )
            )
        return QualityResult.of(columns, self.rows, rejected_rows)
