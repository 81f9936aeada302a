"""Shadow logging and the comparison report through the SDK against a live server: a serving
loop logs the champion's answer and the challenger's in its shadow under one prediction id,
labels arrive once, and ``compare_versions`` reads the verdict."""

from __future__ import annotations

import random

import pytest

import assay


@pytest.fixture
def two_versions(admin_client: assay.Client, churn_model: assay.Model) -> None:
    """``churn`` with versions 1 and 2, and the aliases champion → 1, challenger → 2."""
    for _ in range(2):
        admin_client.register_version("churn", features={"age": "numerical"})
    admin_client.set_alias("churn", "champion", 1)
    admin_client.set_alias("churn", "challenger", 2)


def _serve(client: assay.Client, tmp_path, rows: int, champion_right: float, better: float):
    rng = random.Random(4)
    champion = client.prediction_logger("churn", 1, spool_dir=tmp_path)
    challenger = client.prediction_logger("churn", 2, shadow_of="champion", spool_dir=tmp_path)
    labels = {}
    for i in range(rows):
        truth = rng.randint(0, 1)
        features = {"age": 20 + i % 50}
        answer_a = truth if rng.random() < champion_right else 1 - truth
        answer_b = truth if rng.random() < better else 1 - truth
        prediction_id = champion.log(features, answer_a)
        challenger.log(features, answer_b, prediction_id=prediction_id)
        labels[prediction_id] = truth
    champion.log_labels(labels)
    assert champion.flush(timeout=30) and challenger.flush(timeout=30)
    assert challenger.stats.rejected == 0
    champion.close()
    challenger.close()
    return challenger


def test_a_shadow_logger_posts_with_shadow_of_and_the_report_reads_it(
    client_as, two_versions: None, tmp_path
) -> None:
    contributor = client_as("contributor")
    logger = _serve(contributor, tmp_path, 400, champion_right=0.7, better=0.9)
    assert logger.shadow_of == 1
    assert logger.spool_dir.name == "churn-2-shadow-of-1"

    viewer = client_as("viewer")
    report = viewer.compare_versions("churn", champion="champion", challenger="challenger")
    assert isinstance(report, assay.Comparison)
    assert (report.champion, report.challenger, report.mode) == (1, 2, "shadow")
    assert report.verdict == "challenger_better" and report.decided
    assert report.n == report.paired_rows == 400
    assert report.difference is not None and report.difference > 0
    assert report.sample_size.basis == "default"
    assert report.traffic["challenger"] == assay.Traffic(served=0, shadow=400)
    assert viewer.version_traffic("churn", 1) == assay.Traffic(served=400, shadow=0)

    ab = viewer.compare_versions("churn", champion=1, challenger=2, mode="ab")
    assert ab.verdict == "insufficient_data" and ab.n_challenger == 0 and ab.difference is None


def test_sdk_errors_for_bad_comparisons(client_as, two_versions: None) -> None:
    viewer = client_as("viewer")
    with pytest.raises(assay.ValidationError):
        viewer.compare_versions("churn", champion=1, challenger=1)
    with pytest.raises(assay.NotFound):
        viewer.compare_versions("churn", champion="nobody", challenger=2)
    with pytest.raises(assay.NotFound):
        viewer.prediction_logger("churn", 2, shadow_of="nobody")
    with pytest.raises(assay.ConfigurationError):
        viewer.prediction_logger("churn", 2, shadow_of=2)
