"""What the version page draws: each feature of the stored reference profile as a histogram
(or category bars), the typical row that prefills the explanation form, and LIME's weights.

Everything here reads the profile the registry keeps (``registry.profiles.load_profile``),
never the reference dataset: the profile already holds each numerical column's sorted values
and each categorical column's counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..checks.profile import CategoryCounts, NumericalProfile, ReferenceProfile
from . import charts

HISTOGRAM_BINS = 20
#: categories drawn per feature; the rest are summed into one bar
TOP_CATEGORIES = 12
OTHERS = "(others)"


@dataclass(frozen=True)
class Bin:
    """One bar of a feature's summary: a value range or a category, and its count."""

    label: str
    count: int


@dataclass(frozen=True)
class FeatureSummary:
    """One column of the reference profile as the page shows it."""

    name: str
    kind: str
    present: int
    missing: int
    typical: float | str | None  # the median, or the most frequent category
    low: float | None
    high: float | None
    bins: list[Bin]
    figure: charts.Figure


def _range_label(start: float, end: float) -> str:
    return f"{start:.4g} – {end:.4g}"


def _numerical(name: str, column: NumericalProfile) -> FeatureSummary:
    values = column.sorted_values
    bins: list[Bin] = []
    typical = float(np.median(values)) if values.size else None
    if values.size:
        counts, edges = np.histogram(values, bins=min(HISTOGRAM_BINS, max(column.n_distinct, 1)))
        bins = [
            Bin(_range_label(float(edges[i]), float(edges[i + 1])), int(count))
            for i, count in enumerate(counts.tolist())
        ]
        centres = ((edges[:-1] + edges[1:]) / 2).tolist()
        widths = np.diff(edges).tolist()
        trace = charts.bars(centres, counts.tolist(), name)
        trace.update(width=widths, hovertext=[b.label for b in bins], hoverinfo="text+y")
        figure = charts.figure([trace], height=180, x_title=name, y_title="rows", bargap=0.02)
    else:
        figure = charts.figure([], height=180, x_title=name)
    return FeatureSummary(
        name=name,
        kind="numerical",
        present=column.present,
        missing=column.missing,
        typical=typical,
        low=column.minimum,
        high=column.maximum,
        bins=bins,
        figure=figure,
    )


def _categorical(name: str, column: CategoryCounts) -> FeatureSummary:
    order = np.argsort(-column.counts, kind="stable")
    labels = [str(column.labels[i]) for i in order]
    counts = [int(column.counts[i]) for i in order]
    if len(labels) > TOP_CATEGORIES:
        rest = sum(counts[TOP_CATEGORIES:])
        labels, counts = [*labels[:TOP_CATEGORIES], OTHERS], [*counts[:TOP_CATEGORIES], rest]
    bins = [Bin(label, count) for label, count in zip(labels, counts, strict=True)]
    figure = charts.figure(
        [charts.bars(labels, counts, name, colour=1)],
        height=180,
        x_title=name,
        y_title="rows",
        xaxis={"type": "category"},
    )
    return FeatureSummary(
        name=name,
        kind="categorical",
        present=column.present,
        missing=column.missing,
        typical=labels[0] if labels and labels[0] != OTHERS else None,
        low=None,
        high=None,
        bins=bins,
        figure=figure,
    )


def reference_summary(
    profile: ReferenceProfile | None, features: Sequence[Mapping[str, Any]]
) -> list[FeatureSummary]:
    """Each declared feature the profile holds, in the schema's order (then any other
    profiled column, e.g. the prediction)."""
    if profile is None:
        return []
    declared = [str(f["name"]) for f in features if f.get("name") in profile.columns]
    names = declared + [name for name in profile.columns if name not in declared]
    summaries = []
    for name in names:
        column = profile.column(name)
        if isinstance(column, NumericalProfile):
            summaries.append(_numerical(name, column))
        else:
            summaries.append(_categorical(name, column))
    return summaries


def typical_row(
    features: Sequence[Mapping[str, Any]], summaries: Sequence[FeatureSummary]
) -> dict[str, str]:
    """The explanation form's starting values: each feature's typical reference value (empty
    when the profile has none)."""
    typical = {s.name: s.typical for s in summaries}
    row: dict[str, str] = {}
    for feature in features:
        value = typical.get(str(feature["name"]))
        if isinstance(value, float):
            row[str(feature["name"])] = f"{value:.6g}"
        else:
            row[str(feature["name"])] = "" if value is None else str(value)
    return row


def weights_figure(weights: Sequence[Mapping[str, Any]]) -> charts.Figure:
    """LIME's weights as horizontal bars, strongest at the top: positive ones push towards the
    explained label (blue), negative ones away from it (orange)."""
    ordered = list(reversed(weights))  # plotly draws the first category at the bottom
    labels = [str(w["condition"]) for w in ordered]
    values = [float(w["weight"]) for w in ordered]
    trace = charts.bars(labels, values, "weight", horizontal=True)
    trace["marker"] = {
        "color": [charts.COLOURS[0] if v >= 0 else charts.COLOURS[1] for v in values]
    }
    return charts.figure(
        [trace],
        height=max(160, 34 * len(values) + 60),
        x_title="LIME weight",
        yaxis={"type": "category", "automargin": True},
        showlegend=False,
    )
