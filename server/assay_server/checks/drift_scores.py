"""The six drift methods, as Evidently 0.7 scores them, on the two sides of one column:
a reference profile and a window's values. ``drift.py`` chooses a method and decides.

Numerical sides are sorted arrays, so distances and histograms come from searches rather than
sorting again; the Wasserstein distance of samples of sizes met twice in a run reuses the
pieces where both quantile functions are constant.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .profile import CategoryCounts, NumericalProfile, distinct_sorted

# scipy is imported by the functions that use it: the server and its CLI start without it

FEW_DISTINCT = 5  # a numerical column with at most this many values is tested as categories
_HISTOGRAM_ABOVE = 20  # binned methods: above this many reference values, Sturges histogram


# ---------------------------------------------------------------------------------------------
# the two sides of one column


@dataclass
class NumericalSides:
    """A numerical column: the reference profile and the window's sorted finite values."""

    reference: NumericalProfile
    current: np.ndarray  # ascending
    breakpoints: BreakpointCache

    def n_distinct(self) -> int:
        if self.reference.n_distinct > FEW_DISTINCT:
            return self.reference.n_distinct
        current_values, _ = distinct_sorted(self.current)
        return int(np.union1d(self.reference.distinct[0], current_values).size)

    def counts(self) -> tuple[np.ndarray, np.ndarray]:
        """Counts of every distinct value (union of both sides), reference then window."""
        reference_values, reference_counts = self.reference.distinct
        current_values, current_counts = distinct_sorted(self.current)
        return _aligned(reference_values, reference_counts, current_values, current_counts)

    def binned_shares(self) -> tuple[np.ndarray, np.ndarray]:
        """Evidently's `get_binned_data`: Sturges bins above 20 reference values, else per value."""
        if self.reference.n_distinct <= _HISTOGRAM_ABOVE:
            reference, current = self.counts()
        else:
            edges = sturges_edges(self.reference.sorted_values, self.current)
            reference = histogram_sorted(self.reference.sorted_values, edges)
            current = histogram_sorted(self.current, edges)
        return reference / self.reference.present, current / self.current.size


@dataclass
class CategoricalSides:
    """A categorical column: category counts on both sides."""

    reference: CategoryCounts
    current: CategoryCounts

    def n_distinct(self) -> int:
        return int(np.union1d(self.reference.labels, self.current.labels).size)

    def counts(self) -> tuple[np.ndarray, np.ndarray]:
        return _aligned(
            self.reference.labels, self.reference.counts, self.current.labels, self.current.counts
        )

    def binned_shares(self) -> tuple[np.ndarray, np.ndarray]:
        reference, current = self.counts()
        return reference / self.reference.present, current / self.current.present


Sides = NumericalSides | CategoricalSides


