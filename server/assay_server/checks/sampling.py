"""A uniform sample of at most ``size`` rows, drawn while a window streams past.

Each row gets a key from a generator seeded with ``seed``, drawn in the order the rows arrive,
and the sample is the ``size`` rows with the smallest keys (a bottom-k sample, which is what a
reservoir keeps): every subset of ``size`` rows is equally likely, and the same rows in the
same order with the same seed give the same sample, however they are cut into parts. Memory
holds the sample and the rows of one part; once the sample is full only rows whose key beats
the largest kept key are taken in, so later parts cost little more than their keys.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # imported by the functions that use it: the server starts without it
    import pandas as pd


def concat_frames(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Frames one after the other; a categorical column stays categorical (its categories
    the union of the parts'), where ``pd.concat`` would turn it into Python objects."""
    import pandas as pd

    frames = [frame for frame in frames if len(frame.columns)]
    if not frames:
        return pd.DataFrame()
    if len(frames) == 1:
        return _renumbered(frames[0])
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
    import pandas as pd

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
        # rows taken so far, a piece per part (in arrival order): its rows and their keys
        self._pieces: list[tuple[pd.DataFrame, np.ndarray]] = []
        self._taken = 0
        self._bound = np.inf  # the sample is the rows whose key is below it

    @property
    def sampled(self) -> bool:
        """Whether rows were left out (more rows seen than the sample holds)."""
        return self.rows > self.size

    def update(self, frame: pd.DataFrame) -> None:
        """Offer one part's rows, in their order: only those whose key is among the ``size``
        smallest so far are copied."""
        n = len(frame)
        keys = self._rng.random(n)
        self.rows += n
        if self.size == 0 or n == 0:
            return
        candidates = keys[keys < self._bound]
        if self._taken + candidates.size > self.size:  # the new bound: the size-th key
            kept = [piece[1][piece[1] < self._bound] for piece in self._pieces]
            pool = np.concatenate([*kept, candidates])
            self._bound = float(np.partition(pool, self.size - 1)[self.size - 1])
            self._bound = float(np.nextafter(self._bound, np.inf))
        take = np.flatnonzero(keys < self._bound)
        if take.size == n:  # every row (the sample is not full yet): no copy
            self._pieces.append((frame, keys))
        elif take.size:
            self._pieces.append((frame.take(take), keys[take]))
        self._taken += take.size
        if self._taken > 2 * self.size:
            self._drop_outbid()

    def _drop_outbid(self) -> None:
        """Drop the rows taken earlier whose key no longer makes the sample."""
        pieces = []
        for frame, keys in self._pieces:
            keep = np.flatnonzero(keys < self._bound)
            if keep.size == keys.size:
                pieces.append((frame, keys))
            elif keep.size:
                pieces.append((frame.take(keep), keys[keep]))
        self._pieces = pieces
        self._taken = sum(piece[1].size for piece in pieces)

    def result(self) -> pd.DataFrame:
        """The sample, in the order its rows arrived."""
        import pandas as pd

        self._drop_outbid()
        if not self._pieces:  # nothing offered
            return pd.DataFrame()
        return concat_frames([frame for frame, _keys in self._pieces])


def _renumbered(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` indexed 0..n-1, without the copy (and block consolidation) of
    ``reset_index``: the values are shared."""
    import pandas as pd

    index = frame.index
    if isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1:
        return frame
    shallow = frame.copy(deep=False)
    shallow.index = pd.RangeIndex(len(frame))
    return shallow
