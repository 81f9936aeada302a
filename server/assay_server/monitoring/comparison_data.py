"""What a comparison reads of a version's window: each row's prediction id, output (class as
canonical text, or a number for a regressor), score and label — nothing else, a few batches
at a time through the prediction store's ``stream_window``, so the features of a
large window are never held.

And what a metric is computed from: :func:`metric_inputs` turns the outcomes into the
``(labels, outputs)`` arrays of :mod:`assay_server.checks.comparison`.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from ..ingest.store import prediction_store
from .drafts import class_labels

COLUMNS = ("prediction_id", "output", "score", "label")
#: The class F1 and ROC AUC take as positive (as monitors do by default).
POSITIVE_CLASS = "1"


def _outputs(values: Any, classifier: bool) -> Any:
    import pandas as pd

    if classifier:
        return class_labels(values).to_numpy()
    return pd.to_numeric(pd.Series(values).reset_index(drop=True), errors="coerce").to_numpy(
        dtype=float
    )


def read_outcomes(
    session: Session,
    version_id: int,
    start: datetime,
    end: datetime,
    *,
    classifier: bool,
    leave_out: Collection[str] = (),
) -> Any:
    """The version's rows in ``[start, end)`` as a DataFrame of :data:`COLUMNS` (rows whose
    id is in ``leave_out`` left out)."""
    import pandas as pd

    parts = []
    for part in prediction_store(session).stream_window(version_id, start, end):
        frame = part.frame
        if not len(frame):
            continue
        ids = frame["prediction_id"].astype(object).to_numpy()
        score = (
            pd.to_numeric(frame["score"], errors="coerce").to_numpy(dtype=float)
            if "score" in frame.columns
            else np.full(len(frame), np.nan)
        )
        outcome = pd.DataFrame(
            {
                "prediction_id": ids,
                "output": _outputs(frame["prediction"], classifier),
                "score": score,
                "label": _outputs(frame["label"], classifier),
            }
        )
        if leave_out:
            outcome = outcome[~outcome["prediction_id"].isin(leave_out)]
        parts.append(outcome)
    if not parts:
        return pd.DataFrame({name: pd.Series(dtype=object) for name in COLUMNS})
    return pd.concat(parts, ignore_index=True)


def labelled(frame: Any) -> Any:
    """The rows whose label is known."""
    return frame[frame["label"].notna()]


def metric_inputs(metric: str, labels: Any, outputs: Any, scores: Any) -> tuple[Any, Any]:
    """``(y, output)`` float arrays for ``metric``: classes as right/wrong for accuracy, the
    positive class as 1/0 for F1, the score for ROC AUC, numbers for regression errors."""
    labels = np.asarray(labels, dtype=object)
    if metric == "accuracy":
        return np.ones(len(labels)), (np.asarray(outputs, dtype=object) == labels).astype(float)
    if metric == "f1":
        positive = (labels == POSITIVE_CLASS).astype(float)
        return positive, (np.asarray(outputs, dtype=object) == POSITIVE_CLASS).astype(float)
    if metric == "roc_auc":
        return (labels == POSITIVE_CLASS).astype(float), np.asarray(scores, dtype=float)
    return labels.astype(float), np.asarray(outputs, dtype=float)
