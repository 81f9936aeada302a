"""A uniform sample of at most ``size`` rows, drawn while a window streams past.

Each row gets a key from a generator seeded with ``seed``, drawn in the order the rows arrive,
and the sample is the ``size`` rows with the smallest keys (a bottom-k sample, which is what a
reservoir keeps): every subset of ``size`` rows is equally likely, and the same rows in the
same order with the same seed give the same sample, however they are cut into parts. Memory
holds the sample and the rows of one part; once the sample is full only rows whose key beats
the largest kept key are taken in, so later parts cost little more than their keys.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

_KEY = "__sample_key"
_ORDER = "__sample_order"


def concat_frames(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Frames one after the other; a categorical column stays categorical (its categories
    the union of the parts'), where ``pd.concat`` would turn it into Python objects."""
    frames = [frame for frame in frames if len(frame.columns)]
    if not frames:
        return pd.DataFrame()
    if len(frames) == 1:
        return frames[0].reset_index(drop=True)
    columns: dict[str, Any] = {}
    names = list(dict.fromkeys(name for frame in frames for name in frame.columns))
    sizes = [len(frame) for frame in frames]
    for name in names:
        parts = [frame[name] if name in frame.columns else None for frame in frames]
        present = [part for part in parts if part is not None]
        if all(isinstance(part.dtype, pd.CategoricalDtype) for part in present):
            columns[name] = _union(parts, present[0].cat.categories, sizes)
            if columns[name] is not None:
                continue
        filled_series = [
            part.reset_index(drop=True)
            if part is not None
            else pd.Series([None] * size, dtype=object)
            for part, size in zip(parts, sizes, strict=True)
        ]
        columns[name] = pd.concat(filled_series, ignore_index=True)
    return pd.DataFrame(columns)


def _union(parts: list[Any], categories: Any, sizes: list[int]) -> Any:
    """Categorical parts as one (None where a part lacks the column), or None when their
    categories are of different types."""
    filled = [
        part.array if part is not None else pd.Categorical([None] * size, categories=categories)
        for part, size in zip(parts, sizes, strict=True)
    ]
    try:
        return pd.api.types.union_categoricals(filled, ignore_order=True)
    except TypeError:
        return None


class SeededSample:
    """At most ``size`` rows of everything passed to :meth:`update`, uniformly, from ``seed``."""

    def __init__(self, size: int, seed: int) -> None:
        if size < 0:
            raise ValueError("a sample's size must be >= 0")
        self.size = size
        self.seed = seed
        self.rows = 0  # rows seen
        self._rng = np.random.default_rng(seed)
        self._parts: list[pd.DataFrame] = []
        self._kept = 0
        self._bound = np.inf  # keys at or above it cannot enter a full sample

    @property
    def sampled(self) -> bool:
        """Whether rows were left out (more rows seen than the sample holds)."""
        return self.rows > self.size

    def update(self, frame: pd.DataFrame) -> None:
        """Offer one part's rows, in their order."""
        n = len(frame)
        keys = self._rng.random(n)
        order = np.arange(self.rows, self.rows + n, dtype=np.int64)
        self.rows += n
        take = np.flatnonzero(keys < self._bound)
        if take.size == 0 or self.size == 0:
            return
        part = (
            frame.iloc[take].reset_index(drop=True)
            if take.size < n
            else frame.reset_index(drop=True)
        )
        part = part.assign(**{_KEY: keys[take], _ORDER: order[take]})
        self._parts.append(part)
        self._kept += take.size
        if self._kept >= 2 * self.size:
            self._prune()

    def _prune(self) -> None:
        whole = concat_frames(self._parts)
        if len(whole) > self.size:
            keys = whole[_KEY].to_numpy()
            keep = np.sort(np.argpartition(keys, self.size - 1)[: self.size])
            whole = whole.iloc[keep].reset_index(drop=True)
        if len(whole) == self.size:
            self._bound = float(whole[_KEY].max())
        self._parts = [whole]
        self._kept = len(whole)

    def result(self) -> pd.DataFrame:
        """The sample, in the order its rows arrived."""
        self._prune()
        if not self._parts or _ORDER not in self._parts[0].columns:  # nothing offered
            return pd.DataFrame()
        whole = self._parts[0].sort_values(_ORDER, kind="stable")
        return whole.drop(columns=[_KEY, _ORDER]).reset_index(drop=True)
