"""Bias per sensitive feature: per-group figures and the disparities across groups.

Definitions are fairlearn's (``MetricFrame`` with ``selection_rate``, ``accuracy_score``,
``true_positive_rate``, ``false_positive_rate``, and ``demographic_parity_*`` /
``equalized_odds_*`` with their defaults ``method="between_groups"``, ``agg="worst_case"``),
computed in one ``np.bincount`` per feature instead of fairlearn's per-group apply.

Outcomes are one-vs-rest on the favourable label: a row is *selected* when its prediction
equals ``favourable_label`` and *positive* when its label does. Accuracy is the group's plain
accuracy (prediction equals label), which is the one-vs-rest accuracy for a binary model.

Edge cases, mirroring fairlearn where it defines them:

- selection rate is over all the group's rows; accuracy, TPR and FPR over its labelled rows,
  and are None when the group has none (the group then takes no part in equalized odds);
- a group with labelled rows but no positive (negative) labels has TPR (FPR) 0.0, as
  fairlearn's confusion matrix with ``normalize="true"`` returns;
- groups with fewer than ``min_group_count`` rows are listed with ``below_min_count=True`` and
  left out of the four disparity figures, so they can never raise an alert;
- with no eligible group a figure is None; with one, differences are 0.0 and ratios 1.0;
- a ratio whose largest group value is 0 is undefined (fairlearn's NaN), reported as None;
- the equalized-odds figures are Python's ``max``/``min`` over (TPR figure, FPR figure) in that
  order, as fairlearn computes them: a NaN TPR ratio therefore makes the odds ratio None, while
  a NaN FPR ratio leaves the TPR ratio;
- missing sensitive values (None/NaN) form their own group, ``"(missing)"``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Final

import numpy as np

from .performance import factorize_outcomes, shared_class_codes

MISSING_GROUP: Final[str] = "(missing)"

# Each row falls in one of 16 outcome states, one bit per fact about it.
_LABELLED, _POSITIVE, _SELECTED, _CORRECT = 8, 4, 2, 1
_STATES: Final[np.ndarray] = np.arange(16)


@dataclass(frozen=True)
class GroupFigures:
    """One group of a sensitive feature: its size and fairlearn's per-group figures."""

    group: str
    count: int
    labelled: int
    selection_rate: float
    accuracy: float | None
    tpr: float | None
    fpr: float | None
    below_min_count: bool

    def as_json(self) -> dict[str, Any]:
        """Return the plain-JSON form of this group's row."""
        return asdict(self)


@dataclass(frozen=True)
class SensitiveFeatureBias:
    """The bias summary of one sensitive feature: per-group rows and four disparity figures."""

    feature: str
    groups: list[GroupFigures]
    demographic_parity_difference: float | None
    demographic_parity_ratio: float | None
    equalized_odds_difference: float | None
    equalized_odds_ratio: float | None

    def as_json(self) -> dict[str, Any]:
        """Return the plain-JSON form: the four figures at the top level beside ``groups``."""
        return {
            "feature": self.feature,
            "demographic_parity_difference": self.demographic_parity_difference,
            "demographic_parity_ratio": self.demographic_parity_ratio,
            "equalized_odds_difference": self.equalized_odds_difference,
            "equalized_odds_ratio": self.equalized_odds_ratio,
            "groups": [group.as_json() for group in self.groups],
        }


def _outcome_states(predictions: Any, labels: Any, favourable_label: Any) -> np.ndarray:
    if labels is None:
        prediction_codes, classes = factorize_outcomes(predictions)
        label_codes = np.full(prediction_codes.size, -1, dtype=np.int64)
    else:
        label_codes, prediction_codes, classes = shared_class_codes(labels, predictions)
    favourable = classes.index(favourable_label) if favourable_label in classes else -2
    labelled = label_codes >= 0
    states = labelled * _LABELLED
    states += (label_codes == favourable) * _POSITIVE
    states += (prediction_codes == favourable) * _SELECTED
    states += (labelled & (label_codes == prediction_codes)) * _CORRECT
    return states


