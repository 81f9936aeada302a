"""Small fitted models for the explanation tests, and a few that misbehave on purpose.

The misbehaving classes live in an importable module so a worker process can load them once
an admin trusted their type.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
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


class ReportingClassifier:
    """A classifier whose first class is a report: how a hostile pickle's findings come back
    (the explanation's predicted label, for a row of zeros)."""

    def __init__(self, report: str) -> None:
        self.classes_ = np.array([report, "other"], dtype=object)

    def predict_proba(self, X: Any) -> Any:
        first = 0.6 + 0.3 * np.tanh(np.asarray(X["x0"], dtype=float))
        return np.column_stack([first, 1.0 - first])


class HostilePayload:
    """Unpickling this runs :func:`hostile_probe` with the paths it should not reach."""

    def __init__(self, data_dir: str, store_file: str, secret: str) -> None:
        self.args = (data_dir, store_file, secret)

    def __reduce__(self) -> Any:
        return (hostile_probe, self.args)


def _process_name() -> str:
    """What top shows for this process (prctl PR_GET_NAME: /proc is outside the jail)."""
    import ctypes

    name = ctypes.create_string_buffer(16)
    ctypes.CDLL(None).prctl(16, name, 0, 0, 0)
    return name.value.decode()


def _linger() -> None:
    while True:
        time.sleep(0.05)


def _fork_and_linger() -> int:
    pid = os.fork()
    if pid == 0:  # the child: outlive the request if nothing stops it
        time.sleep(30)
        os._exit(0)
    return pid


def hostile_probe(data_dir: str, store_file: str, secret: str) -> ReportingClassifier:
    """What a hostile model tries while it is loaded; each attempt's outcome is reported."""
    import builtins
    import json
    import resource
    import tempfile
    import threading

    def outcome(attempt: Any) -> Any:
        try:
            result = attempt()
        except Exception as error:
            return type(error).__name__
        return "done" if result is None else result

    marker = os.path.join(tempfile.gettempdir(), "left-behind")
    limits = {
        "address_space": resource.RLIMIT_AS,
        "cpu": resource.RLIMIT_CPU,
        "open_files": resource.RLIMIT_NOFILE,
        "file_size": resource.RLIMIT_FSIZE,
        "processes": resource.RLIMIT_NPROC,
    }
    report = {
        "pid": os.getpid(),
        "name": _process_name(),
        "cwd": os.getcwd(),
        "tmp": tempfile.gettempdir(),
        "environment": dict(os.environ),
        "secret_seen": any(secret in value for value in os.environ.values()),
        "leftover_thread": any(t.name == "hostile-leftover" for t in threading.enumerate()),
        "leftover_module_state": hasattr(builtins, "_hostile_was_here"),
        "limits": {name: resource.getrlimit(limit) for name, limit in limits.items()},
        "read_store": outcome(lambda: len(Path(store_file).read_bytes())),
        "list_data_dir": outcome(lambda: len(os.listdir(data_dir))),
        "write_data_dir": outcome(lambda: Path(data_dir, "planted").touch()),
        "raise_limits": {
            name: outcome(
                lambda limit=limit: resource.setrlimit(
                    limit, (resource.RLIM_INFINITY, resource.RLIM_INFINITY)
                )
            )
            for name, limit in limits.items()
        },
        "marker": marker,
        "write_marker": outcome(lambda: Path(marker).touch()),
        "fork": outcome(_fork_and_linger),
        "thread": outcome(
            lambda: threading.Thread(target=_linger, name="hostile-leftover", daemon=True).start()
        ),
    }
    builtins._hostile_was_here = True  # type: ignore[attr-defined]
    return ReportingClassifier(json.dumps(report))
