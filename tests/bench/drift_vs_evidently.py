"""Benchmark: our drift check against Evidently 0.7's DataDriftPreset on the same data.

    python tests/bench/drift_vs_evidently.py [--rows 50000 500000]

For each size: a reference and a window of that many rows x 20 features (15 numerical, 5
categorical; categorical columns as pandas `category`, as a window arrives), the window a little
shifted. Evidently: `Report([DataDriftPreset()]).run(current, reference)` plus `snapshot.dict()`.
Ours: `detect_drift(profile, window)` on a profile built beforehand (its time is printed apart:
it happens once, when the reference is registered) and read back from bytes, as a run reads it;
`check_quality` is timed too. Both run in this process, one after the other; the ratio (to our
first run) is printed, and so is how many columns' method and drift flag agree. Nothing is
asserted about speed.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

from assay_server.checks.drift import detect_drift
from assay_server.checks.profile import ReferenceProfile, profile_reference
from assay_server.checks.quality import check_quality

NUMERICAL = [f"num_{i:02d}" for i in range(15)]
CATEGORICAL = [f"cat_{i}" for i in range(5)]
KINDS = {**dict.fromkeys(NUMERICAL, "numerical"), **dict.fromkeys(CATEGORICAL, "categorical")}


def make_frame(rows: int, *, seed: int, shift: float) -> pd.DataFrame:
    """15 numerical columns of assorted shapes and 5 categorical ones, every fifth one shifted."""
    rng = np.random.default_rng(seed)
    data: dict[str, object] = {}
    for i, name in enumerate(NUMERICAL):
        moved = shift if i % 5 == 0 else 0.0
        if i % 3 == 0:
            data[name] = rng.normal(moved, 1 + i / 10, rows)
        elif i % 3 == 1:
            data[name] = rng.gamma(2.0 + moved, 2.0, rows)
        else:
            data[name] = rng.integers(0, 60, rows).astype(float) + np.round(moved * 3)
    for i, name in enumerate(CATEGORICAL):
        levels = [f"{name}_v{j}" for j in range(3 + 4 * i)]
        weights = np.linspace(1.0, 2.0 + (shift if i == 0 else 0.0), len(levels))
        data[name] = pd.Categorical(rng.choice(levels, rows, p=weights / weights.sum()))
    return pd.DataFrame(data)


def run_evidently(reference: pd.DataFrame, current: pd.DataFrame) -> tuple[float, dict]:
    """Seconds for Report([DataDriftPreset()]).run(...) + .dict(), and the dict."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=NUMERICAL, categorical_columns=CATEGORICAL)
    started = time.perf_counter()
    snapshot = Report([DataDriftPreset()], include_tests=True).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    document = snapshot.dict()
    return time.perf_counter() - started, document


def agreement(ours, document: dict) -> int:
    """How many columns have the same method and the same drift flag in both results."""
    from assay_server.monitoring.evidently_report import _method_names

    names = _method_names()
    theirs = {}
    for metric in document["metrics"]:
        if metric["config"]["type"].endswith(":ValueDrift"):
            theirs[metric["config"]["column"]] = [names[metric["config"]["method"]], None]
    for test in document["tests"]:
        params = test["metric_config"]["params"]
        if params["type"].endswith(":ValueDrift"):
            theirs[params["column"]][1] = test["status"] == "FAIL"
    return sum(theirs[c.feature] == [c.method, c.drifted] for c in ours.columns)


def bench(rows: int) -> None:
    """Time both on one size and print the figures."""
    reference = make_frame(rows, seed=1, shift=0.0)
    current = make_frame(rows, seed=2, shift=0.2)

    started = time.perf_counter()
    data = profile_reference(reference, KINDS).to_bytes()
    profile_seconds = time.perf_counter() - started
    started = time.perf_counter()
    profile = ReferenceProfile.from_bytes(data)
    load_seconds = time.perf_counter() - started
    runs = []
    for _ in range(3):  # the first is what a scheduled run sees; the best shows the noise
        started = time.perf_counter()
        ours = detect_drift(profile, current)
        runs.append(time.perf_counter() - started)
    drift_seconds = runs[0]
    started = time.perf_counter()
    check_quality(profile, current)
    quality_seconds = time.perf_counter() - started

    evidently_seconds, document = run_evidently(reference, current)
    methods = sorted({column.method for column in ours.columns})
    print(f"{rows:,} reference rows + {rows:,} window rows x 20 features (15 num, 5 cat)")
    print(f"  evidently Report([DataDriftPreset()]).run + .dict(): {evidently_seconds:8.3f} s")
    print(f"  ours detect_drift (profile read from bytes):        {drift_seconds:8.3f} s")
    print(f"  ours detect_drift, best of 3:                       {min(runs):8.3f} s")
    ratio = evidently_seconds / drift_seconds
    print(f"  ratio evidently / ours:                             {ratio:8.1f} x")
    print(f"  ours check_quality:                                 {quality_seconds:8.3f} s")
    print(
        f"  once at registration: profile + to_bytes {profile_seconds:.3f} s "
        f"({len(data) / 1e6:.1f} MB); from_bytes {load_seconds:.3f} s"
    )
    print(
        f"  methods {methods}; {ours.n_drifted} drifted; "
        f"method and flag agree with Evidently on {agreement(ours, document)}/20 columns"
    )


def main() -> None:
    """Parse --rows and run each size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[50_000, 500_000])
    arguments = parser.parse_args()
    warnings.simplefilter("ignore")  # Evidently's own deprecation and divide-by-zero noise
    for rows in arguments.rows:
        bench(rows)


if __name__ == "__main__":
    main()
