"""The release statistics against their oracles on fixed data: McNemar (exact and χ²) and the
two-proportion z-test against statsmodels, the sample size against ``NormalIndPower`` and
``zt_ind_solve_power``, the bootstrap intervals against ``scipy.stats.bootstrap``, the metrics
against scikit-learn, and the verdict's rules."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import f1_score, mean_absolute_error, roc_auc_score
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.power import NormalIndPower, zt_ind_solve_power
from statsmodels.stats.proportion import proportion_effectsize, proportions_ztest

from assay_server.checks.comparison import (
    EXACT_BELOW,
    PAIRED_METRICS,
    Verdict,
    bootstrap_difference,
    mcnemar,
    minimum_sample_per_arm,
    paired_bootstrap,
    two_proportion_ztest,
    verdict,
)

pytestmark = pytest.mark.store_independent


def paired_outcomes(champion_only: int, challenger_only: int, both: int, neither: int):
    """Right/wrong outcomes of two versions on the same rows, in a shuffled order."""
    champion = (
        [True] * champion_only + [False] * challenger_only + [True] * both + [False] * neither
    )
    challenger = [False] * champion_only + [True] * challenger_only + [True] * both
    challenger += [False] * neither
    order = np.random.default_rng(7).permutation(len(champion))
    return np.array(champion)[order], np.array(challenger)[order]


def table(champion_only: int, challenger_only: int, both: int, neither: int):
    return [[both, champion_only], [challenger_only, neither]]


@pytest.mark.parametrize(
    ("champion_only", "challenger_only"), [(3, 11), (0, 6), (7, 7), (12, 12), (2, 0)]
)
def test_mcnemar_exact_matches_statsmodels_below_the_threshold(champion_only, challenger_only):
    champion, challenger = paired_outcomes(champion_only, challenger_only, 50, 20)
    ours = mcnemar(champion, challenger)
    oracle = sm_mcnemar(table(champion_only, challenger_only, 50, 20), exact=True)
    assert ours.exact and champion_only + challenger_only < EXACT_BELOW
    assert ours.statistic == pytest.approx(oracle.statistic)
    assert ours.p_value == pytest.approx(oracle.pvalue, rel=1e-12)
    assert (ours.champion_only, ours.challenger_only, ours.n) == (
        champion_only,
        challenger_only,
        champion_only + challenger_only + 70,
    )


@pytest.mark.parametrize(("champion_only", "challenger_only"), [(20, 45), (30, 31), (80, 40)])
def test_mcnemar_chi_square_with_continuity_correction_matches_statsmodels(
    champion_only, challenger_only
):
    champion, challenger = paired_outcomes(champion_only, challenger_only, 300, 100)
    ours = mcnemar(champion, challenger)
    oracle = sm_mcnemar(
        table(champion_only, challenger_only, 300, 100), exact=False, correction=True
    )
    assert not ours.exact
    assert ours.statistic == pytest.approx(oracle.statistic, rel=1e-12)
    assert ours.p_value == pytest.approx(oracle.pvalue, rel=1e-12)
    assert ours.difference == pytest.approx((challenger_only - champion_only) / ours.n)


def test_mcnemar_without_discordant_pairs_finds_no_difference():
    same = np.array([True, False, True])
    assert mcnemar(same, same).p_value == 1.0


@pytest.mark.parametrize(
    ("counts", "nobs"), [((120, 150), (1000, 1000)), ((45, 30), (400, 350)), ((9, 9), (90, 90))]
)
def test_two_proportion_ztest_matches_statsmodels(counts, nobs):
    champion, challenger = counts
    ours = two_proportion_ztest(champion, nobs[0], challenger, nobs[1])
    z, p = proportions_ztest([challenger, champion], [nobs[1], nobs[0]])
    assert ours.statistic == pytest.approx(z, rel=1e-10, abs=1e-12)
    assert ours.p_value == pytest.approx(p, rel=1e-10)
    assert ours.difference == pytest.approx(challenger / nobs[1] - champion / nobs[0])


@pytest.mark.parametrize(
    ("baseline", "effect", "alpha", "power"),
    [
        (0.10, 0.02, 0.05, 0.8),
        (0.30, -0.05, 0.05, 0.9),
        (0.5, 0.1, 0.01, 0.8),
        (0.02, 0.01, 0.1, 0.8),
    ],
)
def test_minimum_sample_per_arm_matches_statsmodels_power(baseline, effect, alpha, power):
    h = proportion_effectsize(baseline + effect, baseline)
    oracle = NormalIndPower().solve_power(
        effect_size=h, alpha=alpha, power=power, ratio=1.0, alternative="two-sided"
    )
    same = zt_ind_solve_power(effect_size=h, alpha=alpha, power=power, ratio=1.0)
    ours = minimum_sample_per_arm(baseline, effect, alpha=alpha, power=power)
    assert ours == math.ceil(oracle) == math.ceil(same)
    achieved = NormalIndPower().power(effect_size=h, nobs1=ours, alpha=alpha, ratio=1.0)
    short = NormalIndPower().power(effect_size=h, nobs1=ours - 1, alpha=alpha, ratio=1.0)
    assert short < power <= achieved


def test_minimum_sample_refuses_rates_outside_zero_one():
    with pytest.raises(ValueError):
        minimum_sample_per_arm(0.95, 0.1)


def labelled_scores(n: int = 400):
    """Binary labels and two versions' scores; the challenger separates the classes better."""
    rng = np.random.default_rng(11)
    y = rng.integers(0, 2, n)
    champion = np.clip(0.5 + 0.15 * (2 * y - 1) + rng.normal(0, 0.25, n), 0, 1)
    challenger = np.clip(0.5 + 0.3 * (2 * y - 1) + rng.normal(0, 0.25, n), 0, 1)
    return y, champion, challenger


