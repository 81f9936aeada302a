"""Champion against challenger: the statistics of a release decision.

Paired (shadow: both versions scored the same labelled rows):

- :func:`mcnemar` for accuracy-type metrics — the exact binomial test on the discordant pairs
  when there are fewer than :data:`EXACT_BELOW` of them, else χ² with continuity correction
  (``statsmodels.stats.contingency_tables.mcnemar`` with ``exact=True`` / ``exact=False``);
- :func:`paired_bootstrap` — a 95% percentile CI of ``metric(challenger) - metric(champion)``
  for ROC AUC, F1 or regression errors, resampling rows (both versions together).

Two-sample (A/B: each version served its own rows):

- :func:`two_proportion_ztest` — pooled z-test of two rates (``proportions_ztest``);
- :func:`bootstrap_difference` — a percentile CI of the difference of a continuous metric's
  mean (or median), each arm resampled on its own;
- :func:`minimum_sample_per_arm` — the rows each arm needs, fixed *before* the test from the
  baseline rate, the minimum detectable effect, α and power (Cohen's h with the normal
  approximation, as statsmodels' ``NormalIndPower`` with ``proportion_effectsize``).

:func:`verdict` turns one of these into ``challenger_better | no_difference |
challenger_worse | insufficient_data`` — the last below a declared minimum sample, whatever the
figures say (no peeking at a test that has not reached its size).

Every difference is challenger minus champion. Resampling uses a fixed seed, so a report
computed twice says the same; resamples are drawn as index matrices in blocks (about
:data:`_CELLS_PER_BLOCK` indices each) so memory does not grow with the number of resamples.
Pure numpy/scipy: arrays in, small dataclasses out.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import numpy as np

# scipy is imported by the functions that use it: the server and its CLI start without it

#: Below this many discordant pairs McNemar's test is the exact binomial one.
EXACT_BELOW: Final = 25
DEFAULT_RESAMPLES: Final = 2000
DEFAULT_SEED: Final = 20261130
#: About 16 MB of int64 indices per block of resamples.
_CELLS_PER_BLOCK: Final = 2_000_000

FloatArray = np.ndarray


class Verdict(str, enum.Enum):
    """What the evidence says about the challenger."""

    CHALLENGER_BETTER = "challenger_better"
    NO_DIFFERENCE = "no_difference"
    CHALLENGER_WORSE = "challenger_worse"
    INSUFFICIENT_DATA = "insufficient_data"


@dataclass(frozen=True)
class McNemarResult:
    """McNemar's test on paired right/wrong outcomes: ``champion_only`` rows the champion
    got right and the challenger wrong, ``challenger_only`` the reverse."""

    statistic: float
    p_value: float
    exact: bool
    champion_only: int
    challenger_only: int
    n: int

    @property
    def difference(self) -> float:
        """Challenger's accuracy minus champion's, on the same rows."""
        return (self.challenger_only - self.champion_only) / self.n if self.n else 0.0


@dataclass(frozen=True)
class DifferenceInterval:
    """A metric for each version, the difference (challenger minus champion) and its
    bootstrap percentile interval."""

    metric: str
    champion: float
    challenger: float
    difference: float
    low: float
    high: float
    confidence: float
    n_champion: int
    n_challenger: int
    resamples: int


@dataclass(frozen=True)
class ZTestResult:
    """A two-proportion z-test: each arm's rate, the difference, z and its two-sided p."""

    champion_rate: float
    challenger_rate: float
    difference: float
    statistic: float
    p_value: float
    n_champion: int
    n_challenger: int


# paired tests ---------------------------------------------------------------------------------


