"""Builders of synthetic labelled windows for the bias, performance and estimation checks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class LabelledWindow:
    """A window of predictions, ground truth (None where missing) and one sensitive feature."""

    predictions: np.ndarray
    labels: np.ndarray
    sensitive: np.ndarray


def classifier_window(
    *,
    rows: int,
    groups: Sequence[str],
    group_shares: Sequence[float],
    classes: Sequence[str] = ("0", "1"),
    missing_label_share: float = 0.0,
    missing_group_share: float = 0.0,
    seed: int = 0,
) -> LabelledWindow:
    """Draw a window whose base rates and accuracy differ by group (object arrays)."""
    rng = np.random.default_rng(seed)
    group_index = rng.choice(len(groups), size=rows, p=np.asarray(group_shares) / sum(group_shares))
    class_values = np.array(classes, dtype=object)
    # group i leans towards class i (mod k), so base and selection rates differ by group
    leaning = np.ones((len(groups), len(classes)))
    leaning[np.arange(len(groups)), np.arange(len(groups)) % len(classes)] += 1.5
    cumulative = np.cumsum(leaning / leaning.sum(axis=1, keepdims=True), axis=1)[group_index]
    drawn = (rng.random(rows)[:, None] > cumulative).sum(axis=1)
    labels = class_values[np.minimum(drawn, len(classes) - 1)]
    # each group gets its own error rate, so the per-group figures differ
    error_rate = 0.1 + 0.25 * group_index / max(len(groups) - 1, 1)
    wrong = rng.random(rows) < error_rate
    predictions = np.where(wrong, class_values[rng.integers(0, len(classes), size=rows)], labels)
    labels = labels.copy()
    labels[rng.random(rows) < missing_label_share] = None
    sensitive = np.array(groups, dtype=object)[group_index]
    sensitive[rng.random(rows) < missing_group_share] = None
    return LabelledWindow(predictions=predictions, labels=labels, sensitive=sensitive)


@dataclass(frozen=True)
class ScoredSample:
    """Binary outcomes with the true P(positive) they were drawn from and a model's score."""

    probability: np.ndarray
    labels: np.ndarray
    scores: np.ndarray


def calibrated_sample(*, rows: int, alpha: float, beta: float, seed: int) -> ScoredSample:
    """Draw P(positive) ~ Beta(alpha, beta), labels "1"/"0" from it, and score = P (calibrated)."""
    rng = np.random.default_rng(seed)
    probability = rng.beta(alpha, beta, size=rows)
    labels = np.where(rng.random(rows) < probability, "1", "0").astype(object)
    return ScoredSample(probability=probability, labels=labels, scores=probability.copy())


def overconfident(sample: ScoredSample, *, sharpness: float = 3.0) -> ScoredSample:
    """Return the sample with scores pushed towards 0 and 1 (logit times ``sharpness``)."""
    p = np.clip(sample.probability, 1e-12, 1 - 1e-12)
    logit = np.log(p / (1 - p))
    scores = 1 / (1 + np.exp(-sharpness * logit))
    return ScoredSample(probability=sample.probability, labels=sample.labels, scores=scores)


def as_dtype(values: np.ndarray, kind: str) -> object:
    """Return object ``values`` as a pandas Series of ``kind``: object, category or arrow."""
    series = pd.Series(values, dtype=object)
    if kind == "category":
        return series.astype("category")
    if kind == "arrow":
        return series.astype("string[pyarrow]")
    return series
