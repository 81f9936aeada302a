"""What a run counts over every row of its window, part by part, and the sample it draws.

A run streams its window (the prediction store's ``stream_window``) and hands each part to
:meth:`WindowAggregates.add`: the mergeable counts of ``checks`` (quality, bias, confusion,
regression, expected confusion) take every row, so those figures are exact whatever the
window's size, and a :class:`~..checks.sampling.SeededSample` keeps a uniform sample of at
most ``sample_size`` rows for what needs rows at once (drift, ROC AUC, log loss). Memory holds
one part, the sample and the counts — never the window.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..checks.estimated import Calibration
from ..checks.outcome_counts import BiasCounts, ConfusionCounts, ExpectedConfusion, RegressionSums
from ..checks.profile import ReferenceProfile
from ..checks.quality_counts import QualityCounts
from ..checks.sampling import SeededSample
from ..ingest.store import FEATURE, PROBABILITY, SENSITIVE, PredictionWindow
from .drafts import class_labels


def monitored_columns(
    profile: ReferenceProfile, window: PredictionWindow, prediction_name: str | None
) -> dict[str, Any]:
    """The window's columns under the names the reference profile uses."""
    frame = window.frame
    columns: dict[str, Any] = {}
    for name in profile.kinds:
        if FEATURE + name in frame.columns:
            columns[name] = frame[FEATURE + name]
        elif name == prediction_name:
            columns[name] = frame["prediction"]
    return columns


@dataclass
class WindowAggregates:
    """Counts over every row a run reads, and its sample. Build with :func:`plan`."""

    sample: SeededSample
    classifier: bool
    prediction_name: str | None = None
    profile: ReferenceProfile | None = None
    quality: QualityCounts | None = None
    bias: BiasCounts | None = None
    sensitive_features: list[str] = field(default_factory=list)
    confusion: ConfusionCounts | None = None
    regression: RegressionSums | None = None
    expected: ExpectedConfusion | None = None
    rows: int = 0
    labelled: int = 0  # rows with ground truth
    scored: int = 0  # rows with a score
    probability_columns: set[str] = field(default_factory=set)

    def add(self, part: PredictionWindow) -> None:
        """Count one part of the window and offer its rows to the sample."""
        frame = part.frame
        self.rows += len(frame)
        if not len(frame):
            return
        self.sample.update(frame)
        labels = part.labels
        self.labelled += int(labels.notna().sum())
        scores = frame["score"].astype(float) if "score" in frame.columns else None
        if scores is not None:
            self.scored += int(scores.notna().sum())
        self.probability_columns.update(
            name[len(PROBABILITY) :] for name in frame.columns if name.startswith(PROBABILITY)
        )
        if self.quality is not None and self.profile is not None:
            self.quality.update(monitored_columns(self.profile, part, self.prediction_name))
        needs_classes = self.bias is not None or self.confusion is not None
        predictions = None
        if needs_classes or self.expected is not None:
            predictions = class_labels(part.predictions)
        classes = class_labels(labels) if needs_classes else None
        if self.bias is not None:
            self.bias.update(predictions, self._sensitive(frame), labels=classes)
        if self.confusion is not None:
            self.confusion.update(classes, predictions)
        if self.regression is not None:
            self.regression.update(labels, part.predictions)
        if self.expected is not None and scores is not None and predictions is not None:
            self.expected.update(scores.to_numpy(), predictions.to_numpy())

    def _sensitive(self, frame: Any) -> dict[str, Any]:
        """Each sensitive feature under both places it may be logged (``sensitive.x`` and
        ``feature.x``); :meth:`bias_columns` picks one, as a whole window would."""
        columns = {}
        for name in self.sensitive_features:
            for prefix in (SENSITIVE, FEATURE):
                if prefix + name in frame.columns:
                    columns[prefix + name] = class_labels(frame[prefix + name])
        return columns

    def bias_columns(self) -> tuple[dict[str, str], list[str]]:
        """Sensitive feature -> the column counted for it (a logged attribute before a
        feature of the same name), and the features found in neither."""
        found: dict[str, str] = {}
        absent = []
        seen = self.bias.groups if self.bias is not None else {}
        for name in self.sensitive_features:
            for prefix in (SENSITIVE, FEATURE):
                if prefix + name in seen:
                    found[name] = prefix + name
                    break
            else:
                absent.append(name)
        return found, absent


def plan(
    *,
    task: str,
    checks: list[str],
    sample_size: int,
    seed: int,
    profile: ReferenceProfile | None = None,
    prediction_name: str | None = None,
    sensitive_features: list[str] | None = None,
    options: dict[str, Any] | None = None,
    calibration: Calibration | None = None,
) -> WindowAggregates:
    """The counts a run of ``checks`` needs, empty, and its sample."""
    options = options or {}
    classifier = task != "regression"
    wanted = set(checks)
    aggregates = WindowAggregates(
        sample=SeededSample(sample_size, seed),
        classifier=classifier,
        prediction_name=prediction_name,
        profile=profile,
        sensitive_features=list(sensitive_features or []),
    )
    if "data_quality" in wanted and profile is not None:
        aggregates.quality = QualityCounts(profile)
    if "bias" in wanted and classifier and aggregates.sensitive_features:
        aggregates.bias = BiasCounts(
            favourable_label=str(options.get("favourable_label", "1")),
            min_group_count=int(options.get("min_group_count", 30)),
        )
    performance = bool({"performance", "estimated_performance"} & wanted)
    if performance and classifier:
        aggregates.confusion = ConfusionCounts()
    if "performance" in wanted and not classifier:
        aggregates.regression = RegressionSums()
    if "estimated_performance" in wanted and calibration is not None:
        aggregates.expected = ExpectedConfusion(
            calibration,
            positive_label=str(options.get("positive_label", "1")),
            threshold=float(options.get("classification_threshold", 0.5)),
        )
    return aggregates
