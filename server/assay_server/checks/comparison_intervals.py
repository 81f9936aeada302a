"""Intervals beside the release tests of :mod:`.comparison`: what a comparison report shows
next to a p-value, and the two-sample bootstrap of any metric for an A/B test.

- :func:`paired_proportion_interval` — the Wald interval of the difference of two paired
  accuracies (McNemar's discordant counts), as ``statsmodels``' paired-difference formula;
- :func:`proportion_difference_interval` — the unpooled Wald interval of the difference of two
  independent rates (beside the pooled z-test);
- :func:`two_sample_bootstrap` — the percentile interval of ``metric(challenger) -
  metric(champion)`` when each version scored rows of its own (ROC AUC, F1, RMSE, …), each arm
  resampled on its own with a fixed seed.

Every difference is challenger minus champion. Pure numpy/scipy.
"""

from __future__ import annotations

import math

import numpy as np

from .comparison import (
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    PAIRED_METRICS,
    DifferenceInterval,
    FloatArray,
    bootstrap_differences,
    difference_interval,
)

# scipy is imported by the function that uses it: the server and its CLI start without it


def _z(confidence: float) -> float:
    from scipy import stats

    return float(stats.norm.isf((1.0 - confidence) / 2.0))


def paired_proportion_interval(
    champion_only: int, challenger_only: int, n: int, *, confidence: float = 0.95
) -> tuple[float, float]:
    """Wald interval of the paired difference of accuracies: ``champion_only`` rows only the
    champion got right, ``challenger_only`` only the challenger, of ``n`` paired rows."""
    if n <= 0:
        return math.nan, math.nan
    difference = (challenger_only - champion_only) / n
    variance = ((champion_only + challenger_only) - (challenger_only - champion_only) ** 2 / n) / (
        n * n
    )
    half = _z(confidence) * math.sqrt(max(variance, 0.0))
    return difference - half, difference + half


def proportion_difference_interval(
    champion_successes: int,
    champion_n: int,
    challenger_successes: int,
    challenger_n: int,
    *,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """Unpooled Wald interval of ``rate(challenger) - rate(champion)`` for independent arms."""
    if champion_n <= 0 or challenger_n <= 0:
        return math.nan, math.nan
    p_a = champion_successes / champion_n
    p_b = challenger_successes / challenger_n
    se = math.sqrt(p_a * (1.0 - p_a) / champion_n + p_b * (1.0 - p_b) / challenger_n)
    half = _z(confidence) * se
    return p_b - p_a - half, p_b - p_a + half


def two_sample_bootstrap(
    champion_true: object,
    champion_output: object,
    challenger_true: object,
    challenger_output: object,
    metric: str,
    *,
    confidence: float = 0.95,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> DifferenceInterval:
    """Percentile CI of ``metric(challenger) - metric(champion)`` when each version scored its
    own rows: each arm's (label, output) pairs resampled with replacement on their own."""
    compute = PAIRED_METRICS[metric]
    y_a = np.asarray(champion_true, dtype=float)
    p_a = np.asarray(champion_output, dtype=float)
    y_b = np.asarray(challenger_true, dtype=float)
    p_b = np.asarray(challenger_output, dtype=float)
    if y_a.shape != p_a.shape or y_b.shape != p_b.shape or y_a.ndim != 1 or y_b.ndim != 1:
        raise ValueError("each arm's labels and outputs must be 1-D of the same length")
    if y_a.size == 0 or y_b.size == 0:
        raise ValueError("each arm needs at least one row")

    def draw(rng: np.random.Generator, size: int) -> FloatArray:
        rows_a = rng.integers(0, y_a.size, size=(size, y_a.size))
        rows_b = rng.integers(0, y_b.size, size=(size, y_b.size))
        return compute(y_b[rows_b], p_b[rows_b]) - compute(y_a[rows_a], p_a[rows_a])

    return difference_interval(
        metric,
        float(compute(y_a, p_a)),
        float(compute(y_b, p_b)),
        bootstrap_differences(resamples, max(y_a.size, y_b.size), seed, draw),
        confidence=confidence,
        n_champion=int(y_a.size),
        n_challenger=int(y_b.size),
    )
