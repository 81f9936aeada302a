"""LIME over tabular rows, run inside a worker: the explainer, predictions, global weights.

The version's reference dataset is LIME's training distribution. Categorical features are
encoded as integer codes for LIME (which perturbs codes) and decoded back to the original
values before the model sees them, so a pipeline with its own encoder gets the raw
categories and the weights are named ``plan=pro``, not ``plan=2``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

from .messages import FeatureSpec, Row, RowExplanation, Weight

MAX_BACKGROUND_ROWS = 10_000

# lime ships no type information: these aliases say which of its objects a value is.
LimeTabular: TypeAlias = Any  # a lime.lime_tabular.LimeTabularExplainer
LimeExplanation: TypeAlias = Any  # a lime.explanation.Explanation


class ExplainInputError(Exception):
    """The rows or parameters cannot be explained with this model (a 422)."""

    def __init__(self, message: str, details: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


@dataclass
class TabularExplainer:
    """A model, its features, and a LimeTabularExplainer fitted on the reference data."""

    model: Any  # whatever the artifact held: an estimator or pipeline, or an OnnxModel
    mode: str
    features: list[FeatureSpec]
    categories: dict[str, list[object]]
    lime: LimeTabular
    reference: pd.DataFrame
    _class_list: list[object] | None = None
    #: The estimator's own column order when it differs from the schema's.
    model_order: list[str] | None = None

    @classmethod
    def build(
        cls, model: Any, mode: str, features: list[FeatureSpec], reference: pd.DataFrame
    ) -> TabularExplainer:
        """Fit LIME's statistics on (a sample of) the reference data."""
        from lime.lime_tabular import LimeTabularExplainer

        names = [f["name"] for f in features]
        missing = [name for name in names if name not in reference.columns]
        if missing:
            raise ExplainInputError(
                "The reference dataset lacks features of the schema.", {"reference": missing}
            )
        model_order = _fitted_order(model, names)
        frame = reference[names]
        if len(frame) > MAX_BACKGROUND_ROWS:
            frame = frame.sample(MAX_BACKGROUND_ROWS, random_state=0)
        categorical = [i for i, f in enumerate(features) if f["kind"] == "categorical"]
        categories: dict[str, list[object]] = {}
        for index in categorical:
            name = names[index]
            categories[name] = sorted(pd.unique(frame[name].dropna()).tolist(), key=str)
        if mode == "classification" and not hasattr(model, "predict_proba"):
            raise ExplainInputError(
                "A classifier is explained through its probabilities; this model has no "
                "predict_proba."
            )
        explainer = cls(model, mode, features, categories, None, frame, model_order=model_order)
        training = explainer.encode(frame)
        explainer.lime = LimeTabularExplainer(
            training,
            mode=mode,
            feature_names=names,
            categorical_features=categorical,
            categorical_names={
                names.index(name): [str(v) for v in values] for name, values in categories.items()
            },
            discretize_continuous=True,
            random_state=0,
        )
        return explainer

    @property
    def names(self) -> list[str]:
        """The feature names, in schema order."""
        return [f["name"] for f in self.features]

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """Rows as LIME's float matrix: categories become their codes."""
        columns = []
        for name in self.names:
            if name in self.categories:
                known = self.categories[name]
                codes = [_code(known, value) for value in frame[name]]
                columns.append(np.asarray(codes, dtype=float))
            else:
                columns.append(pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float))
        return np.column_stack(columns) if columns else np.empty((len(frame), 0))

    def decode(self, matrix: np.ndarray) -> pd.DataFrame:
        """LIME's matrix back to what the model takes: a frame with the original values."""
        data: dict[str, object] = {}
        for index, name in enumerate(self.names):
            column = matrix[:, index]
            if name in self.categories:
                known = self.categories[name]
                codes = np.clip(np.rint(column).astype(int), 0, len(known) - 1)
                data[name] = pd.Series([known[c] for c in codes], dtype=self.reference[name].dtype)
            else:
                data[name] = column
        return pd.DataFrame(data, columns=self.names)

    def _predict(self, matrix: np.ndarray) -> np.ndarray:
        frame = self.decode(matrix)
        if self.model_order is not None:
            frame = frame[self.model_order]
        if self.mode == "classification":
            return np.asarray(self.model.predict_proba(frame), dtype=float)
        return np.asarray(self.model.predict(frame), dtype=float).reshape(-1)

    def rows_frame(self, rows: list[Row]) -> pd.DataFrame:
        """Incoming rows as a frame; unseen categories join the known ones."""
        frame = pd.DataFrame(rows, columns=self.names)
        for name, known in self.categories.items():
            for value in frame[name]:
                if _code(known, value) < 0:
                    known.append(value)
                    self.lime.categorical_names[self.names.index(name)].append(str(value))
        return frame

    def explain(
        self,
        rows: list[Row],
        *,
        num_features: int,
        num_samples: int,
        seed: int,
        label: str | None = None,
    ) -> list[RowExplanation]:
        """One explanation per row: the prediction, and LIME's weights, strongest first."""
        frame = self.rows_frame(rows)
        matrix = self.encode(frame)
        num_features = min(num_features, len(self.names))
        if self.mode != "classification":
            return [self._explain_value(row, num_features, num_samples, seed) for row in matrix]
        classes = self._classes()
        label_index = None
        if label is not None:
            names = [str(c) for c in classes]
            if label not in names:
                raise ExplainInputError(
                    f"The model has no class {label!r}.", {"label": [f"One of {names}."]}
                )
            label_index = names.index(label)
        return [
            self._explain_class(row, num_features, num_samples, seed, label_index, classes)
            for row in matrix
        ]

    def _classes(self) -> list[object]:
        if self._class_list is None:
            self._class_list = self._probe_classes()
        return self._class_list

    def _probe_classes(self) -> list[object]:
        probe = self._predict(self.encode(self.reference.head(1)))
        classes = getattr(self.model, "classes_", None)
        if classes is None or len(classes) != probe.shape[1]:
            return list(range(probe.shape[1]))
        return list(classes)

    def _reseed(self, seed: int) -> None:
        # A fresh generator per row: the same row, parameters and seed give the same answer
        # whatever the worker explained before.
        self.lime.random_state = np.random.RandomState(seed)
        self.lime.base.random_state = self.lime.random_state
        if self.lime.discretizer is not None:
            self.lime.discretizer.random_state = self.lime.random_state

    def _explain_class(
        self,
        row: np.ndarray,
        num_features: int,
        num_samples: int,
        seed: int,
        label_index: int | None,
        classes: list[object],
    ) -> RowExplanation:
        """A classifier's row: the predicted class (or ``label_index``'s) explained."""
        self._reseed(seed)
        # LIME predicts the row itself first (its sample 0): no separate predict call.
        explanation = self.lime.explain_instance(
            row,
            self._predict,
            labels=() if label_index is None else (label_index,),
            top_labels=1 if label_index is None else None,
            num_features=num_features,
            num_samples=num_samples,
        )
        probabilities = np.asarray(explanation.predict_proba, dtype=float)
        predicted = int(np.argmax(probabilities))
        target = explanation.available_labels()[0] if label_index is None else label_index
        prediction = {
            "label": _plain(classes[predicted]),
            "probability": float(probabilities[predicted]),
            "probabilities": {
                str(c): float(p) for c, p in zip(classes, probabilities, strict=True)
            },
        }
        return _answer(explanation, target, prediction, _plain(classes[target]), self.names)

    def _explain_value(
        self, row: np.ndarray, num_features: int, num_samples: int, seed: int
    ) -> RowExplanation:
        """A regressor's row: its predicted value explained."""
        self._reseed(seed)
        explanation = self.lime.explain_instance(
            row, self._predict, num_features=num_features, num_samples=num_samples
        )
        prediction: dict[str, object] = {"value": float(explanation.predicted_value)}
        key = next(iter(explanation.local_exp))
        return _answer(explanation, key, prediction, None, self.names)


