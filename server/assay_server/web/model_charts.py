"""The model pages' charts: figures from the series of :mod:`..monitoring.history`.

Each figure comes with a :class:`Chart` that also carries its numbers in words (latest,
range, runs over a level), which the page prints under the chart for readers without
JavaScript or a screen reader; the figures themselves stay plain plotly dicts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from ..monitoring.history import (
    DriftShares,
    FeatureDrift,
    GroupPoint,
    PerformancePoint,
    Trend,
    VolumePoint,
)
from . import charts
from .charts import Figure
from .formatting import figure as shown
from .formatting import share as percent
from .formatting import when

#: p-value tests drift when the score falls under the threshold, distances when it rises over
P_VALUE_METHODS = frozenset({"ks", "chisquare", "z"})
#: a heatmap cell's ceiling: twice past the threshold is as red as it gets
STRENGTH_CAP = 2.0
HEATMAP_ROW_HEIGHT = 22


@dataclass(frozen=True)
class Chart:
    """One chart of a page: its id, figure, caption and the same numbers in words."""

    name: str
    figure: Figure
    caption: str
    facts: list[str] = field(default_factory=list)


@lru_cache(maxsize=8192)
def _moment(at: datetime) -> str:
    """A UTC time as plotly reads a date (it knows no zones; the axes say UTC)."""
    return at.strftime("%Y-%m-%d %H:%M:%S")


def _times(moments: Iterable[datetime]) -> list[str]:
    return [_moment(at) for at in moments]


def _rounded(values: Iterable[float | None]) -> list[float | None]:
    """Four significant digits are all a chart shows; the page stays small."""
    return [None if v is None else float(f"{v:.4g}") for v in values]


def _over_time(traces: list[dict[str, Any]], y_title: str, **layout: Any) -> Figure:
    """A chart of runs over time (UTC): its legend above the plot, clear of the dates."""
    return charts.figure(
        traces,
        y_title=y_title,
        legend={"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},
        margin={"t": 28},
        **layout,
    )


def _span(values: Sequence[float | int | None]) -> str:
    known = [v for v in values if v is not None]
    if not known:
        return "no values"
    return f"lowest {shown(min(known))}, highest {shown(max(known))}"


def drift_share_chart(shares: DriftShares) -> Chart:
    """The share of drifted columns per run, with the alert level as a dashed line."""
    at = _times(shares.at)
    traces = [charts.line(at, _rounded(shares.share), "share of drifted columns")]
    facts: list[str] = []
    if shares.alert_level is not None and shares.at:
        traces.append(charts.level(at, shares.alert_level, "alert level"))
        over = sum(1 for v in shares.share if v is not None and v >= shares.alert_level)
        facts.append(
            f"{over} of {len(shares.share)} runs at or over the alert level "
            f"{percent(shares.alert_level)}"
        )
    if shares.at:
        facts.insert(
            0,
            f"Latest {percent(shares.share[-1])} on {when(shares.at[-1])}; {_span(shares.share)}.",
        )
    fig = _over_time(traces, "share drifted", yaxis={"range": [0, 1.05]})
    return Chart("drift-share", fig, "Share of drifted columns per run", facts)


def drift_strength(column: FeatureDrift) -> float | None:
    """How far a column's score is past its threshold, 1 at the threshold, higher = more
    drift, whichever way the method counts (p-values down, distances up), capped."""
    if column.score is None or not column.threshold:
        return None
    if column.method in P_VALUE_METHODS:
        if column.score <= 0:
            return STRENGTH_CAP
        return min(column.threshold / column.score, STRENGTH_CAP)
    return min(column.score / column.threshold, STRENGTH_CAP)


def feature_heatmap(columns: list[FeatureDrift]) -> Chart:
    """Drift strength per feature (rows) and run (columns)."""
    runs = sorted({c.at for c in columns})
    features = sorted({c.feature for c in columns})
    position = {at: i for i, at in enumerate(runs)}
    row_of = {name: i for i, name in enumerate(features)}
    grid: list[list[float | None]] = [[None] * len(runs) for _ in features]
    drifted: dict[str, int] = dict.fromkeys(features, 0)
    for column in columns:
        strength = drift_strength(column)
        grid[row_of[column.feature]][position[column.at]] = (
            None if strength is None else round(strength, 3)
        )
        drifted[column.feature] += column.drifted
    trace = charts.heatmap(_times(runs), features, grid, "drift strength")
    trace.update(zmin=0, zmax=STRENGTH_CAP, colorbar={"title": {"text": "× threshold"}})
    height = max(160, 90 + HEATMAP_ROW_HEIGHT * len(features))
    fig = charts.figure([trace], height=height, yaxis={"automargin": True})
    facts = [
        f"{name}: drifted in {count} of {len(runs)} runs"
        for name, count in sorted(drifted.items(), key=lambda item: (-item[1], item[0]))
    ]
    caption = "Drift per feature and run (score over its threshold; 1 = at the threshold)"
    return Chart("feature-drift", fig, caption, facts)


def performance_chart(points: list[PerformancePoint]) -> Chart:
    """The watched metric realised and estimated per run, with the baseline as a line."""
    traces = []
    facts = []
    metric = next((p.metric for p in reversed(points) if p.metric), None) or "metric"
    for index, (kind, name) in enumerate(
        (("performance", "realised"), ("estimated_performance", "estimated"))
    ):
        mine = [p for p in points if p.kind == kind and p.metric == metric]
        if not any(p.value is not None for p in mine):
            continue
        values = [p.value for p in mine]
        traces.append(charts.line(_times(p.at for p in mine), _rounded(values), name, colour=index))
        latest = next(p for p in reversed(mine) if p.value is not None)
        facts.append(
            f"{name.capitalize()} {metric}: latest {shown(latest.value)}; {_span(values)}."
        )
    baseline = next((p.baseline for p in reversed(points) if p.baseline is not None), None)
    if baseline is not None and traces:
        traces.append(charts.level(_times(p.at for p in points), baseline, f"benchmark {metric}"))
        facts.append(f"Benchmark {metric}: {shown(baseline)}.")
    fig = _over_time(traces, metric)
    return Chart(
        "performance", fig, f"{metric} realised and estimated against the benchmark", facts
    )


def group_charts(points: list[GroupPoint]) -> list[Chart]:
    """Selection rate per group, and true-positive rate per group, over runs."""
    made = []
    for name, attribute, caption in (
        ("selection-rate", "selection_rate", "Selection rate per group"),
        ("tpr", "tpr", "True-positive rate per group"),
    ):
        series: dict[str, tuple[list[str], list[float | None]]] = {}
        for point in points:
            key = f"{point.feature} = {point.group}"
            xs, ys = series.setdefault(key, ([], []))
            xs.append(_moment(point.at))
            ys.append(getattr(point, attribute))
        traces = [
            charts.line(xs, _rounded(ys), key, colour=index)
            for index, (key, (xs, ys)) in enumerate(sorted(series.items()))
        ]
        facts = [
            f"{key}: latest {shown(next((y for y in reversed(ys) if y is not None), None))}"
            for key, (_xs, ys) in sorted(series.items())
        ]
        fig = _over_time(traces, attribute.replace("_", " "), yaxis={"range": [0, 1.05]})
        made.append(Chart(name, fig, caption, facts))
    return made


def volume_charts(points: list[VolumePoint]) -> list[Chart]:
    """Rows per run's window, and the share of them with ground truth."""
    at = _times(p.at for p in points)
    rows = [p.rows for p in points]
    volume = _over_time([charts.bars(at, rows, "rows in the window")], "predictions")
    covered = [(_moment(p.at), p.label_coverage) for p in points if p.label_coverage is not None]
    coverage = _over_time(
        [
            charts.line(
                [a for a, _ in covered], _rounded(c for _, c in covered), "label coverage", colour=2
            )
        ],
        "share labelled",
        yaxis={"range": [0, 1.05]},
    )
    volume_facts = [f"{len(rows)} runs; {_span(rows)} rows per window."] if rows else []
    coverage_facts = (
        [f"Latest label coverage {percent(covered[-1][1])}; {_span([c for _, c in covered])}."]
        if covered
        else []
    )
    return [
        Chart("volume", volume, "Predictions per run's window", volume_facts),
        Chart("label-coverage", coverage, "Share of predictions with ground truth", coverage_facts),
    ]


def trend_sparkline(trend: Trend) -> Figure:
    """A model list's sparkline of its headline figure."""
    return charts.sparkline(trend.values, trend.kind.replace("_", " "))