def mcnemar(
    champion_correct: object, challenger_correct: object, *, exact_below: int = EXACT_BELOW
) -> McNemarResult:
    """McNemar's test of two versions' right/wrong outcomes on the same rows."""
    from scipy import stats

    champion = np.asarray(champion_correct, dtype=bool)
    challenger = np.asarray(challenger_correct, dtype=bool)
    if champion.shape != challenger.shape or champion.ndim != 1:
        raise ValueError("paired outcomes must be two 1-D arrays of the same length")
    champion_only = int(np.count_nonzero(champion & ~challenger))
    challenger_only = int(np.count_nonzero(~champion & challenger))
    discordant = champion_only + challenger_only
    exact = discordant < exact_below
    if discordant == 0:
        statistic, p_value = (0.0 if exact else math.nan), 1.0
    elif exact:
        statistic = float(min(champion_only, challenger_only))
        p_value = min(1.0, 2.0 * float(stats.binom.cdf(statistic, discordant, 0.5)))
    else:
        statistic = (abs(champion_only - challenger_only) - 1.0) ** 2 / discordant
        p_value = float(stats.chi2.sf(statistic, 1))
    return McNemarResult(
        statistic=statistic,
        p_value=p_value,
        exact=exact,
        champion_only=champion_only,
        challenger_only=challenger_only,
        n=int(champion.size),
    )


def _accuracy(y: FloatArray, p: FloatArray) -> FloatArray:
    return np.mean(y == p, axis=-1)


def _f1(y: FloatArray, p: FloatArray) -> FloatArray:
    """Binary F1 of the positive class (1); 0 where it is undefined (no positives at all)."""
    true_positive = np.sum((y == 1) & (p == 1), axis=-1)
    predicted = np.sum(p == 1, axis=-1)
    actual = np.sum(y == 1, axis=-1)
    denominator = predicted + actual
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, 2.0 * true_positive / denominator, 0.0)


def _roc_auc(y: FloatArray, score: FloatArray) -> FloatArray:
    """Tie-averaged rank statistic (Mann-Whitney U / n₊n₋), row by row; NaN with one class."""
    from scipy import stats

    ranks = stats.rankdata(score, axis=-1)
    positive = y == 1
    n_pos = positive.sum(axis=-1)
    n_neg = y.shape[-1] - n_pos
    rank_sum = np.where(positive, ranks, 0.0).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def _mae(y: FloatArray, p: FloatArray) -> FloatArray:
    return np.mean(np.abs(y - p), axis=-1)


def _rmse(y: FloatArray, p: FloatArray) -> FloatArray:
    return np.sqrt(np.mean((y - p) ** 2, axis=-1))


def _mse(y: FloatArray, p: FloatArray) -> FloatArray:
    return np.mean((y - p) ** 2, axis=-1)


#: Metrics of (labels, predictions or scores), vectorised over the last axis.
PAIRED_METRICS: Final[dict[str, Callable[[FloatArray, FloatArray], FloatArray]]] = {
    "accuracy": _accuracy,
    "f1": _f1,
    "roc_auc": _roc_auc,
    "mae": _mae,
    "rmse": _rmse,
    "mse": _mse,
}
#: Whether a larger value of the metric is better.
HIGHER_IS_BETTER: Final[dict[str, bool]] = {
    "accuracy": True,
    "f1": True,
    "roc_auc": True,
    "mae": False,
    "rmse": False,
    "mse": False,
    "mean": True,
    "median": True,
}


