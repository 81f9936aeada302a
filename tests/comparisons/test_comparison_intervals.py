"""The intervals beside the release tests, against their oracles: the unpooled Wald interval
of two rates against statsmodels, the paired one against the normal interval of the per-row
differences, and the two-sample bootstrap against ``bootstrap_difference`` and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from statsmodels.stats.proportion import confint_proportions_2indep

from assay_server.checks.comparison import bootstrap_difference
from assay_server.checks.comparison_intervals import (
    paired_proportion_interval,
    proportion_difference_interval,
    two_sample_bootstrap,
)

pytestmark = pytest.mark.store_independent


@pytest.mark.parametrize(("a", "na", "b", "nb"), [(80, 100, 90, 100), (410, 1000, 455, 980)])
def test_the_difference_of_two_rates_matches_statsmodels_wald(a, na, b, nb):
    low, high = proportion_difference_interval(a, na, b, nb)
    oracle = confint_proportions_2indep(b, nb, a, na, method="wald", compare="diff")
    assert (low, high) == pytest.approx(oracle, rel=1e-9)


@pytest.mark.parametrize(("champion_only", "challenger_only", "n"), [(5, 17, 200), (30, 30, 90)])
def test_the_paired_interval_is_the_normal_interval_of_the_row_differences(
    champion_only, challenger_only, n
):
    neither = n - champion_only - challenger_only  # both right, or both wrong
    differences = np.array([-1] * champion_only + [1] * challenger_only + [0] * neither)
    half = 1.959963984540054 * differences.std(ddof=0) / np.sqrt(n)
    low, high = paired_proportion_interval(champion_only, challenger_only, n)
    assert (low, high) == pytest.approx(
        (differences.mean() - half, differences.mean() + half), rel=1e-9
    )


def test_the_two_sample_bootstrap_of_mae_agrees_with_the_bootstrap_of_row_errors():
    rng = np.random.default_rng(1)
    y_a, y_b = rng.normal(0, 1, 400), rng.normal(0, 1, 500)
    p_a, p_b = y_a + rng.normal(0, 0.5, 400), y_b + rng.normal(0, 0.4, 500)
    ours = two_sample_bootstrap(y_a, p_a, y_b, p_b, "mae")
    errors = bootstrap_difference(np.abs(y_a - p_a), np.abs(y_b - p_b))
    assert ours.difference == pytest.approx(errors.difference, rel=1e-12)
    assert ours.low == pytest.approx(errors.low, abs=0.01)
    assert ours.high == pytest.approx(errors.high, abs=0.01)


def test_the_two_sample_bootstrap_of_auc_reports_each_arms_auc():
    rng = np.random.default_rng(2)
    y_a, y_b = rng.integers(0, 2, 300), rng.integers(0, 2, 300)
    s_a = np.clip(y_a * 0.2 + rng.uniform(0, 0.8, 300), 0, 1)
    s_b = np.clip(y_b * 0.5 + rng.uniform(0, 0.5, 300), 0, 1)
    result = two_sample_bootstrap(y_a, s_a, y_b, s_b, "roc_auc", resamples=500)
    assert result.champion == pytest.approx(roc_auc_score(y_a, s_a))
    assert result.challenger == pytest.approx(roc_auc_score(y_b, s_b))
    assert result.low > 0  # the challenger separates the classes clearly better
    again = two_sample_bootstrap(y_a, s_a, y_b, s_b, "roc_auc", resamples=500)
    assert (again.low, again.high) == (result.low, result.high)  # a fixed seed


def test_the_two_sample_bootstrap_refuses_empty_or_mismatched_arms():
    with pytest.raises(ValueError):
        two_sample_bootstrap([], [], [1.0], [1.0], "mae")
    with pytest.raises(ValueError):
        two_sample_bootstrap([1.0, 2.0], [1.0], [1.0], [1.0], "mae")