def test_the_vectorised_metrics_agree_with_scikit_learn():
    y, champion, challenger = labelled_scores()
    labels = (challenger >= 0.5).astype(int)
    assert PAIRED_METRICS["roc_auc"](y.astype(float), champion) == pytest.approx(
        roc_auc_score(y, champion)
    )
    assert PAIRED_METRICS["f1"](y.astype(float), labels.astype(float)) == pytest.approx(
        f1_score(y, labels)
    )
    assert PAIRED_METRICS["mae"](y.astype(float), champion) == pytest.approx(
        mean_absolute_error(y, champion)
    )


def scipy_paired_interval(y, champion, challenger, metric: str):
    compute = PAIRED_METRICS[metric]

    def difference(y_, a_, b_, axis=-1):
        return compute(y_, b_) - compute(y_, a_)

    return stats.bootstrap(
        (y.astype(float), champion, challenger),
        difference,
        paired=True,
        vectorized=True,
        n_resamples=4000,
        method="percentile",
        rng=np.random.default_rng(3),
    ).confidence_interval


@pytest.mark.parametrize("metric", ["roc_auc", "f1", "mae", "rmse"])
def test_paired_bootstrap_interval_is_scipys_within_resampling_error(metric):
    y, champion, challenger = labelled_scores()
    if metric == "f1":
        champion, challenger = (champion >= 0.5).astype(float), (challenger >= 0.5).astype(float)
    ours = paired_bootstrap(y, champion, challenger, metric, resamples=4000)
    oracle = scipy_paired_interval(y, champion, challenger, metric)
    width = oracle.high - oracle.low
    assert ours.low == pytest.approx(oracle.low, abs=0.1 * width)
    assert ours.high == pytest.approx(oracle.high, abs=0.1 * width)
    assert ours.difference == pytest.approx(ours.challenger - ours.champion)
    again = paired_bootstrap(y, champion, challenger, metric, resamples=4000)
    assert (again.low, again.high) == (ours.low, ours.high)  # the seed is fixed


def test_bootstrap_difference_of_two_samples_is_scipys_within_resampling_error():
    rng = np.random.default_rng(5)
    champion = rng.exponential(1.0, 300)
    challenger = rng.exponential(1.3, 250)
    ours = bootstrap_difference(champion, challenger, resamples=4000)
    oracle = stats.bootstrap(
        (challenger, champion),
        lambda b, a, axis=-1: np.mean(b, axis=axis) - np.mean(a, axis=axis),
        n_resamples=4000,
        method="percentile",
        rng=np.random.default_rng(3),
    ).confidence_interval
    width = oracle.high - oracle.low
    assert ours.low == pytest.approx(oracle.low, abs=0.1 * width)
    assert ours.high == pytest.approx(oracle.high, abs=0.1 * width)
    assert ours.difference == pytest.approx(challenger.mean() - champion.mean())
    assert (ours.n_champion, ours.n_challenger) == (300, 250)


def test_a_truly_better_challenger_is_judged_better_and_a_worse_one_worse():
    y, champion, challenger = labelled_scores()
    better = paired_bootstrap(y, champion, challenger, "roc_auc")
    assert (
        verdict(
            n=400, minimum_n=200, difference=better.difference, low=better.low, high=better.high
        )
        is Verdict.CHALLENGER_BETTER
    )
    worse = paired_bootstrap(y, challenger, champion, "roc_auc")
    assert (
        verdict(n=400, minimum_n=200, difference=worse.difference, low=worse.low, high=worse.high)
        is Verdict.CHALLENGER_WORSE
    )
    errors = paired_bootstrap(y, champion, challenger, "mae")
    judged = verdict(
        n=400,
        minimum_n=200,
        difference=errors.difference,
        low=errors.low,
        high=errors.high,
        higher_is_better=False,
    )
    assert judged is Verdict.CHALLENGER_BETTER  # a smaller error is better


def test_the_verdict_is_withheld_below_the_declared_minimum():
    assert verdict(n=199, minimum_n=200, difference=0.2, low=0.1, high=0.3) is (
        Verdict.INSUFFICIENT_DATA
    )


def test_the_verdict_from_a_p_value():
    z = two_proportion_ztest(100, 1000, 140, 1000)
    assert verdict(n=1000, minimum_n=1000, difference=z.difference, p_value=z.p_value) is (
        Verdict.CHALLENGER_BETTER
    )
    close = two_proportion_ztest(100, 1000, 104, 1000)
    assert verdict(n=1000, minimum_n=1000, difference=close.difference, p_value=close.p_value) is (
        Verdict.NO_DIFFERENCE
    )
    champion, challenger = paired_outcomes(30, 8, 300, 60)
    test = mcnemar(champion, challenger)
    assert verdict(n=test.n, minimum_n=100, difference=test.difference, p_value=test.p_value) is (
        Verdict.CHALLENGER_WORSE
    )
