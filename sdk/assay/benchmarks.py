"""Benchmarks in the SDK: logging a version's evaluation, the leaderboard, and
:func:`evaluate`, which computes the standard scikit-learn metrics on the client (scikit-learn
is imported only when it is called).

:class:`BenchmarkMethods` is mixed into :class:`assay.Client`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from assay._http import ServerCalls
from assay._json import JSONObject, json_objects
from assay._paths import ModelRef, VersionRef, model_path, version_path

__all__ = ["Benchmark", "BenchmarkMethods", "Leaderboard", "LeaderboardRow", "evaluate"]


@dataclass(frozen=True)
class Benchmark:
    """A named evaluation of a version on a named dataset."""

    id: int
    model: str
    version: int
    name: str
    metrics: dict[str, float]
    dataset_uri: str | None
    dataset_hash: str | None
    notes: str
    created_by: str
    created_at: datetime

    @classmethod
    def from_json(cls, data: object) -> Benchmark:
        """Build from the server's JSON."""
        read = JSONObject(data, "a benchmark")
        return cls(
            id=read.integer("id"),
            model=read.text("model"),
            version=read.integer("version"),
            name=read.text("name"),
            metrics=read.numbers("metrics"),
            dataset_uri=read.optional_text("dataset_uri"),
            dataset_hash=read.optional_text("dataset_hash"),
            notes=read.text_or_empty("notes"),
            created_by=read.text_or_empty("created_by"),
            created_at=read.moment("created_at"),
        )


@dataclass(frozen=True)
class LeaderboardRow:
    """One version's newest benchmark of the leaderboard's name."""

    version: int
    stage: str
    benchmark_id: int
    dataset_hash: str | None
    created_at: datetime
    metrics: dict[str, float]

    @classmethod
    def from_json(cls, data: object) -> LeaderboardRow:
        """Build from the server's JSON."""
        read = JSONObject(data, "a leaderboard row")
        return cls(
            version=read.integer("version"),
            stage=read.text("stage"),
            benchmark_id=read.integer("benchmark_id"),
            dataset_hash=read.optional_text("dataset_hash"),
            created_at=read.moment("created_at"),
            metrics=read.numbers("metrics"),
        )


@dataclass(frozen=True)
class Leaderboard:
    """Versions × metrics of one benchmark name, in the order asked for."""

    model: str
    benchmark: str
    metrics: tuple[str, ...]
    rows: tuple[LeaderboardRow, ...]

    @classmethod
    def from_json(cls, data: object) -> Leaderboard:
        """Build from the server's JSON."""
        read = JSONObject(data, "a leaderboard")
        return cls(
            model=read.text("model"),
            benchmark=read.text("benchmark"),
            metrics=tuple(read.strings("metrics")),
            rows=tuple(LeaderboardRow.from_json(row) for row in read.nested_list("rows")),
        )


class BenchmarkMethods(ServerCalls):
    """Benchmarks and the leaderboard (mixed into Client)."""

    def log_benchmark(
        self,
        model: ModelRef,
        version: VersionRef,
        name: str,
        metrics: Mapping[str, float],
        dataset_uri: str | None = None,
        dataset_hash: str | None = None,
        notes: str = "",
    ) -> Benchmark:
        """Record a named evaluation of a version (contributor); a version may have many.

        Args:
            name: the benchmark's name, e.g. ``holdout``; policies and the leaderboard use it.
            metrics: metric name → number, e.g. the output of :func:`assay.evaluate`.
            dataset_hash: the evaluation data's hash (an independent validation needs one).
        """
        body = {
            "name": name,
            "metrics": {key: float(value) for key, value in metrics.items()},
            "dataset_uri": dataset_uri,
            "dataset_hash": dataset_hash,
            "notes": notes,
        }
        path = version_path(model, version) + "/benchmarks"
        return Benchmark.from_json(self._transport.json("POST", path, json=body))

    def list_benchmarks(
        self, model: ModelRef, version: VersionRef, name: str | None = None
    ) -> list[Benchmark]:
        """A version's benchmarks, oldest first (only those called ``name`` if given)."""
        path = version_path(model, version) + "/benchmarks"
        answer = self._transport.json("GET", path, params={"name": name or None})
        return [Benchmark.from_json(each) for each in json_objects(answer, "benchmarks")]

    def leaderboard(self, model: ModelRef, benchmark: str, sort: str | None = None) -> Leaderboard:
        """Versions × metrics of ``benchmark``; ``sort="-accuracy"`` ranks best first."""
        params = {"benchmark": benchmark, "sort": sort}
        body = self._transport.json("GET", model_path(model) + "/leaderboard", params=params)
        return Leaderboard.from_json(body)


def evaluate(estimator: Any, X: Any, y: Any, task: str | None = None) -> dict[str, float]:
    """Standard scikit-learn metrics of a fitted ``estimator`` on ``X`` / ``y``.

    ``task`` is ``binary_classification``, ``multiclass_classification`` or ``regression``
    (guessed from the estimator and ``y`` when omitted). Classification gives accuracy,
    balanced accuracy, precision, recall, F1 (and ROC AUC and log loss when the estimator
    has ``predict_proba``); regression gives RMSE, MAE, R² and explained variance.
    Pass the result to :meth:`Client.log_benchmark`.
    """
    import numpy as np
    from sklearn import metrics as m
    from sklearn.base import is_regressor

    y_true = np.asarray(y)
    if task is None:
        if is_regressor(estimator):
            task = "regression"
        else:
            task = (
                "binary_classification"
                if len(np.unique(y_true)) <= 2
                else "multiclass_classification"
            )
    predicted = estimator.predict(X)
    if task == "regression":
        return {
            "rmse": float(np.sqrt(m.mean_squared_error(y_true, predicted))),
            "mae": float(m.mean_absolute_error(y_true, predicted)),
            "r2": float(m.r2_score(y_true, predicted)),
            "explained_variance": float(m.explained_variance_score(y_true, predicted)),
        }
    if task not in ("binary_classification", "multiclass_classification"):
        raise ValueError(
            "task must be binary_classification, multiclass_classification or regression"
        )
    binary = task == "binary_classification"
    average = "binary" if binary else "macro"
    labels = getattr(estimator, "classes_", None)
    pos_label = labels[-1] if binary and labels is not None else 1
    extra = {"pos_label": pos_label} if binary else {}
    result = {
        "accuracy": float(m.accuracy_score(y_true, predicted)),
        "balanced_accuracy": float(m.balanced_accuracy_score(y_true, predicted)),
        "precision": float(
            m.precision_score(y_true, predicted, average=average, zero_division=0, **extra)
        ),
        "recall": float(
            m.recall_score(y_true, predicted, average=average, zero_division=0, **extra)
        ),
        "f1": float(m.f1_score(y_true, predicted, average=average, zero_division=0, **extra)),
    }
    if hasattr(estimator, "predict_proba"):
        proba = estimator.predict_proba(X)
        if binary:
            result["roc_auc"] = float(m.roc_auc_score(y_true, proba[:, -1]))
        else:
            result["roc_auc_ovr"] = float(
                m.roc_auc_score(y_true, proba, multi_class="ovr", labels=labels)
            )
        result["log_loss"] = float(m.log_loss(y_true, proba, labels=labels))
    return result