def _aligned(
    reference_keys: np.ndarray,
    reference_counts: np.ndarray,
    current_keys: np.ndarray,
    current_counts: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    keys = np.union1d(reference_keys, current_keys)
    reference = np.zeros(keys.size, dtype=np.float64)
    current = np.zeros(keys.size, dtype=np.float64)
    reference[np.searchsorted(keys, reference_keys)] = reference_counts
    current[np.searchsorted(keys, current_keys)] = current_counts
    return reference, current


def sturges_edges(reference: np.ndarray, current: np.ndarray) -> np.ndarray:
    """`np.histogram_bin_edges(concat(reference, current), bins="sturges")` from sorted sides."""
    first = min(reference[0], current[0])
    last = max(reference[-1], current[-1])
    width = (last - first) / (np.log2(reference.size + current.size) + 1.0)
    if first == last:
        first, last = first - 0.5, last + 0.5
    n_bins = int(np.ceil((last - first) / width)) if width else 1
    return np.linspace(first, last, n_bins + 1)


def histogram_sorted(ordered: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """`np.histogram(values, edges)[0]` of ascending values: half-open bins, last one closed."""
    below = np.concatenate(
        (
            np.searchsorted(ordered, edges[:-1], "left"),
            np.searchsorted(ordered, edges[-1:], "right"),
        )
    )
    return np.diff(below).astype(np.float64)


@dataclass(frozen=True)
class QuantilePieces:
    """Where the quantile functions of two sorted samples of sizes n and m are both constant."""

    in_reference: np.ndarray  # per piece, the index into the reference's sorted values
    in_current: np.ndarray  # per piece, the index into the window's sorted values
    widths: np.ndarray  # per piece, its width in units of 1/(n*m)
    scratch: tuple[np.ndarray, np.ndarray]  # reused buffers: fresh large arrays cost page faults

    @classmethod
    def of_sizes(cls, n: int, m: int) -> QuantilePieces:
        """Pieces of (0, 1]: quantile t in (k/(n*m), (k+1)/(n*m)] of n sorted values is [k // m]."""
        starts = np.concatenate(
            (np.arange(n, dtype=np.int64) * m, np.arange(m, dtype=np.int64) * n)
        )
        starts.sort()
        widths = np.diff(starts, append=np.int64(n) * m)
        starts = starts[widths > 0]  # where n and m share a breakpoint
        widths = widths[widths > 0].astype(np.float64)
        return cls(
            in_reference=starts // m,
            in_current=starts // n,
            widths=widths,
            scratch=(np.empty(widths.size), np.empty(widths.size)),
        )


class BreakpointCache:
    """Quantile pieces per pair of sample sizes, built when a run meets a pair a second time."""

    def __init__(self) -> None:
        self._seen: set[tuple[int, int]] = set()
        self._pieces: dict[tuple[int, int], QuantilePieces] = {}

    def get(self, n: int, m: int) -> QuantilePieces | None:
        """The pieces for samples of n and m values, or None the first time (not worth building)."""
        key = (n, m)
        if key not in self._pieces and key in self._seen:
            self._pieces[key] = QuantilePieces.of_sizes(n, m)
        self._seen.add(key)
        return self._pieces.get(key)


def merged_wasserstein(reference: np.ndarray, current: np.ndarray) -> float:
    """scipy's `_cdf_distance(1, ...)` on two sorted samples, merging them with one search."""
    n, m = reference.size, current.size
    position = np.searchsorted(reference, current, side="right")
    position += np.arange(m)  # where each window value lands in the merged order
    from_current = np.zeros(n + m, dtype=bool)
    from_current[position] = True
    merged = np.empty(n + m)
    merged[position] = current
    merged[~from_current] = reference
    current_cdf = np.cumsum(from_current)
    reference_cdf = np.arange(1, n + m + 1) - current_cdf
    gaps = np.abs(reference_cdf[:-1] / n - current_cdf[:-1] / m)
    return float(np.dot(gaps, np.diff(merged)))


# ---------------------------------------------------------------------------------------------
# the methods: each takes a column's two sides and returns Evidently's score


def _ks(sides: Sides) -> float:
    from scipy import stats

    if not isinstance(sides, NumericalSides):
        raise TypeError("K-S applies to numerical columns")
    return float(stats.ks_2samp(sides.reference.sorted_values, sides.current).pvalue)


def _wasserstein(sides: Sides) -> float:
    """scipy's Wasserstein-1 distance, via quantile functions, over max(reference std, 0.001)."""
    if not isinstance(sides, NumericalSides):
        raise TypeError("Wasserstein applies to numerical columns")
    reference, current = sides.reference.sorted_values, sides.current
    pieces = sides.breakpoints.get(reference.size, current.size)
    if pieces is None:
        distance_ = merged_wasserstein(reference, current)
    else:
        gaps, other = pieces.scratch
        np.take(reference, pieces.in_reference, out=gaps)
        np.take(current, pieces.in_current, out=other)
        np.subtract(gaps, other, out=gaps)
        np.abs(gaps, out=gaps)
        distance_ = float(np.dot(pieces.widths, gaps)) / (float(reference.size) * current.size)
    return distance_ / max(sides.reference.std, 0.001)


def _chisquare(sides: Sides) -> float:
    from scipy import stats

    reference, current = sides.counts()
    expected = reference * (current.sum() / reference.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(stats.chisquare(current, expected).pvalue)


def _z(sides: Sides) -> float:
    """Evidently's two-proportion Z-test: first (smallest) value against all others."""
    from scipy import stats

    reference, current = sides.counts()
    if reference.size == 1:  # one value, the same on both sides
        return 1.0
    n1, n2 = float(reference.sum()), float(current.sum())
    p1 = float(reference[1:].sum()) / n1
    p2 = float(current[1:].sum()) / n2
    pooled = float(p1 * n1 + p2 * n2) / (n1 + n2)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
    return float(2 * (1 - stats.norm.cdf(np.abs(z))))


def _jensenshannon(sides: Sides) -> float:
    from scipy.spatial import distance

    reference, current = sides.binned_shares()
    return float(distance.jensenshannon(reference, current))


def _psi(sides: Sides) -> float:
    reference, current = sides.binned_shares()
    reference, current = _fill_zeroes(reference), _fill_zeroes(current)
    return float(np.sum((reference - current) * np.log(reference / current)))


def _fill_zeroes(shares: np.ndarray) -> np.ndarray:
    """Evidently's PSI guard: empty bins get min(non-zero)/1e6, or 0.0001 if min > 0.0001."""
    smallest = shares[shares != 0].min()
    filler = smallest / 10**6 if smallest <= 0.0001 else 0.0001
    return np.where(shares == 0, filler, shares)


SCORES: dict[str, Callable[[Sides], float]] = {
    "ks": _ks,
    "chisquare": _chisquare,
    "z": _z,
    "wasserstein": _wasserstein,
    "jensenshannon": _jensenshannon,
    "psi": _psi,
}
