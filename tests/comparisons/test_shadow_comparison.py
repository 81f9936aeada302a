"""Shadow logging end to end through the API: a challenger logged with ``shadow_of`` under
the champion's prediction ids, labels sent once, and the paired comparison's verdict."""

from __future__ import annotations

import pytest

from tests.comparisons.conftest import Churn


def test_a_truly_better_challenger_in_shadow_is_judged_better(churn: Churn):
    churn.shadow(600, champion_accuracy=0.70, challenger_accuracy=0.85)
    report = churn.compare(champion="1", challenger="2", mode="shadow")
    assert report["verdict"] == "challenger_better"
    assert report["test"] == "mcnemar_chi2"
    assert report["n"] == report["paired_rows"] == 600
    assert report["minimum_reached"] is True
    assert report["challenger_value"] > report["champion_value"]
    assert report["difference"] == pytest.approx(
        report["challenger_value"] - report["champion_value"]
    )
    assert 0 < report["ci_low"] < report["difference"] < report["ci_high"]
    assert report["p_value"] < 0.05
    assert 0.5 < report["agreement_rate"] < 1
    assert report["traffic"] == {
        "champion": {"served": 600, "shadow": 0},
        "challenger": {"served": 0, "shadow": 600},
    }


def test_equally_good_versions_in_shadow_show_no_difference(churn: Churn):
    churn.shadow(600, champion_accuracy=0.80, challenger_accuracy=0.80, seed=5)
    report = churn.compare(champion="1", challenger="2", mode="shadow")
    assert report["verdict"] == "no_difference", report["reason"]
    assert report["p_value"] >= 0.05
    assert report["ci_low"] < 0 < report["ci_high"]


def test_a_worse_challenger_is_judged_worse(churn: Churn):
    churn.shadow(600, champion_accuracy=0.85, challenger_accuracy=0.70)
    assert churn.compare(champion="1", challenger="2")["verdict"] == "challenger_worse"


def test_too_few_labelled_pairs_give_insufficient_data(churn: Churn):
    churn.shadow(40, champion_accuracy=0.60, challenger_accuracy=0.95)
    report = churn.compare(champion="1", challenger="2", mode="shadow")
    assert report["verdict"] == "insufficient_data"
    assert (report["n"], report["minimum_n"], report["minimum_reached"]) == (40, 100, False)
    assert "40 labelled rows" in report["reason"]
    # a declared minimum the rows reach lets the figures speak
    assert churn.compare(champion="1", challenger="2", minimum=40)["verdict"] != (
        "insufficient_data"
    )


def test_unlabelled_pairs_count_for_agreement_not_for_the_test(churn: Churn):
    import numpy as np

    ids = [f"u{i}" for i in range(50)]
    same = np.ones(50, dtype=int)
    churn.log(1, ids, same, np.full(50, 0.9))
    churn.log(2, ids, same, np.full(50, 0.8), shadow_of=1)
    report = churn.compare(champion="1", challenger="2")
    assert (report["paired_rows"], report["n"], report["agreement_rate"]) == (50, 0, 1.0)
    assert report["verdict"] == "insufficient_data"


@pytest.mark.parametrize("metric", ["f1", "roc_auc"])
def test_f1_and_auc_use_the_paired_bootstrap(churn: Churn, metric: str):
    churn.shadow(500, champion_accuracy=0.65, challenger_accuracy=0.9, seed=11)
    report = churn.compare(champion="1", challenger="2", metric=metric)
    assert report["test"] == "paired_bootstrap"
    assert report["p_value"] is None
    assert report["verdict"] == "challenger_better"
    assert report["ci_low"] > 0


def test_aliases_name_the_versions(churn: Churn):
    churn.shadow(300, champion_accuracy=0.7, challenger_accuracy=0.9)
    for alias, version in (("champion", 1), ("challenger", 2)):
        response = churn.client.put(
            churn.url(f"/aliases/{alias}"), json={"version": version}, headers=churn.headers
        )
        assert response.status_code == 200
    report = churn.compare(champion="champion", challenger="challenger")
    assert (report["champion"], report["challenger"]) == (1, 2)
    assert report["verdict"] == "challenger_better"


def test_the_service_takes_naive_times_as_utc(churn: Churn, db, settings, clock):
    from datetime import datetime

    from assay_server.monitoring.comparisons import compare_versions
    from assay_server.roles import Actor, Role
    from assay_server.wiring import wire

    churn.shadow(150, champion_accuracy=0.7, challenger_accuracy=0.9)
    ctx = wire().context(Actor(name="rollout", role=Role.ADMIN), settings, clock=clock)
    with db.unit_of_work() as session:
        report = compare_versions(
            session,
            ctx,
            "churn",
            1,
            "2",
            start=datetime(2026, 11, 22, 9, 0),
            end=None,
            mode="shadow",
        )
    assert (report.n, report.start.tzinfo is not None) == (150, True)
    assert report.as_json()["verdict"] == report.verdict.value


def test_rows_logged_in_a_shadow_are_not_served_traffic_for_a_rollout(churn: Churn, db):
    from datetime import datetime, timezone

    from assay_server.ingest.figures import served_since
    from assay_server.registry.models import ModelVersion

    churn.shadow(40, champion_accuracy=0.8, challenger_accuracy=0.8)  # v1 served, v2 in shadow
    served = churn.arm(2, 30, 0.8, seed=3)  # and v2 serves rows of its own
    since = datetime(2000, 1, 1, tzinfo=timezone.utc)
    with db.unit_of_work(write=False) as session:
        ids = {v.version: v.id for v in session.query(ModelVersion).all()}
        assert served_since(session, ids[1], since) == 40
        assert served_since(session, ids[2], since) == len(served)
