"""A report's charts, made from the report alone (its summary and detail; no store, no Flask).

Every figure here is drawn from numbers the report's tables also show, so the page reads the
same without JavaScript. Drift: reference vs window per column from ``detail.histograms``
(written by the drift check since it existed; older reports have no chart, only the table),
drifted columns first. Bias: per group, each rate; per feature, the monitored disparity against
its levels. Performance: the metrics beside their baseline, the degradation metric against its
warning and alert values, and the binary confusion matrix derived from the stored figures.
Estimated performance: each estimate with a 95% band.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from ..checks.performance import HIGHER_IS_BETTER
from . import charts
from .formatting import label

#: the per-group rates a bias chart compares (the four disparities are made of them)
GROUP_RATES = ("selection_rate", "tpr", "fpr", "accuracy")
#: metrics that are counts, not scores: in the tables, never on a metric chart
_NOT_SCORES = {"n_labelled", "label_coverage", "n_estimated"}
Z_95 = 1.96
COUNT_SCALE = [[0, "#ffffff"], [1, charts.COLOURS[0]]]


@dataclass(frozen=True)
class ReportChart:
    """One chart of a report page: its element name, plotly figure and caption."""

    name: str
    figure: charts.Figure
    caption: str


def report_charts(
    kind: str, summary: Mapping[str, Any], detail: Mapping[str, Any]
) -> list[ReportChart]:
    """The charts a report of ``kind`` calls for (none for a kind without any)."""
    if kind == "drift":
        return drift_charts(detail.get("columns") or [], detail.get("histograms") or {})
    if kind == "bias":
        return bias_charts(detail.get("features") or [], summary.get("levels") or {})
    if kind == "performance":
        return performance_charts(summary)
    if kind == "estimated_performance":
        return estimated_charts(summary)
    return []


def drift_charts(
    columns: Sequence[Mapping[str, Any]], histograms: Mapping[str, Mapping[str, Any]]
) -> list[ReportChart]:
    """Per column with a histogram, drifted ones first: reference and window shares per bin
    (overlaid bars for numerical columns, side by side for categories)."""
    ordered = sorted(columns, key=lambda column: not column.get("drifted"))
    result = []
    for index, column in enumerate(ordered):
        feature = str(column.get("feature"))
        shape = histograms.get(feature)
        if not shape:
            continue
        verdict = "drifted" if column.get("drifted") else "not drifted"
        caption = f"{feature}: reference vs window ({column.get('method')}, {verdict})"
        result.append(ReportChart(f"drift-{index}", _distribution(feature, shape), caption))
    return result


def _distribution(feature: str, shape: Mapping[str, Any]) -> charts.Figure:
    reference = _shares(shape.get("reference") or [])
    current = _shares(shape.get("current") or [])
    if "edges" in shape:
        edges = [float(edge) for edge in shape["edges"]]
        centres = [(low + high) / 2 for low, high in pairwise(edges)]
        width = edges[1] - edges[0] if len(edges) > 1 else 1.0
        traces = [
            charts.bars(centres, reference, "reference", colour=0),
            charts.bars(centres, current, "window", colour=1),
        ]
        for trace in traces:
            trace.update(width=width, opacity=0.6)
        return charts.figure(
            traces, barmode="overlay", height=220, x_title=feature, y_title="share"
        )
    categories = [str(name) for name in shape.get("labels") or []]
    traces = [
        charts.bars(categories, reference, "reference", colour=0),
        charts.bars(categories, current, "window", colour=1),
    ]
    return charts.figure(traces, barmode="group", height=220, x_title=feature, y_title="share")


def _shares(counts: Sequence[Any]) -> list[float]:
    total = sum(float(count) for count in counts)
    return [float(count) / total if total else 0.0 for count in counts]


def bias_charts(
    features: Sequence[Mapping[str, Any]], levels: Mapping[str, Any]
) -> list[ReportChart]:
    """Per sensitive feature, each group's rates side by side; then the monitored disparity
    of every feature against its warning and alert levels."""
    result = []
    for index, feature in enumerate(features):
        name = str(feature.get("feature"))
        groups = feature.get("groups") or []
        traces = [
            charts.bars(
                [label(rate) for rate in GROUP_RATES],
                [_number(group.get(rate)) for rate in GROUP_RATES],
                str(group.get("group")),
                colour=position,
            )
            for position, group in enumerate(groups)
        ]
        figure = charts.figure(traces, barmode="group", height=240, y_title="rate")
        result.append(ReportChart(f"bias-groups-{index}", figure, f"{name}: rates per group"))
    metric = str(levels.get("metric") or "")
    if features and metric:
        names = [str(feature.get("feature")) for feature in features]
        values = [_number(feature.get(metric)) for feature in features]
        traces = [charts.bars(names, values, label(metric))]
        for level in ("warning", "alert"):
            if isinstance(levels.get(level), (int, float)):
                traces.append(across(float(levels[level]), f"{level} level", level))
        figure = charts.figure(traces, height=220, y_title="disparity", **ACROSS_AXIS)
        caption = f"{label(metric)} per sensitive feature, against its levels"
        result.append(ReportChart("bias-disparity", figure, caption))
    return result


def performance_charts(summary: Mapping[str, Any]) -> list[ReportChart]:
    """The metrics beside the baseline, the degradation metric against its levels, and the
    binary confusion matrix."""
    metrics: Mapping[str, Any] = summary.get("metrics") or {}
    baseline: Mapping[str, Any] = (summary.get("baseline") or {}).get("metrics") or {}
    names = [
        name for name in metrics if name not in _NOT_SCORES and _number(metrics[name]) is not None
    ]
    result = []
    if names:
        traces = [
            charts.bars([label(n) for n in names], [_number(metrics[n]) for n in names], "window")
        ]
        if any(name in baseline for name in names):
            values = [_number(baseline.get(name)) for name in names]
            traces.append(charts.bars([label(n) for n in names], values, "baseline", colour=2))
        figure = charts.figure(traces, barmode="group", height=240)
        result.append(ReportChart("metrics", figure, "Metrics of the window and their baseline"))
    degradation = degradation_chart(summary.get("degradation") or {})
    if degradation:
        result.append(degradation)
    confusion = confusion_matrix(metrics)
    if confusion:
        cells = [[confusion["tn"], confusion["fp"]], [confusion["fn"], confusion["tp"]]]
        trace = charts.heatmap(
            ["predicted 0", "predicted 1"], ["actual 0", "actual 1"], cells, "rows"
        )
        # counts, not alarms: blue, actual 0 on top as confusion matrices are read
        trace.update(texttemplate="%{z}", showscale=False, colorscale=COUNT_SCALE)
        figure = charts.figure([trace], height=240, yaxis={"autorange": "reversed"})
        caption = "Confusion matrix of the labelled rows (from accuracy, precision and recall)"
        result.append(ReportChart("confusion", figure, caption))
    return result


def degradation_chart(degradation: Mapping[str, Any]) -> ReportChart | None:
    """The degradation metric now and at baseline, with the values that warn and alert."""
    metric = str(degradation.get("metric") or "")
    current, baseline = _number(degradation.get("current")), _number(degradation.get("baseline"))
    if metric not in HIGHER_IS_BETTER or current is None or baseline is None:
        return None
    bars = ["window", "baseline"]
    traces = [charts.bars(bars, [current, baseline], label(metric))]
    for level in ("warning", "alert"):
        allowed = _number(degradation.get(level))
        if allowed is not None:
            value = level_value(metric, baseline, allowed, str(degradation.get("mode")))
            traces.append(across(value, f"{level} at {value:.3g}", level))
    figure = charts.figure(traces, height=220, y_title=label(metric), **ACROSS_AXIS)
    return ReportChart("degradation", figure, f"{label(metric)} against its baseline")


#: an invisible x axis from 0 to 1 over the chart, so a level line spans every category
ACROSS_AXIS: dict[str, Any] = {
    "xaxis2": {"overlaying": "x", "range": [0, 1], "visible": False, "fixedrange": True}
}
LEVEL_COLOURS = {"warning": charts.COLOURS[1], "alert": charts.ALERT_COLOUR}


def across(value: float, name: str, level: str) -> dict[str, Any]:
    """A level line across the whole width of a chart of categories (with ``ACROSS_AXIS``)."""
    trace = charts.level([0, 1], value, name)
    trace["xaxis"] = "x2"
    trace["line"] = {**trace["line"], "color": LEVEL_COLOURS.get(level, charts.ALERT_COLOUR)}
    return trace


def level_value(metric: str, baseline: float, allowed_drop: float, mode: str) -> float:
    """The metric's value at which its drop from ``baseline`` reaches ``allowed_drop``."""
    drop = allowed_drop * (abs(baseline) if mode == "relative" else 1.0)
    return baseline - drop if HIGHER_IS_BETTER[metric] else baseline + drop


