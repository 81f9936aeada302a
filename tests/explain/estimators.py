"""Small fitted models for the explanation tests, and a few that misbehave on purpose.

The misbehaving classes live in an importable module so a worker process can load them once
an admin trusted their type.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression, LogisticRegression

SIGNAL_FEATURES = ["x1", "x3"]
NUMERIC = [f"x{i}" for i in range(6)]


def signal_frame(rows: int = 400, seed: int = 0) -> pd.DataFrame:
    """Six numeric features; the binary target depends on x1 and x3 only."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, 6)), columns=NUMERIC)
    frame["label"] = (2.0 * frame["x1"] - 2.0 * frame["x3"] > 0).astype(int)
    return frame


def signal_classifier(frame: pd.DataFrame) -> LogisticRegression:
    """A logistic regression fitted on :func:`signal_frame`."""
    return LogisticRegression().fit(frame[NUMERIC], frame["label"])


def plan_frame(rows: int = 300, seed: int = 1) -> pd.DataFrame:
    """A numeric ``age`` (noise) and a categorical ``plan`` that decides ``churned``."""
    rng = np.random.default_rng(seed)
    plan = rng.choice(["basic", "plus", "pro"], size=rows)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 80, size=rows),
            "plan": plan,
            "churned": (plan == "basic").astype(int),
        }
    )


def plan_pipeline(frame: pd.DataFrame) -> Any:
    """One-hot encoder on ``plan``, scaler on ``age``, logistic regression."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    encode = ColumnTransformer(
        [
            ("plan", OneHotEncoder(handle_unknown="ignore"), ["plan"]),
            ("age", StandardScaler(), ["age"]),
        ]
    )
    return Pipeline([("encode", encode), ("model", LogisticRegression())]).fit(
        frame[["age", "plan"]], frame["churned"]
    )


def regression_frame(rows: int = 300, seed: int = 2) -> pd.DataFrame:
    """Four numeric features; ``y`` is mostly 5·x2."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, 4)), columns=["x0", "x1", "x2", "x3"])
    frame["y"] = 5.0 * frame["x2"] + 0.1 * frame["x0"]
    return frame


def regressor(frame: pd.DataFrame) -> LinearRegression:
    """A linear regression fitted on :func:`regression_frame`."""
    return LinearRegression().fit(frame[["x0", "x1", "x2", "x3"]], frame["y"])


def multiclass_frame(rows: int = 450, seed: int = 3) -> pd.DataFrame:
    """Three classes (a, b, c) decided by x0; x1 is noise."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, 2)), columns=["x0", "x1"])
    frame["kind"] = np.where(frame["x0"] < -0.5, "a", np.where(frame["x0"] < 0.5, "b", "c"))
    return frame


def multiclass_classifier(frame: pd.DataFrame) -> LogisticRegression:
    """A multinomial logistic regression fitted on :func:`multiclass_frame`."""
    return LogisticRegression().fit(frame[["x0", "x1"]], frame["kind"])


class SlowClassifier(LogisticRegression):
    """A classifier whose probabilities never arrive (it waits an hour)."""

    def predict_proba(self, X: Any) -> Any:
        time.sleep(3600)
        return super().predict_proba(X)


class CrashingClassifier(LogisticRegression):
    """A classifier that kills its process when asked for probabilities."""

    def predict_proba(self, X: Any) -> Any:
        os._exit(3)


class CanaryPayload:
    """Unpickling this writes the process id into ``path``: a hostile pickle."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> Any:
        code = f"import os; open({self.path!r}, 'w').write(str(os.getpid()))"
        return (exec, (code,))


class BusyClassifier(LogisticRegression):
    """A classifier that computes forever (it burns CPU instead of answering)."""

    def predict_proba(self, X: Any) -> Any:
        total = 0
        while True:
            total += 1


class HungryClassifier(LogisticRegression):
    """A classifier that asks for two gibibytes at once."""

    def predict_proba(self, X: Any) -> Any:
        return np.ones((2 * 1024**3 // 8,))
