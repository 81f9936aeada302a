"""Data builders for the drift, quality and profile tests: one mixed frame per call, seeded."""

from __future__ import annotations

import numpy as np
import pandas as pd

KINDS: dict[str, str] = {
    "income": "numerical",  # continuous
    "age": "numerical",  # integers, many distinct values (histogram binning above 20)
    "rooms": "numerical",  # 3 distinct values: tested as categories
    "floors": "numerical",  # 5 distinct values: still tested as categories
    "grade": "numerical",  # 20 distinct values in the reference: binned per value, not histogram
    "is_new": "numerical",  # binary 0/1
    "flat": "numerical",  # constant
    "colour": "categorical",  # several categories
    "channel": "categorical",  # binary
    "country": "categorical",  # constant
    "member": "categorical",  # booleans
}


def mixed_frame(rows: int, *, seed: int, shift: float = 0.0) -> pd.DataFrame:
    """A frame with every kind of column in KINDS; `shift` moves every distribution a little."""
    rng = np.random.default_rng(seed)
    colour_p = np.array([0.4, 0.3, 0.2, 0.1]) + np.array([-shift, 0, 0, shift]) / 2
    floors_p = np.array([0.2, 0.2, 0.2, 0.2, 0.2]) + np.array([-shift, 0, 0, 0, shift]) / 4
    return pd.DataFrame(
        {
            "income": rng.normal(50 + 10 * shift, 10, rows),
            "age": rng.integers(18, 80, rows).astype(float) + np.round(5 * shift),
            "rooms": rng.choice([1.0, 2.0, 3.0], rows, p=[0.5 - shift / 4, 0.3, 0.2 + shift / 4]),
            "floors": rng.choice([0.0, 1.0, 2.0, 3.0, 4.0], rows, p=floors_p),
            "grade": rng.integers(1, 21, rows).astype(float) + (rng.random(rows) < shift / 2),
            "is_new": (rng.random(rows) < 0.3 + shift / 4).astype(float),
            "flat": np.full(rows, 7.0),
            "colour": rng.choice(["red", "green", "blue", "grey"], rows, p=colour_p),
            "channel": rng.choice(["web", "shop"], rows, p=[0.6 + shift / 4, 0.4 - shift / 4]),
            "country": np.full(rows, "FR", dtype=object),
            "member": rng.random(rows) < 0.5 + shift / 4,
        }
    )


def with_missing(frame: pd.DataFrame, *, seed: int, share: float = 0.1) -> pd.DataFrame:
    """A copy with about `share` of the income, age, colour and channel values missing."""
    rng = np.random.default_rng(seed)
    result = frame.copy()
    for column in ("income", "age", "colour", "channel"):
        holes = rng.random(len(result)) < share
        if result[column].dtype == object:
            result.loc[holes, column] = None
        else:
            result.loc[holes, column] = np.nan
    return result


def as_window(frame: pd.DataFrame) -> pd.DataFrame:
    """A window as the store hands it over: categorical columns as pandas `category` (text)."""
    result = frame.copy()
    for column, kind in KINDS.items():
        if kind == "categorical" and column in result:
            result[column] = (
                result[column]
                .map(lambda v: None if v is None or v != v else str(v))
                .astype("category")
            )
    return result