def _blocks(resamples: int, n: int) -> list[int]:
    """How many resamples to draw at once so a block holds about ``_CELLS_PER_BLOCK``."""
    size = max(1, _CELLS_PER_BLOCK // max(n, 1))
    return [min(size, resamples - start) for start in range(0, resamples, size)]


def _interval(samples: FloatArray, confidence: float) -> tuple[float, float]:
    tail = (1.0 - confidence) / 2.0 * 100.0
    finite = samples[np.isfinite(samples)]
    if finite.size == 0:
        return math.nan, math.nan
    low, high = np.percentile(finite, [tail, 100.0 - tail])
    return float(low), float(high)


def bootstrap_differences(
    resamples: int,
    width: int,
    seed: int,
    draw: Callable[[np.random.Generator, int], FloatArray],
) -> FloatArray:
    """``resamples`` bootstrap differences, ``draw(rng, size)`` giving ``size`` of them at a
    time, in blocks of about :data:`_CELLS_PER_BLOCK` indices (``width`` indices each)."""
    rng = np.random.default_rng(seed)
    differences = np.empty(resamples)
    start = 0
    for size in _blocks(resamples, width):
        differences[start : start + size] = draw(rng, size)
        start += size
    return differences


def difference_interval(
    metric: str,
    champion: float,
    challenger: float,
    differences: FloatArray,
    *,
    confidence: float,
    n_champion: int,
    n_challenger: int,
) -> DifferenceInterval:
    """The percentile interval of bootstrap ``differences`` around challenger - champion."""
    low, high = _interval(differences, confidence)
    return DifferenceInterval(
        metric=metric,
        champion=champion,
        challenger=challenger,
        difference=challenger - champion,
        low=low,
        high=high,
        confidence=confidence,
        n_champion=n_champion,
        n_challenger=n_challenger,
        resamples=int(differences.size),
    )


def paired_bootstrap(
    y_true: object,
    champion: object,
    challenger: object,
    metric: str,
    *,
    confidence: float = 0.95,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> DifferenceInterval:
    """Percentile CI of ``metric(challenger) - metric(champion)`` on the same rows, resampling
    rows with replacement (both versions' outputs move together)."""
    compute = PAIRED_METRICS[metric]
    y = np.asarray(y_true, dtype=float)
    a = np.asarray(champion, dtype=float)
    b = np.asarray(challenger, dtype=float)
    if not (y.shape == a.shape == b.shape) or y.ndim != 1:
        raise ValueError("labels and both versions' outputs must be 1-D of the same length")
    n = y.size
    if n == 0:
        raise ValueError("no rows to compare")

    def draw(rng: np.random.Generator, size: int) -> FloatArray:
        rows = rng.integers(0, n, size=(size, n))
        yy = y[rows]
        return compute(yy, b[rows]) - compute(yy, a[rows])

    return difference_interval(
        metric,
        float(compute(y, a)),
        float(compute(y, b)),
        bootstrap_differences(resamples, n, seed, draw),
        confidence=confidence,
        n_champion=n,
        n_challenger=n,
    )


# two-sample tests -----------------------------------------------------------------------------


def two_proportion_ztest(
    champion_successes: int, champion_n: int, challenger_successes: int, challenger_n: int
) -> ZTestResult:
    """Two-sided z-test of two rates with the pooled variance (as ``proportions_ztest``)."""
    from scipy import stats

    if champion_n <= 0 or challenger_n <= 0:
        raise ValueError("each arm needs at least one row")
    p_a = champion_successes / champion_n
    p_b = challenger_successes / challenger_n
    pooled = (champion_successes + challenger_successes) / (champion_n + challenger_n)
    se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / champion_n + 1.0 / challenger_n))
    if se == 0.0:
        statistic, p_value = 0.0, 1.0  # both rates 0 or both 1: nothing differs
    else:
        statistic = (p_b - p_a) / se
        p_value = float(2.0 * stats.norm.sf(abs(statistic)))
    return ZTestResult(
        champion_rate=p_a,
        challenger_rate=p_b,
        difference=p_b - p_a,
        statistic=statistic,
        p_value=p_value,
        n_champion=champion_n,
        n_challenger=challenger_n,
    )


_CENTRES: Final[dict[str, Callable[..., FloatArray]]] = {"mean": np.mean, "median": np.median}


