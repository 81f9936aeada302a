"""What a run's checks read (:class:`RunInputs`) and return (:class:`ReportDraft`), and the
small rules they share: the class spelling, the "insufficient data" verdict, the worst status."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..checks.profile import ReferenceProfile, category_label
from ..ingest.store import PredictionWindow

if TYPE_CHECKING:
    from .aggregates import WindowAggregates

INSUFFICIENT = "insufficient_data"
_RANK = {"ok": 0, INSUFFICIENT: 0, "warning": 1, "alert": 2}


@dataclass(frozen=True)
class ReportDraft:
    """One check's outcome before it is stored."""

    kind: str
    status: str
    summary: dict[str, Any]
    detail: dict[str, Any] = field(default_factory=dict)
    findings: list[dict[str, Any]] = field(default_factory=list)
    #: rows its figures come from, and whether they are a sample of the window (None: the
    #: run's own, see ``run_inputs.compute_drafts``)
    rows_used: int | None = None
    sampled: bool | None = None


@dataclass
class RunInputs:
    """What the checks of one run read. ``baseline`` and ``calibration`` load on demand.

    ``window`` is the run's uniform sample of its window (the whole window when it is no
    larger), ``aggregates`` the counts over every row of it, ``rows_total`` its size."""

    task: str
    schema: dict[str, Any]
    window: PredictionWindow
    rows_total: int
    aggregates: WindowAggregates
    rejected_rows: int
    profile: ReferenceProfile | None
    min_rows: int
    thresholds: dict[str, Any]
    options: dict[str, Any]
    sensitive_features: list[str]
    #: Ground truth received, and refused at the labels endpoint, on the window's days.
    labels_received: int = 0
    labels_rejected: int = 0
    baseline: Callable[[], tuple[str, dict[str, float]] | None] = lambda: None
    calibration: Callable[[], Any] = lambda: None

    @property
    def is_classifier(self) -> bool:
        """True for binary and multiclass classification."""
        return self.task != "regression"

    @property
    def prediction_name(self) -> str | None:
        """The prediction column's name in the reference, if the schema declares one."""
        prediction = self.schema.get("prediction")
        return prediction["name"] if prediction else None


def class_labels(values: Any) -> Any:
    """Classes as canonical text (as drift compares categories: 1, 1.0 and "1" are one
    class), except that booleans are "1" / "0" so the default favourable label "1" fits
    them; None where missing. Each distinct value is spelled once, not each row."""
    import pandas as pd

    codes, uniques = pd.factorize(pd.Series(values).reset_index(drop=True), use_na_sentinel=True)
    lookup = np.array([_class_text(value) for value in uniques] + [None], dtype=object)
    return pd.Series(lookup[codes], dtype=object)


def _class_text(value: Any) -> str | None:
    if isinstance(value, (bool, np.bool_)):
        return str(int(value))
    return category_label(value)


def insufficient(kind: str, reason: str, **summary: Any) -> ReportDraft:
    return ReportDraft(kind, INSUFFICIENT, {"reason": reason, **summary})


def worst_status(findings: list[dict[str, Any]]) -> str:
    return max((f["status"] for f in findings), key=_RANK.__getitem__, default="ok")


def too_few(inputs: RunInputs) -> str:
    return f"{inputs.rows_total} rows in the window; the monitor needs {inputs.min_rows}."