def _answer(
    explanation: LimeExplanation,
    label: int,
    prediction: dict[str, object],
    explained: object,
    names: list[str],
) -> RowExplanation:
    """LIME's explanation of ``label`` as stored: weights by feature, strongest first."""
    pairs = explanation.as_list(label=label)
    indexed = explanation.as_map()[label]
    weights: list[Weight] = [
        {"feature": names[index], "condition": condition, "weight": float(weight)}
        for (index, weight), (condition, _) in zip(indexed, pairs, strict=True)
    ]
    weights.sort(key=lambda w: abs(w["weight"]), reverse=True)
    return {
        "prediction": prediction,
        "explained_label": explained,
        "intercept": float(explanation.intercept[label]),
        "score": float(explanation.score),
        "weights": weights,
    }


def _code(known: list[object], value: object) -> int:
    for index, candidate in enumerate(known):
        if candidate == value or str(candidate) == str(value):
            return index
    return -1


def _plain(value: object) -> object:
    """A numpy scalar as a plain Python value (JSON-ready)."""
    return value.item() if hasattr(value, "item") else value


def _fitted_order(model: Any, names: list[str]) -> list[str] | None:
    """The columns in the order ``model`` was fitted on when that differs from ``names``
    (the schema's order); :class:`ExplainInputError` naming the difference when the model
    was fitted on other features than the schema's. A model that names no features is
    checked by their count, when it tells it."""
    fitted = getattr(model, "feature_names_in_", None)
    if fitted is not None:
        fitted_names = [str(name) for name in fitted]
        if set(fitted_names) != set(names):
            only_schema = [name for name in names if name not in fitted_names]
            only_model = [name for name in fitted_names if name not in names]
            raise ExplainInputError(
                "The model was fitted on other features than the version's schema: "
                f"only in the schema {only_schema[:20]}, only in the model {only_model[:20]}. "
                "Register the version with the features the model was fitted on.",
                {"schema_mismatch": {"only_in_schema": only_schema, "only_in_model": only_model}},
            )
        return None if fitted_names == names else fitted_names
    count = getattr(model, "n_features_in_", None)
    if isinstance(count, int) and count != len(names):
        raise ExplainInputError(
            f"The model was fitted on {count} features; the version's schema has {len(names)}.",
            {"schema_mismatch": {"model_features": count, "schema_features": len(names)}},
        )
    return None