def bootstrap_difference(
    champion_values: object,
    challenger_values: object,
    *,
    statistic: str = "mean",
    confidence: float = 0.95,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> DifferenceInterval:
    """Percentile CI of ``statistic(challenger) - statistic(champion)`` for two independent
    samples of a continuous metric, each arm resampled on its own."""
    centre = _CENTRES[statistic]
    a = np.asarray(champion_values, dtype=float)
    b = np.asarray(challenger_values, dtype=float)
    if a.ndim != 1 or b.ndim != 1 or a.size == 0 or b.size == 0:
        raise ValueError("each arm is a non-empty 1-D sample")

    def draw(rng: np.random.Generator, size: int) -> FloatArray:
        resampled_a = centre(a[rng.integers(0, a.size, size=(size, a.size))], axis=-1)
        resampled_b = centre(b[rng.integers(0, b.size, size=(size, b.size))], axis=-1)
        return resampled_b - resampled_a

    return difference_interval(
        statistic,
        float(centre(a)),
        float(centre(b)),
        bootstrap_differences(resamples, max(a.size, b.size), seed, draw),
        confidence=confidence,
        n_champion=int(a.size),
        n_challenger=int(b.size),
    )


# sample size ----------------------------------------------------------------------------------


def proportion_effect_size(rate: float, baseline: float) -> float:
    """Cohen's h between two rates (as statsmodels' ``proportion_effectsize``)."""
    return 2.0 * math.asin(math.sqrt(rate)) - 2.0 * math.asin(math.sqrt(baseline))


def _two_sided_power(effect: float, n: float, alpha: float) -> float:
    """Power of the two-sided two-sample z-test with ``n`` rows per arm (``NormalIndPower``)."""
    from scipy import stats

    critical = stats.norm.isf(alpha / 2.0)
    shift = abs(effect) * math.sqrt(n / 2.0)
    return float(stats.norm.sf(critical - shift) + stats.norm.cdf(-critical - shift))


def minimum_sample_per_arm(
    baseline_rate: float,
    minimum_detectable_effect: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
) -> int:
    """Rows each arm needs for a two-sided test at ``alpha`` to detect a change of the rate
    from ``baseline_rate`` by ``minimum_detectable_effect`` (absolute) with ``power``."""
    from scipy import optimize, stats

    target = baseline_rate + minimum_detectable_effect
    if not 0.0 < baseline_rate < 1.0 or not 0.0 < target < 1.0:
        raise ValueError("the baseline rate and the rate it may move to must be within (0, 1)")
    if minimum_detectable_effect == 0.0 or not 0.0 < alpha < 1.0 or not alpha < power < 1.0:
        raise ValueError("need an effect other than 0, 0 < alpha < power < 1")
    effect = proportion_effect_size(target, baseline_rate)
    # The closed form ignores the far tail; it brackets the exact root from above.
    upper = 2.0 * ((stats.norm.isf(alpha / 2.0) + stats.norm.ppf(power)) / effect) ** 2 + 2.0
    n = optimize.brentq(lambda m: _two_sided_power(effect, m, alpha) - power, 1e-6, upper)
    return math.ceil(n - 1e-9)


# the verdict ----------------------------------------------------------------------------------


def verdict(
    *,
    n: int,
    minimum_n: int,
    difference: float,
    low: float | None = None,
    high: float | None = None,
    p_value: float | None = None,
    alpha: float = 0.05,
    higher_is_better: bool = True,
) -> Verdict:
    """The verdict on a challenger: ``insufficient_data`` while ``n`` (rows, or rows of the
    smaller arm) is under ``minimum_n``; else from the interval when one is given (it excludes
    0), or from ``p_value`` below ``alpha``, in the direction of ``difference``."""
    if n < minimum_n:
        return Verdict.INSUFFICIENT_DATA
    if low is not None and high is not None:
        if math.isnan(low) or math.isnan(high):
            return Verdict.INSUFFICIENT_DATA
        if low <= 0.0 <= high:
            return Verdict.NO_DIFFERENCE
        improved = low > 0.0
    elif p_value is not None:
        if math.isnan(p_value) or p_value >= alpha or difference == 0.0:
            return Verdict.NO_DIFFERENCE
        improved = difference > 0.0
    else:
        raise ValueError("give an interval (low, high) or a p_value")
    return Verdict.CHALLENGER_BETTER if improved == higher_is_better else Verdict.CHALLENGER_WORSE
