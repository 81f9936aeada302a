"""Evidently 0.7 glue: its HTML report for a window, and its own per-column drift results.

The scheduled path never comes here: `checks.drift` computes the same numbers vectorised. This
module builds what a person opens (Evidently's HTML, several MB, built on request) and the
oracle the drift tests and the benchmark compare against. Evidently is imported lazily, inside
the functions, so importing this module costs nothing.

Both sides are handed to Evidently as the checks see them: numerical columns as float64 with NaN
for missing, categorical columns as their canonical labels (`checks.profile.category_label`), so
Evidently's report and ours test the same values. Columns with no values on one side are left
out of Evidently's run (it raises on them; our drift check reports them as not testable).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..checks.profile import CATEGORICAL, KINDS, NUMERICAL, category_labels, numerical_values


def evidently_frames(
    reference: Mapping[str, Any], current: Mapping[str, Any], kinds: Mapping[str, str]
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    """Both sides as Evidently should see them, and the kinds of the columns it can test."""
    frames = []
    for side in (reference, current):
        data = {}
        for name, kind in kinds.items():
            if kind not in KINDS:
                raise ValueError(f"column {name!r}: kind must be one of {KINDS}, got {kind!r}")
            if kind == NUMERICAL:
                numbers = numerical_values(side[name])
                data[name] = np.where(np.isfinite(numbers), numbers, np.nan)
            else:
                data[name] = category_labels(side[name])
        frames.append(pd.DataFrame(data))
    reference_frame, current_frame = frames
    testable = {
        name: kind
        for name, kind in kinds.items()
        if reference_frame[name].notna().any() and current_frame[name].notna().any()
    }
    return reference_frame, current_frame, testable


def _drift_snapshot(
    reference: Mapping[str, Any],
    current: Mapping[str, Any],
    kinds: Mapping[str, str],
    *,
    methods: Mapping[str, str] | None,
    thresholds: Mapping[str, float] | None,
    drift_share: float,
    with_summary: bool,
) -> Any:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset, DataSummaryPreset

    reference_frame, current_frame, testable = evidently_frames(reference, current, kinds)
    if not testable:
        raise ValueError("no column has values on both sides; Evidently cannot test drift")
    names = list(testable)
    definition = DataDefinition(
        numerical_columns=[n for n in names if testable[n] == NUMERICAL],
        categorical_columns=[n for n in names if testable[n] == CATEGORICAL],
    )
    preset = DataDriftPreset(
        columns=names,
        drift_share=drift_share,
        per_column_method={n: m for n, m in (methods or {}).items() if n in testable} or None,
        per_column_threshold={n: float(t) for n, t in (thresholds or {}).items() if n in testable}
        or None,
    )
    metrics: list[Any] = [preset, DataSummaryPreset(columns=names)] if with_summary else [preset]
    report = Report(metrics, include_tests=True)
    # (with_summary is the page of Evidently's drift report before pages per check existed)
    return report.run(
        Dataset.from_pandas(current_frame[names], data_definition=definition),
        Dataset.from_pandas(reference_frame[names], data_definition=definition),
    )


def _method_names() -> dict[str, str]:
    from evidently.legacy.calculations import stattests

    tests = {
        "ks": stattests.ks_stat_test,
        "chisquare": stattests.chi_stat_test,
        "z": stattests.z_stat_test,
        "wasserstein": stattests.wasserstein_stat_test,
        "jensenshannon": stattests.jensenshannon_stat_test,
        "psi": stattests.psi_stat_test,
    }
    names = {test.display_name: ours for ours, test in tests.items()}
    names.update({test.name: ours for ours, test in tests.items()})
    return names


def evidently_drift_summary(
    reference: Mapping[str, Any],
    current: Mapping[str, Any],
    kinds: Mapping[str, str],
    *,
    methods: Mapping[str, str] | None = None,
    thresholds: Mapping[str, float] | None = None,
    drift_share: float = 0.5,
) -> dict[str, Any]:
    """Evidently's own drift, from `Report([DataDriftPreset(...)])` and `snapshot.dict()`.

    Returns {"columns": {name: {method, score, drifted, threshold}}, "n_drifted",
    "share_drifted", "dataset_drift"}, methods in our names.
    """
    snapshot = _drift_snapshot(
        reference,
        current,
        kinds,
        methods=methods,
        thresholds=thresholds,
        drift_share=drift_share,
        with_summary=False,
    )
    document = snapshot.dict()
    names = _method_names()
    columns: dict[str, dict[str, Any]] = {}
    summary: dict[str, Any] = {}
    for metric in document["metrics"]:
        config = metric["config"]
        if config["type"].endswith(":ValueDrift"):
            columns[config["column"]] = {
                "method": names[config["method"]],
                "score": float(metric["value"]),
                "threshold": float(config["threshold"]),
            }
        elif config["type"].endswith(":DriftedColumnsCount"):
            summary["n_drifted"] = int(metric["value"]["count"])
            summary["share_drifted"] = float(metric["value"]["share"])
    for test in document["tests"]:
        params = test["metric_config"]["params"]
        failed = test["status"] == "FAIL"
        if params["type"].endswith(":ValueDrift"):
            columns[params["column"]]["drifted"] = failed
        elif params["type"].endswith(":DriftedColumnsCount"):
            summary["dataset_drift"] = failed
    summary["columns"] = columns
    return summary


def evidently_drift_columns(
    reference: Mapping[str, Any],
    current: Mapping[str, Any],
    kinds: Mapping[str, str],
    *,
    methods: Mapping[str, str] | None = None,
    thresholds: Mapping[str, float] | None = None,
) -> dict[str, dict[str, Any]]:
    """Evidently's own per-column {method, score, drifted, threshold} (method in our names)."""
    summary = evidently_drift_summary(
        reference, current, kinds, methods=methods, thresholds=thresholds
    )
    return summary["columns"]