def confusion_matrix(metrics: Mapping[str, Any]) -> dict[str, int] | None:
    """A binary confusion matrix solved from ``n_labelled``, accuracy, precision and recall
    (four equations, four cells); None when they do not determine it (e.g. a perfect model,
    a multiclass or regression report)."""
    n = _number(metrics.get("n_labelled"))
    accuracy, precision, recall = (
        _number(metrics.get(key)) for key in ("accuracy", "precision", "recall")
    )
    if not n or accuracy is None or not precision or recall is None:
        return None
    # errors = FP + FN = n (1 - accuracy); with P actual positives, TP = recall P,
    # FP = TP (1/precision - 1), FN = P (1 - recall)
    per_positive = recall * (1 / precision - 1) + (1 - recall)
    if per_positive <= 0:
        return None
    positives = n * (1 - accuracy) / per_positive
    tp = recall * positives
    cells = {"tp": tp, "fp": tp / precision - tp, "fn": positives - tp}
    cells["tn"] = n - cells["tp"] - cells["fp"] - cells["fn"]
    rounded = {key: round(value) for key, value in cells.items()}
    if min(rounded.values()) < 0 or sum(rounded.values()) != round(n):
        return None
    return rounded


def estimated_charts(summary: Mapping[str, Any]) -> list[ReportChart]:
    """Each estimated metric with a 95% band (binomial standard error over the rows
    estimated), beside the baseline and, once labels exist, the realised figure."""
    metrics: Mapping[str, Any] = summary.get("metrics") or {}
    n = _number(metrics.get("n_estimated")) or 0
    names = [
        name for name in metrics if name not in _NOT_SCORES and _number(metrics[name]) is not None
    ]
    if not names:
        return []
    labels = [label(name) for name in names]
    estimates = [float(metrics[name]) for name in names]
    margins = [band(value, n) for value in estimates]
    estimate = {
        "type": "scatter",
        "mode": "markers",
        "name": "estimate (95% band)",
        "x": labels,
        "y": estimates,
        "marker": {"color": charts.COLOURS[0], "size": 9},
        "error_y": {"type": "data", "array": margins, "visible": True, "color": charts.COLOURS[0]},
    }
    traces: list[dict[str, Any]] = [estimate]
    for source, colour in (("baseline", 2), ("realised", 1)):
        figures = summary.get(source) or {}
        if source == "baseline":
            figures = figures.get("metrics") or {}
        if any(name in figures for name in names):
            values = [_number(figures.get(name)) for name in names]
            traces.append(_markers(labels, values, source, colour))
    figure = charts.figure(traces, height=240, yaxis={"range": [0, 1.05]})
    return [ReportChart("estimate", figure, "Estimated metrics with their 95% band")]


def band(value: float, n: float) -> float:
    """Half-width of the 95% normal band of a share estimated over ``n`` rows."""
    if n <= 0 or not 0 <= value <= 1:
        return 0.0
    return Z_95 * math.sqrt(value * (1 - value) / n)


def _markers(x: Sequence[str], y: Sequence[float | None], name: str, colour: int) -> dict[str, Any]:
    return {
        "type": "scatter",
        "mode": "markers",
        "name": name,
        "x": list(x),
        "y": list(y),
        "marker": {"color": charts.COLOURS[colour], "size": 9, "symbol": "diamond"},
    }


def _number(value: Any) -> float | None:
    """A finite number, or None (plotly leaves a gap)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None
