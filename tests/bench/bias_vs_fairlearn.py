"""Benchmark: measure_bias against fairlearn, on the same data, in the same run.

    python tests/bench/bias_vs_fairlearn.py [--rows 1000000] [--repeats 5]

Data: binary 0/1 labels and predictions (every row labelled, as fairlearn needs) and one
sensitive feature of 3 groups. The anchor is fairlearn's ``MetricFrame`` with selection_rate,
accuracy_score, true_positive_rate and false_positive_rate, plus
``demographic_parity_difference`` and ``equalized_odds_difference`` (timed once). measure_bias
is timed on the same integer arrays, and again on the same outcomes as object strings ("0"/"1",
the form the monitoring job passes); its figure is the median of ``--repeats`` runs. The run
prints both times, the ratio, and the largest difference between the two sets of figures.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "server"))

from fairlearn.metrics import (  # noqa: E402
    MetricFrame,
    demographic_parity_difference,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.metrics import accuracy_score  # noqa: E402

from assay_server.checks.bias import measure_bias  # noqa: E402


def _window(rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    group_index = rng.choice(3, size=rows, p=[0.5, 0.3, 0.2])
    sensitive = np.array(["north", "south", "west"], dtype=object)[group_index]
    labels = (rng.random(rows) < 0.3 + 0.1 * group_index).astype(np.int64)
    wrong = rng.random(rows) < 0.1 + 0.05 * group_index
    predictions = np.where(wrong, 1 - labels, labels)
    return labels, predictions, sensitive


def _fairlearn(labels: np.ndarray, predictions: np.ndarray, sensitive: np.ndarray) -> dict:
    frame = MetricFrame(
        metrics={
            "selection_rate": selection_rate,
            "accuracy": accuracy_score,
            "tpr": true_positive_rate,
            "fpr": false_positive_rate,
        },
        y_true=labels,
        y_pred=predictions,
        sensitive_features=sensitive,
    )
    by_group = frame.by_group
    return {
        "by_group": {name: by_group.loc[name].to_dict() for name in by_group.index},
        "demographic_parity_difference": demographic_parity_difference(
            labels, predictions, sensitive_features=sensitive
        ),
        "equalized_odds_difference": equalized_odds_difference(
            labels, predictions, sensitive_features=sensitive
        ),
    }


def _largest_difference(theirs: dict, ours) -> float:
    gaps = [
        abs(theirs["demographic_parity_difference"] - ours.demographic_parity_difference),
        abs(theirs["equalized_odds_difference"] - ours.equalized_odds_difference),
    ]
    for group in ours.groups:
        expected = theirs["by_group"][group.group]
        for name in ("selection_rate", "accuracy", "tpr", "fpr"):
            gaps.append(abs(expected[name] - getattr(group, name)))
    return max(gaps)


def _median_seconds(repeats: int, run) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    labels, predictions, sensitive = _window(args.rows)
    print(f"rows: {args.rows:,}, groups: 3, every row labelled")

    started = time.perf_counter()
    theirs = _fairlearn(labels, predictions, sensitive)
    fairlearn_seconds = time.perf_counter() - started
    print(f"fairlearn MetricFrame (4 metrics) + DP + EO difference: {fairlearn_seconds:8.3f} s")

    int_seconds, (ours,) = _median_seconds(
        args.repeats,
        lambda: measure_bias(predictions, {"region": sensitive}, labels=labels, favourable_label=1),
    )
    print(
        f"measure_bias, int outcomes (median of {args.repeats}):     {int_seconds:8.3f} s"
        f"   ratio {fairlearn_seconds / int_seconds:6.1f}x"
    )
    as_text = np.array(["0", "1"], dtype=object)
    text_labels, text_predictions = as_text[labels], as_text[predictions]
    text_seconds, (ours_text,) = _median_seconds(
        args.repeats,
        lambda: measure_bias(text_predictions, {"region": sensitive}, labels=text_labels),
    )
    print(
        f"measure_bias, string outcomes (median of {args.repeats}):  {text_seconds:8.3f} s"
        f"   ratio {fairlearn_seconds / text_seconds:6.1f}x"
    )
    print(
        "largest difference from fairlearn's figures: "
        f"{max(_largest_difference(theirs, ours), _largest_difference(theirs, ours_text)):.2e}"
    )


if __name__ == "__main__":
    main()