# Evidently writes its report's data as two lines of `json.dumps` inside an inline <script>:
#     var metric_<32 hex> = {...};
#     var additional_graphs_metric_<32 hex> = {...};
# json.dumps never writes a raw line break, so each line is whole, and whatever a logged value
# holds (`</script><script>…`) stays inside its line.
_DATA_LINE = re.compile(r"^ *var (?:additional_graphs_)?metric_[0-9a-f]{32} = [^\n]*;$", re.M)
_SCRIPT_UNSAFE = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"}


class UnsafeReport(RuntimeError):
    """Evidently's page is not laid out as `script_safe_data` expects; it is not served."""


def script_safe_data(document: str) -> str:
    """Evidently's page with `<`, `>` and `&` in its embedded JSON written as \\u escapes.

    Inside a JSON string `\\u003c` is `<`, so the report shows the same values, but no value
    can close the <script> element that holds them. Outside strings JSON has none of the three.
    """

    def escape(match: re.Match[str]) -> str:
        line = match.group(0)
        for unsafe, escaped in _SCRIPT_UNSAFE.items():
            line = line.replace(unsafe, escaped)
        return line

    safe, count = _DATA_LINE.subn(escape, document)
    if count != 2:
        raise UnsafeReport(f"expected Evidently's two data lines, found {count}")
    return safe


def evidently_html(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    kinds: Mapping[str, str],
    *,
    methods: Mapping[str, str] | None = None,
    thresholds: Mapping[str, float] | None = None,
    drift_share: float = 0.5,
    title: str | None = None,
) -> bytes:
    """Evidently's drift report (DataDriftPreset) as standalone UTF-8 HTML."""
    snapshot = _drift_snapshot(
        reference,
        current,
        kinds,
        methods=methods,
        thresholds=thresholds,
        drift_share=drift_share,
        with_summary=False,
    )
    return _page(snapshot, title)


def evidently_summary_html(
    current: pd.DataFrame,
    kinds: Mapping[str, str],
    *,
    reference: pd.DataFrame | None = None,
    title: str | None = None,
) -> bytes:
    """Evidently's data summary (DataSummaryPreset) of the window, beside the reference's."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataSummaryPreset

    reference_side = reference if reference is not None else current
    reference_frame, current_frame, _ = evidently_frames(reference_side, current, kinds)
    names = [n for n in kinds if current_frame[n].notna().any()]
    if not names:
        raise ValueError("no column of the window has values; Evidently has nothing to summarise")
    definition = DataDefinition(
        numerical_columns=[n for n in names if kinds[n] == NUMERICAL],
        categorical_columns=[n for n in names if kinds[n] == CATEGORICAL],
    )
    snapshot = Report([DataSummaryPreset(columns=names)], include_tests=True).run(
        Dataset.from_pandas(current_frame[names], data_definition=definition),
        Dataset.from_pandas(reference_frame[names], data_definition=definition)
        if reference is not None
        else None,
    )
    return _page(snapshot, title)


def evidently_performance_html(
    labelled: pd.DataFrame, task: str, *, title: str | None = None
) -> bytes:
    """Evidently's ClassificationPreset or RegressionPreset of the window's labelled rows:
    ``labelled`` has ``target`` and ``prediction`` (and ``score`` for a binary classifier)."""
    from evidently import BinaryClassification, DataDefinition, Dataset, Regression, Report
    from evidently.presets import ClassificationPreset, RegressionPreset

    if labelled.empty:
        raise ValueError("the window has no labelled predictions; Evidently has nothing to judge")
    frame = labelled.copy()
    if task == "regression":
        definition = DataDefinition(
            numerical_columns=["target", "prediction"],
            regression=[Regression(target="target", prediction="prediction")],
        )
        preset: Any = RegressionPreset()
    else:
        frame["target"] = category_labels(frame["target"])
        frame["prediction"] = category_labels(frame["prediction"])
        classes = set(frame["target"].dropna()) | set(frame["prediction"].dropna())
        binary = task == "binary_classification" and classes <= {"0", "1"}
        with_scores = binary and "score" in frame and frame["score"].notna().all()
        definition = DataDefinition(
            categorical_columns=["target", "prediction"],
            numerical_columns=["score"] if with_scores else [],
            classification=[
                BinaryClassification(
                    target="target",
                    prediction_labels="prediction",
                    prediction_probas="score" if with_scores else None,
                    pos_label="1",
                )
                if binary
                else _multiclass()
            ],
        )
        preset = ClassificationPreset()
    columns = [
        "target",
        "prediction",
        *(["score"] if "score" in definition.numerical_columns else []),
    ]
    snapshot = Report([preset], include_tests=True).run(
        Dataset.from_pandas(frame[columns], data_definition=definition), None
    )
    return _page(snapshot, title)


def _multiclass() -> Any:
    from evidently import MulticlassClassification

    return MulticlassClassification(target="target", prediction_labels="prediction")


def _page(snapshot: Any, title: str | None) -> bytes:
    document = script_safe_data(snapshot.get_html_str(as_iframe=False))
    if title:
        document = document.replace(
            '<meta charset="UTF-8">',
            f'<meta charset="UTF-8">\n        <title>{html.escape(title)}</title>',
            1,
        )
    return document.encode("utf-8")