def _group_state_counts(sensitive_values: Any, states: np.ndarray) -> tuple[list[str], np.ndarray]:
    codes, values = factorize_outcomes(sensitive_values)
    if codes.size != states.size:
        raise ValueError(f"sensitive feature has {codes.size} rows, predictions {states.size}")
    names = [str(value) for value in values]
    if (codes < 0).any():
        codes = np.where(codes < 0, len(names), codes)
        names.append(MISSING_GROUP)
    k = len(names)
    counts = np.bincount(codes * 16 + states, minlength=k * 16).reshape(k, 16)
    return names, counts


def _states_where(bits_set: int, bits_clear: int = 0) -> np.ndarray:
    return ((_STATES & bits_set) == bits_set) & ((_STATES & bits_clear) == 0)


def _group_figures(name: str, state_counts: np.ndarray, min_group_count: int) -> GroupFigures:
    def total(bits_set: int, bits_clear: int = 0) -> int:
        return int(state_counts[_states_where(bits_set, bits_clear)].sum())

    count = int(state_counts.sum())
    labelled = total(_LABELLED)
    positives = total(_LABELLED | _POSITIVE)
    negatives = labelled - positives
    has_labels = labelled > 0
    return GroupFigures(
        group=name,
        count=count,
        labelled=labelled,
        selection_rate=total(_SELECTED) / count,
        accuracy=total(_LABELLED | _CORRECT) / labelled if has_labels else None,
        tpr=(total(_LABELLED | _POSITIVE | _SELECTED) / positives if positives else 0.0)
        if has_labels
        else None,
        fpr=(total(_LABELLED | _SELECTED, _POSITIVE) / negatives if negatives else 0.0)
        if has_labels
        else None,
        below_min_count=count < min_group_count,
    )


def _difference(values: list[float]) -> float:
    return max(values) - min(values)


def _ratio(values: list[float]) -> float:
    largest = max(values)
    return min(values) / largest if largest else math.nan


def _none_if_nan(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def _feature_bias(feature: str, groups: list[GroupFigures]) -> SensitiveFeatureBias:
    eligible = [group for group in groups if not group.below_min_count]
    rates = [group.selection_rate for group in eligible]
    with_labels = [group for group in eligible if group.labelled > 0]
    odds_difference = odds_ratio = None
    if with_labels:
        tprs = [float(group.tpr) for group in with_labels if group.tpr is not None]
        fprs = [float(group.fpr) for group in with_labels if group.fpr is not None]
        # builtin max/min over (tpr, fpr), exactly as fairlearn aggregates (NaN-order included)
        odds_difference = max([_difference(tprs), _difference(fprs)])
        odds_ratio = min([_ratio(tprs), _ratio(fprs)])
    return SensitiveFeatureBias(
        feature=feature,
        groups=groups,
        demographic_parity_difference=_difference(rates) if rates else None,
        demographic_parity_ratio=_none_if_nan(_ratio(rates)) if rates else None,
        equalized_odds_difference=_none_if_nan(odds_difference),
        equalized_odds_ratio=_none_if_nan(odds_ratio),
    )


def _group_order(group: GroupFigures) -> tuple[bool, str]:
    return (group.group == MISSING_GROUP, group.group)


def measure_bias(
    predictions: Any,
    sensitive: Mapping[str, Any],
    *,
    labels: Any = None,
    favourable_label: Any = "1",
    min_group_count: int = 30,
) -> list[SensitiveFeatureBias]:
    """Measure per-group figures and fairlearn's four disparities for each sensitive feature.

    ``labels`` may be None (no ground truth yet) or hold None/NaN where a label is missing;
    the selection-rate figures need no labels, the others use the labelled rows only.
    """
    states = _outcome_states(predictions, labels, favourable_label)
    results = []
    for feature, values in sensitive.items():
        names, counts = _group_state_counts(values, states)
        groups = [
            _group_figures(name, row, min_group_count)
            for name, row in zip(names, counts, strict=True)
            if row.sum() > 0
        ]
        results.append(_feature_bias(feature, sorted(groups, key=_group_order)))
    return results
